//! Host routing: `/H/path` and `Host: H` both reach host H's routes, and handlers learn which base to use
//! for URLs they hand out.

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;

/// Marker put on requests that arrived over TLS.
#[derive(Debug, Clone, Copy)]
pub struct Tls;

/// How the request reached us, to build URLs that reach us the same way.
#[derive(Debug, Clone)]
pub struct Base {
    scheme: &'static str,
    authority: String,
    prefixed: bool,
}

impl Base {
    /// `scheme://authority` of the listener as the client addressed it.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.authority)
    }

    /// The URL of `path_and_query` on emulated `host`, in the same mode the request came in.
    pub fn url(&self, host: &str, path_and_query: &str) -> String {
        if self.prefixed {
            format!(
                "{}://{}/{host}{path_and_query}",
                self.scheme, self.authority
            )
        } else {
            format!("{}://{host}{path_and_query}", self.scheme)
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Base {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<Base>().cloned().unwrap_or(Base {
            scheme: "http",
            authority: "127.0.0.1".into(),
            prefixed: true,
        }))
    }
}

/// Rewrites `Host: H` requests to `/H/...` and records the [`Base`].
pub async fn route_by_host(mut req: Request, next: Next) -> Response {
    let scheme = if req.extensions().get::<Tls>().is_some() {
        "https"
    } else {
        "http"
    };
    let authority = req
        .headers()
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "127.0.0.1".into());
    let host_only = authority
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(&authority)
        .to_ascii_lowercase();
    let path = req.uri().path();
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let prefixed = crate::is_known_host(first);
    if !prefixed && crate::is_known_host(&host_only) {
        let pq = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        if let Ok(uri) = format!("/{host_only}{pq}").parse() {
            *req.uri_mut() = uri;
        }
        req.extensions_mut().insert(Base {
            scheme,
            authority: host_only,
            prefixed: false,
        });
    } else {
        req.extensions_mut().insert(Base {
            scheme,
            authority,
            prefixed: true,
        });
    }
    next.run(req).await
}
