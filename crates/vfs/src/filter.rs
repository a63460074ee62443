//! Which files take part: `--include` / `--exclude` globs, size bounds, age.

use std::time::Duration;

use chrono::{DateTime, Utc};
use cloudmux_core::{Entry, Error, Result};

/// Filters on files (folders are always walked).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only files matching one of these (when any are given).
    pub include: Vec<String>,
    /// Never files matching one of these.
    pub exclude: Vec<String>,
    /// At least this many bytes.
    pub min_size: Option<u64>,
    /// At most this many bytes.
    pub max_size: Option<u64>,
    /// Modified at most this long ago.
    pub max_age: Option<Duration>,
}

/// Glob matching: `*` any characters but `/`, `**` any characters, `?` one character. A pattern without `/`
/// is matched against the file name, one with `/` against the whole relative path.
pub fn glob_match(pattern: &str, rel_path: &str) -> bool {
    let subject = if pattern.contains('/') {
        rel_path
    } else {
        rel_path.rsplit('/').next().unwrap_or(rel_path)
    };
    fn m(p: &[char], s: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('*') if p.get(1) == Some(&'*') => (0..=s.len()).any(|i| m(&p[2..], &s[i..])),
            Some('*') => (0..=s.len())
                .take_while(|&i| i == 0 || s[i - 1] != '/')
                .any(|i| m(&p[1..], &s[i..])),
            Some('?') => !s.is_empty() && s[0] != '/' && m(&p[1..], &s[1..]),
            Some(c) => s.first() == Some(c) && m(&p[1..], &s[1..]),
        }
    }
    let p: Vec<char> = pattern.trim_start_matches('/').chars().collect();
    let s: Vec<char> = subject.chars().collect();
    m(&p, &s)
}

/// Parses an age such as `90s`, `30m`, `12h`, `7d`, `2w`.
pub fn parse_age(s: &str) -> Result<Duration> {
    let bad =
        || Error::invalid(format!("bad age {s:?}")).with_hint("write it like 30m, 12h, 7d or 2w");
    let (num, unit) = s.trim().split_at(
        s.trim()
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(bad)?,
    );
    let n: u64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 7 * 86400,
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs(n * secs))
}

impl Filter {
    /// Whether a file at `rel` takes part.
    pub fn accepts(&self, rel: &str, e: &Entry, now: DateTime<Utc>) -> bool {
        if !self.include.is_empty() && !self.include.iter().any(|p| glob_match(p, rel)) {
            return false;
        }
        if self.exclude.iter().any(|p| glob_match(p, rel)) {
            return false;
        }
        let size = e.size.unwrap_or(0);
        if self.min_size.is_some_and(|m| size < m) || self.max_size.is_some_and(|m| size > m) {
            return false;
        }
        if let (Some(age), Some(t)) = (self.max_age, e.modified)
            && (now - t).to_std().unwrap_or_default() > age
        {
            return false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*.jpg", "a/b/c.jpg"));
        assert!(!glob_match("*.jpg", "a/b/c.png"));
        assert!(glob_match("a/*.txt", "a/x.txt"));
        assert!(!glob_match("a/*.txt", "a/b/x.txt"));
        assert!(glob_match("a/**.txt", "a/b/x.txt"));
        assert!(glob_match("photo-??.png", "photo-01.png"));
        assert!(glob_match("/top/*", "top/x"));
    }

    #[test]
    fn ages() {
        assert_eq!(parse_age("7d").unwrap(), Duration::from_secs(7 * 86400));
        assert_eq!(parse_age("30m").unwrap(), Duration::from_secs(1800));
        assert!(parse_age("7 days").is_err());
        assert!(parse_age("x").is_err());
    }
}
