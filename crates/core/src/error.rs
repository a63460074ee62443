//! Errors as values with meaning.
//!
//! Every failure of every backend is an [`Error`] with an [`ErrorKind`] (what went wrong, in terms a program can
//! branch on), a message, the service's own reason string where there is one (`storageQuotaExceeded`,
//! `DiskNotFoundError`, …), and a hint that tells a person what to do next. The CLI maps kinds to exit codes.
//! The retry layer looks only at [`Error::is_temporary`] and [`Error::retry_after`].

use std::fmt;
use std::time::Duration;

/// What kind of failure happened, independent of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The file, folder, session or id does not exist.
    NotFound,
    /// Something already exists where a new thing was to be created.
    AlreadyExists,
    /// The account may not do this to this resource.
    PermissionDenied,
    /// The token lacks an OAuth scope the method needs (granted consent was too narrow).
    ScopeMissing,
    /// The API is not enabled for the OAuth client's cloud project.
    ApiDisabled,
    /// Credentials are missing, expired or revoked: the user must sign in again.
    ReauthRequired,
    /// The service asked us to slow down (429, rate-limit 403).
    RateLimited,
    /// A storage or usage quota is exhausted.
    QuotaExceeded,
    /// The service takes no more uploads for a while (Drive's 750 GB a day per user): retrying now
    /// only spends requests; reads and other remotes still work.
    UploadLimit,
    /// The request was malformed: bad path, bad argument, bad configuration.
    InvalidInput,
    /// The resource is in a state that forbids this (folder not empty, locked, parent missing).
    Conflict,
    /// The backend cannot do this at all.
    Unsupported,
    /// A failure that may go away on retry (5xx, connection reset, timeout).
    Transient,
    /// A local I/O failure.
    Io,
    /// Data arrived but did not check out (hash mismatch, truncated body).
    Corrupt,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// A short stable name, as printed in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::ScopeMissing => "scope_missing",
            ErrorKind::ApiDisabled => "api_disabled",
            ErrorKind::ReauthRequired => "reauth_required",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::QuotaExceeded => "quota_exceeded",
            ErrorKind::UploadLimit => "upload_limit",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Transient => "transient",
            ErrorKind::Io => "io",
            ErrorKind::Corrupt => "corrupt",
            ErrorKind::Other => "other",
        }
    }

    /// The process exit code the CLI uses for this kind (distinct per kind; 1 is left for usage errors).
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Other => 1,
            ErrorKind::InvalidInput => 2,
            ErrorKind::NotFound => 3,
            ErrorKind::AlreadyExists => 4,
            ErrorKind::PermissionDenied => 5,
            ErrorKind::ScopeMissing => 6,
            ErrorKind::ApiDisabled => 7,
            ErrorKind::ReauthRequired => 8,
            ErrorKind::RateLimited => 9,
            ErrorKind::QuotaExceeded => 10,
            ErrorKind::Conflict => 11,
            ErrorKind::Unsupported => 12,
            ErrorKind::Transient => 13,
            ErrorKind::Io => 14,
            ErrorKind::Corrupt => 15,
            ErrorKind::UploadLimit => 16,
        }
    }

    /// Whether a failure of this kind may succeed when tried again unchanged.
    pub fn is_temporary(self) -> bool {
        matches!(self, ErrorKind::RateLimited | ErrorKind::Transient)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure, with its kind, the service's reason and a hint for the user.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    reason: Option<String>,
    hint: Option<String>,
    status: Option<u16>,
    retry_after: Option<Duration>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// The result type of every cloudmux library call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            reason: None,
            hint: None,
            status: None,
            retry_after: None,
            source: None,
        }
    }

    /// Shorthand for [`ErrorKind::NotFound`].
    pub fn not_found(what: impl fmt::Display) -> Self {
        Error::new(ErrorKind::NotFound, format!("not found: {what}"))
    }

    /// Shorthand for [`ErrorKind::InvalidInput`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidInput, message)
    }

    /// Shorthand for [`ErrorKind::Unsupported`] with a hint.
    pub fn unsupported(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::new(ErrorKind::Unsupported, message).with_hint(hint)
    }

    /// Sets the service's own reason code (`notFound`, `DiskNotFoundError`, …).
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Sets the hint: what the user should do about it.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Sets the HTTP status the service answered with.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Sets how long the service asked us to wait before trying again.
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Replaces the message, keeping everything else (used to add context such as a path).
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// Prefixes the message with context (`remote:path: …`).
    pub fn context(mut self, ctx: impl fmt::Display) -> Self {
        self.message = format!("{ctx}: {}", self.message);
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without hint.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The service's own reason code, if it gave one.
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// What the user should do about it.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// The HTTP status, when the failure came from an HTTP answer.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// How long to wait before retrying, when the service said so.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// Whether retrying the same request unchanged may succeed.
    pub fn is_temporary(&self) -> bool {
        self.kind.is_temporary()
    }

    /// A JSON object describing the error, as the CLI prints with `--json` and the server sends.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "kind": self.kind.as_str(),
            "message": self.message,
            "reason": self.reason,
            "hint": self.hint,
            "status": self.status,
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(r) = &self.reason
            && !self.message.contains(r.as_str())
        {
            write!(f, " ({r})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        let kind = match e.kind() {
            K::NotFound => ErrorKind::NotFound,
            K::AlreadyExists => ErrorKind::AlreadyExists,
            K::PermissionDenied => ErrorKind::PermissionDenied,
            K::InvalidInput | K::InvalidFilename => ErrorKind::InvalidInput,
            K::DirectoryNotEmpty | K::NotADirectory | K::IsADirectory => ErrorKind::Conflict,
            K::StorageFull | K::QuotaExceeded => ErrorKind::QuotaExceeded,
            K::ConnectionReset
            | K::ConnectionAborted
            | K::TimedOut
            | K::BrokenPipe
            | K::UnexpectedEof => ErrorKind::Transient,
            _ => ErrorKind::Io,
        };
        let message = e.to_string();
        Error::new(kind, message).with_source(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_distinct() {
        use ErrorKind::*;
        let all = [
            NotFound,
            AlreadyExists,
            PermissionDenied,
            ScopeMissing,
            ApiDisabled,
            ReauthRequired,
            RateLimited,
            QuotaExceeded,
            UploadLimit,
            InvalidInput,
            Conflict,
            Unsupported,
            Transient,
            Io,
            Corrupt,
            Other,
        ];
        let mut codes: Vec<i32> = all.iter().map(|k| k.exit_code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        assert!(!codes.contains(&0));
    }

    #[test]
    fn display_keeps_reason_once() {
        let e =
            Error::new(ErrorKind::QuotaExceeded, "quota full").with_reason("storageQuotaExceeded");
        assert_eq!(e.to_string(), "quota full (storageQuotaExceeded)");
        let e = Error::new(ErrorKind::NotFound, "notFound: x").with_reason("notFound");
        assert_eq!(e.to_string(), "notFound: x");
    }

    #[test]
    fn io_errors_map_to_kinds() {
        let e: Error = std::io::Error::from(std::io::ErrorKind::NotFound).into();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let e: Error = std::io::Error::from(std::io::ErrorKind::ConnectionReset).into();
        assert!(e.is_temporary());
    }
}
