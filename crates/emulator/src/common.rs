//! Small pieces both OAuth servers and the Google APIs share: HTML escaping for the pages they render, and a
//! client's credentials read from a token request.

use std::collections::HashMap;

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Escapes text for HTML.
pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Client id and secret from `Authorization: Basic` (which wins) or the form body.
pub(crate) fn client_credentials(
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> (Option<String>, Option<String>) {
    if let Some(b) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        && let Ok(raw) = STANDARD.decode(b.trim())
        && let Ok(s) = String::from_utf8(raw)
        && let Some((id, secret)) = s.split_once(':')
    {
        let dec = |x: &str| {
            percent_encoding::percent_decode_str(x)
                .decode_utf8_lossy()
                .into_owned()
        };
        return (Some(dec(id)), Some(dec(secret)));
    }
    (
        form.get("client_id").cloned(),
        form.get("client_secret").cloned(),
    )
}
