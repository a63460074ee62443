//! Addresses users type (`name:path`, `name:id:FILEID`, plain local paths) and path normalisation.
//!
//! Inside a backend every path is relative to the remote's root, `/`-separated, without leading or trailing
//! slash (`""` is the root). [`normalize`] is the one place that turns outside input into that form, and it
//! refuses `..` outright (it never resolves it), so no backend has to think about traversal twice. Each
//! component is a name as [`crate::name`] defines it.

use crate::error::{Error, Result};

/// A parsed address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemotePath {
    /// `name:path/in/remote`.
    Remote {
        /// Remote name from the config.
        remote: String,
        /// Normalised path inside the remote.
        path: String,
    },
    /// `name:id:FILEID`: a file or folder addressed by the service's id.
    Id {
        /// Remote name from the config.
        remote: String,
        /// The service's id.
        id: String,
    },
    /// A plain local path (no remote prefix).
    Local(std::path::PathBuf),
}

/// Whether `name` is a valid remote name: letters, digits, `_`, `-`, `.`; two characters at least (so `C:` is
/// never a remote), not starting with `-` or `.`.
pub fn is_valid_remote_name(name: &str) -> bool {
    name.len() >= 2
        && name.len() <= 64
        && !name.starts_with(['-', '.'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

impl RemotePath {
    /// Parses an address. A string is remote when the part before its first `:` is a valid remote name and
    /// contains no `/`; anything else (`/tmp/x`, `./a:b`, `file.txt`) is a local path.
    pub fn parse(s: &str) -> Result<RemotePath> {
        if let Some((name, rest)) = s.split_once(':')
            && !name.contains('/')
            && is_valid_remote_name(name)
        {
            if let Some(id) = rest.strip_prefix("id:") {
                if id.is_empty() || id.contains('/') {
                    return Err(Error::invalid(format!("bad id address {s:?}"))
                        .with_hint("write it as REMOTE:id:FILEID, for example gdrive:id:1AbC…"));
                }
                return Ok(RemotePath::Id {
                    remote: name.to_string(),
                    id: id.to_string(),
                });
            }
            return Ok(RemotePath::Remote {
                remote: name.to_string(),
                path: normalize(rest)?,
            });
        }
        if s.is_empty() {
            return Err(Error::invalid("empty path").with_hint("give REMOTE:path or a local path"));
        }
        Ok(RemotePath::Local(s.into()))
    }

    /// The remote name, if this is a remote address.
    pub fn remote(&self) -> Option<&str> {
        match self {
            RemotePath::Remote { remote, .. } | RemotePath::Id { remote, .. } => Some(remote),
            RemotePath::Local(_) => None,
        }
    }
}

impl std::fmt::Display for RemotePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RemotePath::Remote { remote, path } => write!(f, "{remote}:{path}"),
            RemotePath::Id { remote, id } => write!(f, "{remote}:id:{id}"),
            RemotePath::Local(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Normalises a path inside a remote: `\` is not a separator (it is a legal name character on the services),
/// empty and `.` components are dropped, and `..` is refused wherever it stands (resolving it would let a
/// name from outside climb; a name that really is `..` on a service is written `．．`, see
/// [`crate::name`]); NUL bytes are refused.
pub fn normalize(p: &str) -> Result<String> {
    if p.contains('\0') {
        return Err(Error::invalid("path contains a NUL byte"));
    }
    let mut out: Vec<&str> = Vec::new();
    for comp in p.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                return Err(Error::invalid(format!("path {p:?} contains `..`"))
                    .with_hint("give the path from the remote's root without `..`"));
            }
            c => out.push(c),
        }
    }
    Ok(out.join("/"))
}

/// Joins a normalised directory path and a name.
pub fn join(dir: &str, name: &str) -> String {
    match (dir.is_empty(), name.is_empty()) {
        (true, _) => name.to_string(),
        (_, true) => dir.to_string(),
        _ => format!("{dir}/{name}"),
    }
}

/// The parent of a normalised path (`""` for top-level names and for the root).
pub fn parent(p: &str) -> &str {
    p.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
}

/// The last component of a normalised path.
pub fn file_name(p: &str) -> &str {
    p.rsplit_once('/').map(|(_, n)| n).unwrap_or(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses() {
        assert_eq!(
            RemotePath::parse("gd:a/b").unwrap(),
            RemotePath::Remote {
                remote: "gd".into(),
                path: "a/b".into()
            }
        );
        assert_eq!(
            RemotePath::parse("gd:").unwrap(),
            RemotePath::Remote {
                remote: "gd".into(),
                path: "".into()
            }
        );
        assert_eq!(
            RemotePath::parse("gd:id:XyZ").unwrap(),
            RemotePath::Id {
                remote: "gd".into(),
                id: "XyZ".into()
            }
        );
        assert_eq!(
            RemotePath::parse("/tmp/a:b").unwrap(),
            RemotePath::Local("/tmp/a:b".into())
        );
        assert_eq!(
            RemotePath::parse("./x:y").unwrap(),
            RemotePath::Local("./x:y".into())
        );
        assert_eq!(
            RemotePath::parse("C:\\x").unwrap(),
            RemotePath::Local("C:\\x".into())
        );
        assert_eq!(
            RemotePath::parse("file.txt").unwrap(),
            RemotePath::Local("file.txt".into())
        );
        assert!(RemotePath::parse("gd:id:").is_err());
        assert!(RemotePath::parse("gd:../x").is_err());
    }

    #[test]
    fn normalizes_and_refuses_traversal() {
        assert_eq!(normalize("").unwrap(), "");
        assert_eq!(normalize("/").unwrap(), "");
        assert_eq!(normalize("a/./b//c/").unwrap(), "a/b/c");
        assert!(
            normalize("a/b/../c").is_err(),
            "`..` is refused, never resolved"
        );
        assert!(normalize("..").is_err());
        assert!(normalize("a/../..").is_err());
        assert!(normalize("a\0b").is_err());
        assert_eq!(normalize("a\\..\\b").unwrap(), "a\\..\\b");
    }

    #[test]
    fn join_parent_name() {
        assert_eq!(join("", "a"), "a");
        assert_eq!(join("a", "b"), "a/b");
        assert_eq!(parent("a/b/c"), "a/b");
        assert_eq!(parent("a"), "");
        assert_eq!(file_name("a/b/c"), "c");
        assert_eq!(file_name("c"), "c");
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn normalised_paths_never_climb(p in "[a./\\\\\\x00 :]{0,24}|\\PC{0,40}") {
            if let Ok(n) = normalize(&p) {
                prop_assert!(!n.starts_with('/') && !n.ends_with('/'));
                for c in n.split('/').filter(|c| !n.is_empty() || !c.is_empty()) {
                    prop_assert!(c != ".." && c != "." && !c.is_empty(), "{:?} -> {:?}", p, n);
                }
            }
        }

        #[test]
        fn addresses_parse_without_panicking(s in "[a-z]{0,3}:?(id:)?[a./:\\x00]{0,12}|\\PC{0,40}") {
            if let Ok(RemotePath::Remote { path, .. }) = RemotePath::parse(&s) {
                prop_assert!(!path.split('/').any(|c| c == ".."));
            }
        }
    }
}
