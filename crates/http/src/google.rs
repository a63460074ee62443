//! The error body every Google API shares (Drive, Photos, …) → [`Error`] with kind and hint: a missing scope
//! is named with the way to re-consent, a disabled API gets its activation URL.
//!
//! `<remote>` in a hint is replaced by the remote's name by the caller that knows it (the CLI).

use crate::redact;
use cloudmux_core::{Error, ErrorKind};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(default)]
struct Body {
    error: Inner,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Inner {
    code: u16,
    message: String,
    errors: Vec<Item>,
    status: String,
    details: Vec<serde_json::Value>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Item {
    reason: String,
    domain: String,
    extended_help: Option<String>,
}

/// The scope named in a `WWW-Authenticate: … scope="…"` header.
fn scope_from_header(h: &HeaderMap) -> Option<String> {
    let v = h.get(reqwest::header::WWW_AUTHENTICATE)?.to_str().ok()?;
    let i = v.find("scope=\"")? + 7;
    let rest = &v[i..];
    Some(rest[..rest.find('"')?].to_string())
}

/// What Drive says when a user's daily upload limit (750 GB) is reached: `userRateLimitExceeded`, told
/// from a request rate refusal only by this message (rclone's drive backend tells them apart the same way,
/// behind a flag, since a rate refusal may carry the same words).
pub const UPLOAD_LIMIT_MESSAGE: &str = "User rate limit exceeded.";

/// What to do about Drive's daily upload limit, for every error that reports it.
pub const UPLOAD_LIMIT_HINT: &str = "uploads to this remote stop until Drive lifts the limit, within 24 \
    hours of the day's first upload; downloads, listings and other remotes go on — run the same command \
    again later to finish";

/// The final error of a request that started an upload or a copy on Drive, after its retries: that
/// answer, still there after every retry, is the daily upload limit ([`ErrorKind::UploadLimit`], which
/// nothing retries). A refusal that is noise or a rate limit does not outlast the retries.
pub fn upload_limit(e: Error) -> Error {
    if e.kind() == ErrorKind::RateLimited
        && e.reason() == Some("userRateLimitExceeded")
        && e.message() == UPLOAD_LIMIT_MESSAGE
    {
        return Error::new(
            ErrorKind::UploadLimit,
            "Drive's daily upload limit is reached (750 GB a day per user, uploads and copies together)",
        )
        .with_reason("userRateLimitExceeded")
        .with_hint(UPLOAD_LIMIT_HINT);
    }
    e
}

/// Maps a Google API error answer (Drive, Photos, …) to an [`Error`].
pub fn parse_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error {
    let Ok(b) = serde_json::from_slice::<Body>(body) else {
        return crate::generic_error(status, headers, body);
    };
    let e = b.error;
    let first = e.errors.first();
    let reason = first.map(|i| i.reason.clone()).filter(|r| !r.is_empty());
    let detail_reason = e
        .details
        .iter()
        .find_map(|d| d["reason"].as_str().map(str::to_string));
    let message = redact(&e.message);
    let code = if e.code != 0 { e.code } else { status.as_u16() };
    let r = reason.as_deref().unwrap_or("");
    let dr = detail_reason.as_deref().unwrap_or("");
    let (kind, hint): (ErrorKind, Option<String>) = if dr == "SERVICE_DISABLED"
        || r == "accessNotConfigured"
    {
        let url = e
            .details
            .iter()
            .find_map(|d| d["metadata"]["activationUrl"].as_str().map(str::to_string))
            .or_else(|| first.and_then(|i| i.extended_help.clone()))
            .or_else(|| {
                message
                    .split_whitespace()
                    .find(|w| w.starts_with("https://console."))
                    .map(str::to_string)
            });
        (
            ErrorKind::ApiDisabled,
            Some(match url {
                Some(u) => format!("enable the API for your OAuth client's project at {u} — it can take a few minutes to take effect"),
                None => "enable the API in the Google Cloud console (APIs & Services → Library); it can take a few minutes to take effect".into(),
            }),
        )
    } else if dr == "ACCESS_TOKEN_SCOPE_INSUFFICIENT" || r == "insufficientPermissions" {
        let scope = scope_from_header(headers);
        let named = scope
            .as_deref()
            .map(|s| format!("the token lacks the scope {s}; "))
            .unwrap_or_default();
        let which = if scope.as_deref().is_some_and(|s| s.contains("photos")) {
            "the Google Photos permission"
        } else {
            "that permission"
        };
        (
            ErrorKind::ScopeMissing,
            Some(format!(
                "{named}run `cloudmux auth login <remote>` again and tick {which} on the consent screen"
            )),
        )
    } else {
        match (code, r) {
            (401, _) => (ErrorKind::ReauthRequired, Some("the access token was refused: run `cloudmux auth login <remote>`".into())),
            (_, "userRateLimitExceeded" | "rateLimitExceeded" | "sharingRateLimitExceeded") | (429, _) => (ErrorKind::RateLimited, None),
            (_, "storageQuotaExceeded" | "quotaExceeded" | "teamDriveFileLimitExceeded") => (
                ErrorKind::QuotaExceeded,
                Some("free space in Drive (empty the trash with `cloudmux gdrive empty-trash <remote>`) or buy more storage".into()),
            ),
            (_, "dailyLimitExceeded" | "downloadQuotaExceeded") => (ErrorKind::QuotaExceeded, Some("a daily limit was reached; try again tomorrow".into())),
            (_, "cannotDownloadAbusiveFile") => (ErrorKind::PermissionDenied, Some("Google flagged this file as malware or spam; only its owner may download it".into())),
            (_, "fileNotDownloadable") => (ErrorKind::Unsupported, Some("Google Docs have no stored bytes: export them (`cloudmux gdrive export`)".into())),
            (_, "duplicate") => (ErrorKind::AlreadyExists, None),
            (404, _) | (_, "notFound") => (ErrorKind::NotFound, None),
            (409, _) => (ErrorKind::Conflict, None),
            (416, _) => (ErrorKind::InvalidInput, None),
            (403, "cannotAddParent" | "cannotRemoveParent" | "invalidParent" | "cannotDeleteDriveWithContents") => (ErrorKind::Conflict, None),
            (403, _) => (ErrorKind::PermissionDenied, None),
            (400, _) => (ErrorKind::InvalidInput, None),
            (500..=599, _) => (ErrorKind::Transient, None),
            _ => (crate::api_kind(status), None),
        }
    };
    let shown = if message.is_empty() {
        format!("HTTP {code} {}", e.status)
    } else {
        message
    };
    let mut err = Error::new(kind, shown);
    if let Some(r) = reason.or(detail_reason) {
        err = err.with_reason(r);
    }
    if let Some(h) = hint {
        err = err.with_hint(h);
    }
    let _ = first.map(|i| &i.domain);
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_the_seed_errors() {
        let mut h = HeaderMap::new();
        h.insert(reqwest::header::WWW_AUTHENTICATE, "Bearer realm=\"x\", error=\"insufficient_scope\", scope=\"https://www.googleapis.com/auth/drive\"".parse().unwrap());
        let body = br#"{"error":{"code":403,"message":"Request had insufficient authentication scopes.","errors":[{"message":"Insufficient Permission","domain":"global","reason":"insufficientPermissions"}],"status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"ACCESS_TOKEN_SCOPE_INSUFFICIENT"}]}}"#;
        let e = parse_error(StatusCode::FORBIDDEN, &h, body);
        assert_eq!(e.kind(), ErrorKind::ScopeMissing);
        assert!(
            e.hint()
                .unwrap()
                .contains("https://www.googleapis.com/auth/drive")
        );
        let body = br#"{"error":{"code":403,"message":"Google Drive API has not been used in project 42 before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/drive.googleapis.com/overview?project=42 then retry.","errors":[{"domain":"usageLimits","reason":"accessNotConfigured","extendedHelp":"https://console.developers.google.com/apis/api/drive.googleapis.com/overview?project=42"}],"status":"PERMISSION_DENIED"}}"#;
        let e = parse_error(StatusCode::FORBIDDEN, &HeaderMap::new(), body);
        assert_eq!(e.kind(), ErrorKind::ApiDisabled);
        assert!(e.hint().unwrap().contains("project=42"));
        assert!(e.hint().unwrap().contains("few minutes"));
    }

    #[test]
    fn rate_limits_are_temporary_and_quota_is_not() {
        let b = br#"{"error":{"code":403,"message":"User rate limit exceeded.","errors":[{"domain":"usageLimits","reason":"userRateLimitExceeded"}]}}"#;
        assert!(parse_error(StatusCode::FORBIDDEN, &HeaderMap::new(), b).is_temporary());
        // The same answer to an upload, after its retries, is the daily upload limit: not retried again.
        let up = upload_limit(parse_error(StatusCode::FORBIDDEN, &HeaderMap::new(), b));
        assert_eq!(up.kind(), ErrorKind::UploadLimit);
        assert!(!up.is_temporary());
        // A request rate refusal to an upload stays a rate refusal.
        let rate = br#"{"error":{"code":403,"message":"User Rate Limit Exceeded. Rate of requests for user exceed configured project quota.","errors":[{"domain":"usageLimits","reason":"userRateLimitExceeded"}]}}"#;
        assert!(
            upload_limit(parse_error(StatusCode::FORBIDDEN, &HeaderMap::new(), rate))
                .is_temporary()
        );
        let b = br#"{"error":{"code":403,"message":"The user's Drive storage quota has been exceeded.","errors":[{"domain":"usageLimits","reason":"storageQuotaExceeded"}]}}"#;
        let e = parse_error(StatusCode::FORBIDDEN, &HeaderMap::new(), b);
        assert_eq!(e.kind(), ErrorKind::QuotaExceeded);
        assert!(!e.is_temporary());
        assert_eq!(parse_error(StatusCode::SERVICE_UNAVAILABLE, &HeaderMap::new(), br#"{"error":{"code":503,"message":"Backend Error","errors":[{"reason":"backendError"}]}}"#).kind(), ErrorKind::Transient);
    }
}
