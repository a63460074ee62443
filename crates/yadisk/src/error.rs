//! Yandex's `{message, description, error}` body and status → [`Error`] with kind and hint.

use cloudmux_core::{Error, ErrorKind};
use cloudmux_http::redact;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(default)]
struct Body {
    message: String,
    description: String,
    error: String,
}

/// Maps a Yandex Disk error answer.
pub fn parse_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Error {
    let Ok(b) = serde_json::from_slice::<Body>(body) else {
        return cloudmux_http::generic_error(status, headers, body);
    };
    if b.error.is_empty() {
        return cloudmux_http::generic_error(status, headers, body);
    }
    let text = redact(if b.description.is_empty() {
        &b.message
    } else {
        &b.description
    });
    let (kind, hint): (ErrorKind, Option<&str>) = match (status.as_u16(), b.error.as_str()) {
        (_, "DiskNotFoundError") | (404, _) => (ErrorKind::NotFound, None),
        (_, "DiskPathDoesntExistsError") => (
            ErrorKind::NotFound,
            Some("the parent folder does not exist: create it first (mkdir)"),
        ),
        (_, "DiskResourceAlreadyExistsError" | "DiskPathPointsToExistentDirectoryError") => {
            (ErrorKind::AlreadyExists, None)
        }
        (_, "MD5DifferError") => (
            ErrorKind::Conflict,
            Some("the file changed on Yandex Disk meanwhile"),
        ),
        (_, "DiskResourceLockedError") | (423, "") => (
            ErrorKind::Transient,
            Some("another operation holds the resource; cloudmux retries"),
        ),
        (_, "DiskUploadTrafficLimitExceeded") => (
            ErrorKind::QuotaExceeded,
            Some("the upload traffic limit is reached; try again later"),
        ),
        (_, "DiskResourceDownloadLimitExceededError") => (
            ErrorKind::RateLimited,
            Some("the public link's download limit is reached; try later or save it to your disk"),
        ),
        (_, "DiskSymlinkPasswordRequiredError") => (
            ErrorKind::PermissionDenied,
            Some("this public link is protected by a password"),
        ),
        (401, _) | (_, "UnauthorizedError") => (
            ErrorKind::ReauthRequired,
            Some("the token was refused: run `cloudmux auth login <remote>`"),
        ),
        (403, _) => (
            ErrorKind::PermissionDenied,
            Some(
                "the token's permissions do not allow this; sign in again granting Yandex Disk read and write access",
            ),
        ),
        (429, _) => (ErrorKind::RateLimited, None),
        (507, _) => (
            ErrorKind::QuotaExceeded,
            Some(
                "Yandex Disk is full: empty the trash (`cloudmux yadisk trash empty <remote>`) or free space",
            ),
        ),
        (413, _) => (
            ErrorKind::InvalidInput,
            Some("the file is larger than Yandex Disk accepts for this account"),
        ),
        (409, _) => (ErrorKind::Conflict, None),
        (400, _) => (ErrorKind::InvalidInput, None),
        (500..=599, _) => (ErrorKind::Transient, None),
        _ => (cloudmux_http::api_kind(status), None),
    };
    let mut e = Error::new(kind, text).with_reason(b.error);
    if let Some(h) = hint {
        e = e.with_hint(h);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_codes() {
        let e = |s: u16, code: &str| {
            parse_error(
                StatusCode::from_u16(s).unwrap(),
                &HeaderMap::new(),
                format!(r#"{{"message":"m","description":"d","error":"{code}"}}"#).as_bytes(),
            )
        };
        assert_eq!(e(404, "DiskNotFoundError").kind(), ErrorKind::NotFound);
        assert_eq!(
            e(409, "DiskPathDoesntExistsError").kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            e(409, "DiskResourceAlreadyExistsError").kind(),
            ErrorKind::AlreadyExists
        );
        assert_eq!(
            e(507, "InsufficientStorageError").kind(),
            ErrorKind::QuotaExceeded
        );
        assert!(e(423, "DiskResourceLockedError").is_temporary());
        assert!(e(429, "TooManyRequestsError").is_temporary());
        assert_eq!(
            e(401, "UnauthorizedError").kind(),
            ErrorKind::ReauthRequired
        );
        assert_eq!(
            e(409, "DiskResourceAlreadyExistsError").reason(),
            Some("DiskResourceAlreadyExistsError")
        );
    }
}
