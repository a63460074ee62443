//! The headers every file body the server sends carries, whichever door it leaves by (WebDAV GET and HEAD,
//! API downloads, download tickets, thumbnails).
//!
//! Files are other people's bytes served from the app's own origin: an uploaded `evil.html` opened inline
//! would run with the page's rights. So every body is sent with `Content-Security-Policy: default-src
//! 'none'; sandbox` (no script, no same-origin rights even if a browser renders it) and
//! `X-Content-Type-Options: nosniff`, and as an attachment unless its type is on a short list of inert
//! types a browser shows without running anything: raster images (not SVG), audio, video, PDF (inside the
//! sandbox), and text, which is always sent as `text/plain`.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The policy sent with every file body.
pub const SANDBOX: &str = "default-src 'none'; sandbox; frame-ancestors 'self'";

/// The type a file may be shown inline as, if it is inert: the same type, or `text/plain` for text.
pub fn inert_type(mime: &str) -> Option<String> {
    let m = mime
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let (top, sub) = m.split_once('/')?;
    let risky = ["html", "xml", "svg", "xhtml"];
    match top {
        "image" if matches!(sub, "png" | "jpeg" | "gif" | "webp" | "avif" | "bmp") => Some(m),
        "audio" | "video" if !risky.iter().any(|r| sub.contains(r)) => Some(m),
        "application" if sub == "pdf" => Some(m),
        "text" if !risky.iter().any(|r| sub.contains(r)) => {
            Some("text/plain; charset=utf-8".to_string())
        }
        _ => None,
    }
}

/// `attachment` with the name in both the plain and the RFC 6266 extended form; nothing of the name can
/// break out of the header.
pub fn attachment(name: &str) -> HeaderValue {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
    HeaderValue::from_str(&format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// Sets the type, disposition and safety headers of a file body: shown inline only when `inline` is
/// asked and the type is inert.
pub fn set_headers(h: &mut HeaderMap, name: &str, mime: &str, inline: bool) {
    let shown = if inline { inert_type(mime) } else { None };
    match shown {
        Some(t) => {
            if let Ok(v) = HeaderValue::from_str(&t) {
                h.insert(header::CONTENT_TYPE, v);
            }
            h.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("inline"),
            );
            // Shown inline, a file may be framed by the page itself (its PDF preview), by nothing else.
            h.insert(
                header::X_FRAME_OPTIONS,
                HeaderValue::from_static("SAMEORIGIN"),
            );
        }
        None => {
            let t = HeaderValue::from_str(mime)
                .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
            h.insert(header::CONTENT_TYPE, t);
            h.insert(header::CONTENT_DISPOSITION, attachment(name));
        }
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(SANDBOX),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

/// A `302 Found` to `link` (a download link of the service, checked by
/// [`crate::house::tree::Tree::direct_link`]); it is never cached, as the link expires.
pub fn redirect(link: &str) -> Response {
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(link) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_inert_types_are_shown_inline() {
        for t in [
            "image/png",
            "image/jpeg",
            "video/mp4",
            "audio/mpeg",
            "application/pdf",
        ] {
            assert_eq!(inert_type(t).as_deref(), Some(t));
        }
        for t in [
            "text/markdown",
            "text/x-rust",
            "text/plain; charset=latin1",
            "text/css",
        ] {
            assert_eq!(
                inert_type(t).as_deref(),
                Some("text/plain; charset=utf-8"),
                "{t}"
            );
        }
        for t in [
            "text/html",
            "application/xhtml+xml",
            "image/svg+xml",
            "text/xml",
            "application/javascript",
            "application/octet-stream",
            "",
            "nonsense",
        ] {
            assert_eq!(inert_type(t), None, "{t}");
        }
    }

    #[test]
    fn html_is_an_attachment_in_a_sandbox() {
        let mut h = HeaderMap::new();
        set_headers(&mut h, "evil.html", "text/html", true);
        assert!(
            h[header::CONTENT_DISPOSITION]
                .to_str()
                .unwrap()
                .starts_with("attachment")
        );
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], SANDBOX);
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let mut h = HeaderMap::new();
        set_headers(&mut h, "notes.md", "text/markdown", true);
        assert_eq!(h[header::CONTENT_TYPE], "text/plain; charset=utf-8");
        assert_eq!(h[header::CONTENT_DISPOSITION], "inline");
    }

    #[test]
    fn dispositions_are_safe() {
        let v = attachment("a\"b\r\n<é>.txt");
        let s = v.to_str().unwrap();
        assert!(!s.contains('\r') && !s.contains('\n'));
        assert!(s.contains("filename*=UTF-8''a%22b%0D%0A%3C%C3%A9%3E%2Etxt"));
    }
}
