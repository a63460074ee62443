//! What a name may be, and the reversible encoding that makes any name a service returns safe to join into
//! a path.
//!
//! Services allow names that a path cannot hold: Drive and Photos take `/`, `..`, `.` and control
//! characters in names, and a collaborator can create a folder called `../bob`. Joined into a path unchecked,
//! such a name climbs out of the folder it lives in. The rule here is the one every layer uses: a name
//! [`is_valid`] when it is not empty, not `.` or `..`, and holds no `/` and no NUL. Backends pass every name
//! they receive through [`encode`] (rclone-style: `/` becomes `／`, NUL becomes `␀`, a name `..` becomes
//! `．．`; a character that already is one of those replacements is quoted with `‛`), and every path
//! component they send through [`decode`], so the
//! mapping is reversible: listing, stat, copy and sync all see the same safe names, and writing a safe name
//! creates the original one.
//!
//! ```
//! use cloudmux_core::name::{decode, encode, is_valid};
//! assert_eq!(encode("../bob").unwrap(), "..／bob");
//! assert_eq!(encode("..").unwrap(), "．．");
//! assert_eq!(decode("．．"), "..");
//! assert!(is_valid(&encode("a/b\0c").unwrap()));
//! assert_eq!(decode(&encode("a／b").unwrap()), "a／b");
//! assert!(!is_valid("..") && !is_valid("a/b") && !is_valid(""));
//! ```

use std::borrow::Cow;

use crate::error::{Error, Result};

/// The quote put before a character that would otherwise decode as a replacement.
const QUOTE: char = '‛';
/// Replaces `/`.
const SLASH: char = '／';
/// Replaces NUL.
const NUL: char = '␀';
/// Replaces each `.` of a name that is `.` or `..`.
const DOT: char = '．';

/// Whether `name` may be joined into a path: not empty, not `.` or `..`, no `/`, no NUL.
pub fn is_valid(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}

/// [`is_valid`] as an error that says what to do.
pub fn check(name: &str) -> Result<()> {
    if is_valid(name) {
        Ok(())
    } else {
        Err(
            Error::invalid(format!("{name:?} is not a name a path can hold"))
                .with_hint("names may not be empty, `.` or `..`, nor contain `/` or NUL"),
        )
    }
}

/// The safe form of a name a service returned; `None` for an empty name (which no path can address:
/// backends skip it with a warning). Names that need no change are borrowed.
pub fn encode(raw: &str) -> Option<Cow<'_, str>> {
    if raw.is_empty() {
        return None;
    }
    if raw == "." || raw == ".." {
        return Some(Cow::Owned(DOT.to_string().repeat(raw.len())));
    }
    let dotted = raw.chars().all(|c| c == DOT) && raw.chars().count() <= 2;
    let plain = !dotted && !raw.contains(['/', '\0', QUOTE, SLASH, NUL]);
    if plain {
        return Some(Cow::Borrowed(raw));
    }
    let mut out = String::with_capacity(raw.len() + 8);
    for c in raw.chars() {
        match c {
            '/' => out.push(SLASH),
            '\0' => out.push(NUL),
            QUOTE | SLASH | NUL => {
                out.push(QUOTE);
                out.push(c);
            }
            DOT if dotted => {
                out.push(QUOTE);
                out.push(c);
            }
            c => out.push(c),
        }
    }
    Some(Cow::Owned(out))
}

/// The service's name for a safe name (the inverse of [`encode`]). The result may be anything a service
/// allows, `..` and `a/b` included: it is for the service's API, never for a path.
pub fn decode(safe: &str) -> Cow<'_, str> {
    if safe.chars().all(|c| c == DOT) && matches!(safe.chars().count(), 1 | 2) {
        return Cow::Owned(".".repeat(safe.chars().count()));
    }
    if !safe.contains([QUOTE, SLASH, NUL]) {
        return Cow::Borrowed(safe);
    }
    let mut out = String::with_capacity(safe.len());
    let mut chars = safe.chars();
    while let Some(c) = chars.next() {
        match c {
            QUOTE => match chars.next() {
                Some(q) => out.push(q),
                None => out.push(QUOTE),
            },
            SLASH => out.push('/'),
            NUL => out.push('\0'),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Decodes every component of a normalised path for a service whose names cannot hold `/` (a file system,
/// Yandex Disk): a component whose original would be `.`, `..` or hold `/` or NUL cannot exist there and
/// is refused rather than sent.
pub fn decode_path(path: &str) -> Result<String> {
    let mut out = String::with_capacity(path.len());
    for (i, seg) in path.split('/').filter(|s| !s.is_empty()).enumerate() {
        let raw = decode(seg);
        if !is_valid(&raw) {
            return Err(Error::invalid(format!(
                "{seg:?} names {raw:?}, which this remote cannot hold"
            ))
            .with_hint("choose another name"));
        }
        if i > 0 {
            out.push('/');
        }
        out.push_str(&raw);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &[&str] = &[
        "..",
        ".",
        "a/b",
        "../x",
        "x\0y",
        "/",
        "//",
        "a\\b",
        "tab\there",
        "del\u{7f}",
        "．．",
        "．",
        "a／b",
        "‛",
        "‛／",
        "␀",
        "...",
        "．.",
        "plain name.txt",
        "ünïcödé 日本",
    ];

    #[test]
    fn every_name_encodes_to_a_valid_one_and_back() {
        for raw in HOSTILE {
            let safe = encode(raw).unwrap();
            assert!(is_valid(&safe), "{raw:?} -> {safe:?}");
            assert_eq!(decode(&safe), *raw, "round trip of {raw:?} via {safe:?}");
        }
        assert!(encode("").is_none());
    }

    #[test]
    fn encodings_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for raw in HOSTILE {
            assert!(seen.insert(encode(raw).unwrap().into_owned()), "{raw:?}");
        }
    }

    #[test]
    fn plain_names_are_untouched() {
        assert!(matches!(encode("report.pdf"), Some(Cow::Borrowed(_))));
        assert!(matches!(decode("report.pdf"), Cow::Borrowed(_)));
        assert_eq!(encode("...").unwrap(), "...");
    }

    #[test]
    fn decoded_paths_refuse_what_a_path_cannot_hold() {
        assert_eq!(decode_path("a/b").unwrap(), "a/b");
        assert_eq!(decode_path("a\\b/c\td").unwrap(), "a\\b/c\td");
        for bad in ["．．", "a/．", "x／y", "␀"] {
            assert!(decode_path(bad).is_err(), "{bad:?}");
        }
        assert_eq!(decode_path("a‛／b").unwrap(), "a／b");
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn any_name_round_trips_through_a_valid_one(raw in "\\PC*|[./\\x00‛／．␀]{0,6}") {
            match encode(&raw) {
                None => prop_assert!(raw.is_empty()),
                Some(safe) => {
                    prop_assert!(is_valid(&safe), "{:?} -> {:?}", raw, safe);
                    prop_assert_eq!(decode(&safe), raw.as_str());
                }
            }
        }

        #[test]
        fn decoding_anything_never_panics(s in "\\PC*|[./\\x00‛／．␀a]{0,8}") {
            let _ = decode(&s);
            if let Ok(p) = decode_path(&s) {
                prop_assert!(!p.split('/').any(|c| c == ".." || c == "."));
            }
        }
    }
}
