//! Google's JSON error bodies, as Drive and the other Google APIs send them.
//!
//! Shape: `{"error":{"code":N,"message":"…","errors":[{"domain","reason","message",["location","locationType"]}],
//! "status":"PERMISSION_DENIED", ["details":[ErrorInfo…]]}}` (see specs/README.md §1.9).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A Google API error, ready to send.
#[derive(Debug, Clone)]
pub struct GError {
    /// HTTP status.
    pub status: StatusCode,
    /// `errors[0].domain`.
    pub domain: &'static str,
    /// `errors[0].reason`.
    pub reason: String,
    /// Message.
    pub message: String,
    /// `errors[0].location` and `locationType`.
    pub location: Option<(String, &'static str)>,
    /// `details` entries.
    pub details: Vec<Value>,
    /// Extra headers.
    pub headers: Vec<(header::HeaderName, String)>,
    /// `extendedHelp` (API disabled).
    pub extended_help: Option<String>,
    /// `status` text when not derived from the HTTP status.
    pub status_text: Option<&'static str>,
}

fn status_name(s: StatusCode) -> &'static str {
    match s.as_u16() {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ALREADY_EXISTS",
        412 => "FAILED_PRECONDITION",
        416 => "OUT_OF_RANGE",
        429 => "RESOURCE_EXHAUSTED",
        500 => "INTERNAL",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        _ => "UNKNOWN",
    }
}

impl GError {
    /// A general error.
    pub fn new(
        status: StatusCode,
        domain: &'static str,
        reason: &str,
        message: impl Into<String>,
    ) -> Self {
        GError {
            status,
            domain,
            reason: reason.to_string(),
            message: message.into(),
            location: None,
            details: Vec::new(),
            headers: Vec::new(),
            extended_help: None,
            status_text: None,
        }
    }

    /// 400 badRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        GError::new(StatusCode::BAD_REQUEST, "global", "badRequest", message)
    }

    /// 400 invalid parameter.
    pub fn invalid_param(name: &str, message: impl Into<String>) -> Self {
        GError::new(
            StatusCode::BAD_REQUEST,
            "global",
            "invalidParameter",
            message,
        )
        .at(name, "parameter")
    }

    /// 400 required parameter missing.
    pub fn required(name: &str) -> Self {
        GError::new(
            StatusCode::BAD_REQUEST,
            "global",
            "required",
            format!("Required parameter: {name}"),
        )
        .at(name, "parameter")
    }

    /// 404 notFound for a file id.
    pub fn file_not_found(id: &str) -> Self {
        GError::new(
            StatusCode::NOT_FOUND,
            "global",
            "notFound",
            format!("File not found: {id}."),
        )
        .at("fileId", "parameter")
    }

    /// 404 for another kind of resource.
    pub fn not_found(what: &str, id: &str) -> Self {
        GError::new(
            StatusCode::NOT_FOUND,
            "global",
            "notFound",
            format!("{what} not found: {id}."),
        )
    }

    /// 403 with a reason.
    pub fn forbidden(domain: &'static str, reason: &str, message: impl Into<String>) -> Self {
        GError::new(StatusCode::FORBIDDEN, domain, reason, message)
    }

    /// 401 authError (bad or expired token).
    pub fn auth_error() -> Self {
        let mut e = GError::new(StatusCode::UNAUTHORIZED, "global", "authError", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.")
            .at("Authorization", "header");
        e.details.push(json!({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "ACCESS_TOKEN_TYPE_UNSUPPORTED", "domain": "googleapis.com"}));
        e.headers.push((
            header::WWW_AUTHENTICATE,
            "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"".into(),
        ));
        e
    }

    /// 401 required (no credentials).
    pub fn login_required(service: &str) -> Self {
        let mut e = GError::new(StatusCode::UNAUTHORIZED, "global", "required", "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.")
            .at("Authorization", "header");
        e.details.push(json!({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "CREDENTIALS_MISSING", "domain": "googleapis.com", "metadata": {"service": service}}));
        e
    }

    /// 403 ACCESS_TOKEN_SCOPE_INSUFFICIENT.
    pub fn insufficient_scope(service: &str, method: &str, needed: &[&str]) -> Self {
        let mut e = GError::new(
            StatusCode::FORBIDDEN,
            "global",
            "insufficientPermissions",
            "Request had insufficient authentication scopes.",
        );
        e.details.push(json!({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT", "domain": "googleapis.com", "metadata": {"service": service, "method": method}}));
        e.headers.push((
            header::WWW_AUTHENTICATE,
            format!("Bearer realm=\"https://accounts.google.com/\", error=\"insufficient_scope\", scope=\"{}\"", needed.join(" ")),
        ));
        e
    }

    /// 403 SERVICE_DISABLED: the API is not enabled in the client's project.
    pub fn service_disabled(service: &str, title: &str, project: &str) -> Self {
        let url = format!(
            "https://console.developers.google.com/apis/api/{service}/overview?project={project}"
        );
        let msg = format!(
            "{title} has not been used in project {project} before or it is disabled. Enable it by visiting {url} then retry. If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry."
        );
        let mut e = GError::new(
            StatusCode::FORBIDDEN,
            "usageLimits",
            "accessNotConfigured",
            msg,
        );
        e.extended_help = Some(url.clone());
        e.details.push(json!({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SERVICE_DISABLED", "domain": "googleapis.com",
            "metadata": {"service": service, "consumer": format!("projects/{project}"), "activationUrl": url, "serviceTitle": title, "containerInfo": project}}));
        e.details.push(json!({"@type": "type.googleapis.com/google.rpc.Help", "links": [{"description": format!("Google developers console API activation"), "url": url}]}));
        e
    }

    /// Overrides the `status` text (e.g. FAILED_PRECONDITION, which has no status code of its own).
    pub fn with_status_text(mut self, status: &'static str) -> Self {
        self.status_text = Some(status);
        self
    }

    /// Sets `location`/`locationType`.
    pub fn at(mut self, location: &str, kind: &'static str) -> Self {
        self.location = Some((location.to_string(), kind));
        self
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut item =
            json!({"domain": self.domain, "reason": self.reason, "message": self.message});
        if let Some((loc, kind)) = &self.location {
            item["location"] = json!(loc);
            item["locationType"] = json!(kind);
        }
        if let Some(h) = &self.extended_help {
            item["extendedHelp"] = json!(h);
        }
        let mut err = json!({"code": self.status.as_u16(), "message": self.message, "errors": [item], "status": self.status_text.unwrap_or_else(|| status_name(self.status))});
        if !self.details.is_empty() {
            err["details"] = json!(self.details);
        }
        json!({"error": err})
    }
}

impl IntoResponse for GError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(self.body())).into_response();
        for (k, v) in &self.headers {
            if let Ok(v) = HeaderValue::from_str(v) {
                r.headers_mut().insert(k.clone(), v);
            }
        }
        r
    }
}

/// A result whose error is a Google error body.
pub type GResult<T> = Result<T, GError>;
