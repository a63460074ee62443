//! Keeping secrets out of logs and errors.

use std::fmt;

/// A secret string (token, client secret, code). `Debug` and `Display` print `***`; use [`Secret::expose`] to
/// read it where it must be sent.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself, for the one place it must be sent.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

const KEYS: &[&str] = &[
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "code",
    "code_verifier",
    "device_code",
    "assertion",
    "token",
    "upload_id",
    "private_key",
];

/// Returns `s` with secrets replaced by `***`: values of query/form parameters and JSON fields named like
/// tokens, codes and secrets, and the credential after `Bearer ` / `OAuth ` / `Basic `.
pub fn redact(s: &str) -> String {
    let mut out = s.to_string();
    for scheme in ["Bearer ", "OAuth ", "Basic ", "bearer "] {
        out = mask_after(&out, scheme, |c| {
            c.is_whitespace() || c == '"' || c == '\'' || c == ','
        });
    }
    for key in KEYS {
        // query / form: key=VALUE
        out = mask_param(&out, &format!("{key}="), |c| {
            c == '&' || c == ' ' || c == '"' || c == '\'' || c == '\n'
        });
        // JSON: "key":"VALUE" or "key": "VALUE"
        for pat in [format!("\"{key}\":\""), format!("\"{key}\": \"")] {
            out = mask_after(&out, &pat, |c| c == '"');
        }
    }
    out
}

fn mask_after(s: &str, marker: &str, end: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(marker) {
        out.push_str(&rest[..i + marker.len()]);
        rest = &rest[i + marker.len()..];
        let stop = rest.find(&end).unwrap_or(rest.len());
        if stop > 0 {
            out.push_str("***");
        }
        rest = &rest[stop..];
    }
    out.push_str(rest);
    out
}

/// Like [`mask_after`] but only where the key starts a parameter (after `?`, `&`, start or whitespace), so
/// `error_code=` is not taken for `code=`.
fn mask_param(s: &str, marker: &str, end: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(marker) {
        let starts = i == 0
            || matches!(
                rest[..i].chars().last(),
                Some('?' | '&' | ' ' | '\n' | '"' | '\'')
            );
        out.push_str(&rest[..i + marker.len()]);
        rest = &rest[i + marker.len()..];
        if starts {
            let stop = rest.find(&end).unwrap_or(rest.len());
            if stop > 0 {
                out.push_str("***");
            }
            rest = &rest[stop..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_everything_secret() {
        let s = "POST /token?code=4/abc&client_secret=shh&state=ok Authorization: Bearer ya29.xyz, \
                 {\"access_token\":\"ya29.t\",\"refresh_token\": \"1//r\",\"expires_in\":3599} OAuth y0_AAA";
        let r = redact(s);
        for secret in ["4/abc", "shh", "ya29.xyz", "ya29.t", "1//r", "y0_AAA"] {
            assert!(!r.contains(secret), "{secret} leaked in {r}");
        }
        assert!(r.contains("state=ok"));
        assert!(r.contains("\"expires_in\":3599"));
    }

    #[test]
    fn does_not_eat_similar_keys() {
        assert_eq!(redact("error_code=5&x=1"), "error_code=5&x=1");
    }

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** Secret(***)");
        assert_eq!(s.expose(), "hunter2");
    }
}
