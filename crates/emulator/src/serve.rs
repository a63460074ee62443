//! Serving stored bytes over HTTP with Range support, shared by every emulated download endpoint.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;

use crate::State as Emu;

/// A `Range` that cannot be served (416).
#[derive(Debug)]
pub struct Unsatisfiable;

/// Parses a `Range` header against a size: `Ok(None)` for no range, `Err` when unsatisfiable.
pub fn parse_range(h: &HeaderMap, size: u64) -> Result<Option<(u64, u64)>, Unsatisfiable> {
    let Some(v) = h.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    let first = spec.split(',').next().unwrap_or("").trim();
    let (a, b) = first.split_once('-').ok_or(Unsatisfiable)?;
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| Unsatisfiable)?;
        if n == 0 {
            return Err(Unsatisfiable);
        }
        (size.saturating_sub(n), size.saturating_sub(1))
    } else {
        let s: u64 = a.parse().map_err(|_| Unsatisfiable)?;
        let e: u64 = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            b.parse::<u64>()
                .map_err(|_| Unsatisfiable)?
                .min(size.saturating_sub(1))
        };
        (s, e)
    };
    if start >= size || start > end {
        return Err(Unsatisfiable);
    }
    Ok(Some((start, end)))
}

/// Streams blob `key` (`size` bytes) honouring `Range`: 200, 206 with `Content-Range`, or 416. With `md5`, adds
/// Google's `x-goog-hash` header.
pub async fn blob_response(
    emu: &Emu,
    key: &str,
    size: u64,
    mime: &str,
    md5: Option<&str>,
    headers: &HeaderMap,
) -> Response {
    let range = match parse_range(headers, size) {
        Ok(r) => r,
        Err(Unsatisfiable) => {
            let mut r = (
                StatusCode::RANGE_NOT_SATISFIABLE,
                "Request range not satisfiable",
            )
                .into_response();
            if md5.is_some() {
                r = crate::google::error::GError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "global",
                    "requestedRangeNotSatisfiable",
                    "Request range not satisfiable",
                )
                .into_response();
            }
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                format!("bytes */{size}").parse().unwrap(),
            );
            return r;
        }
    };
    let (start, end_incl, status) = match range {
        Some((s, e)) => (s, e, StatusCode::PARTIAL_CONTENT),
        None => (0, size.saturating_sub(1), StatusCode::OK),
    };
    let len = if size == 0 { 0 } else { end_incl - start + 1 };
    let stream = match emu.blobs.read_range(key, start, len).await {
        Ok(s) => s,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, format!("blob: {e}")).into_response(),
    };
    let served = emu.served_bytes.clone();
    let stream = futures_util::StreamExt::inspect(stream, move |c| {
        if let Ok(b) = c {
            served.fetch_add(b.len() as u64, std::sync::atomic::Ordering::Relaxed);
        }
    });
    let mut resp = Response::new(Body::from_stream(stream));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_LENGTH, len.into());
    h.insert(
        header::CONTENT_TYPE,
        mime.parse()
            .unwrap_or(header::HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(
        header::ACCEPT_RANGES,
        header::HeaderValue::from_static("bytes"),
    );
    if let Some(m) = md5
        && let Ok(raw) = hex::decode(m)
        && let Ok(v) = format!(
            "md5={}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
        .parse()
    {
        h.insert("x-goog-hash", v);
    }
    if status == StatusCode::PARTIAL_CONTENT {
        h.insert(
            header::CONTENT_RANGE,
            format!("bytes {start}-{end_incl}/{size}").parse().unwrap(),
        );
    }
    resp
}
