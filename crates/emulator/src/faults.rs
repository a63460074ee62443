//! Fault injection: a share of requests answered 429, rate-limit 403, 5xx, or reset mid-body; added latency.
//!
//! Decisions come from a seeded RNG, so a failing run replays with the same `--fault-seed`. Set by flags or
//! `POST /__admin/faults` with a [`FaultConfig`] JSON body. Faults apply to API hosts, never to `/__admin`.

use std::sync::Mutex;
use std::time::Duration;

use crate::service::Family;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

use crate::State as Emu;
use crate::google::error::GError;

/// One kind of injected failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 429 Too Many Requests (Google `rateLimitExceeded`).
    TooMany,
    /// 403 `userRateLimitExceeded`.
    RateLimit403,
    /// 503 backendError, before the request is handled.
    Unavailable,
    /// 500 after the request was handled (its effect stays: tests idempotency).
    FailAfter,
    /// The connection breaks: uploads before the body is read, downloads part-way through the body.
    Reset,
}

/// Fault injection settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultConfig {
    /// Share of API requests that fail, 0.0 to 1.0.
    pub rate: f64,
    /// Which failures to draw from.
    pub kinds: Vec<FaultKind>,
    /// Latency added to every API request, in milliseconds.
    pub latency_ms: u64,
    /// RNG seed.
    pub seed: u64,
    /// One-shot: break the next resumable-upload chunk after this many bytes of its body.
    pub drop_upload_after: Option<u64>,
    /// Only requests whose path contains one of these strings are affected (empty: all API requests).
    pub paths: Vec<String>,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            rate: 0.0,
            kinds: vec![FaultKind::TooMany, FaultKind::Unavailable, FaultKind::Reset],
            latency_ms: 0,
            seed: 1,
            drop_upload_after: None,
            paths: Vec::new(),
        }
    }
}

/// Live fault state.
#[derive(Debug)]
pub struct Faults {
    cfg: FaultConfig,
    rng: StdRng,
    /// How many faults were injected.
    pub injected: u64,
    /// Requests seen, by emulated host (tests count what a transfer costs with it).
    pub requests: std::collections::HashMap<String, u64>,
}

impl Faults {
    /// From a config.
    pub fn new(cfg: FaultConfig) -> Self {
        let rng = StdRng::seed_from_u64(cfg.seed);
        Faults {
            cfg,
            rng,
            injected: 0,
            requests: Default::default(),
        }
    }

    /// The config.
    pub fn config(&self) -> &FaultConfig {
        &self.cfg
    }

    /// Replaces the config (reseeding).
    pub fn set(&mut self, cfg: FaultConfig) {
        *self = Faults::new(cfg);
    }

    /// Takes the one-shot upload drop, if armed.
    pub fn take_upload_drop(&mut self) -> Option<u64> {
        self.cfg.drop_upload_after.take()
    }

    fn draw(&mut self, path: &str) -> (Option<FaultKind>, Duration, f64) {
        let latency = Duration::from_millis(self.cfg.latency_ms);
        if self.cfg.rate <= 0.0 || self.cfg.kinds.is_empty() {
            return (None, latency, 0.0);
        }
        if !self.cfg.paths.is_empty() && !self.cfg.paths.iter().any(|p| path.contains(p.as_str())) {
            return (None, latency, 0.0);
        }
        if self.rng.r#gen::<f64>() >= self.cfg.rate {
            return (None, latency, 0.0);
        }
        self.injected += 1;
        let k = self.cfg.kinds[self.rng.gen_range(0..self.cfg.kinds.len())];
        (Some(k), latency, self.rng.r#gen::<f64>())
    }
}

/// A response whose body fails at once: the client sees the connection break.
pub fn broken_response() -> Response {
    let s = futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other("injected connection reset"))
    });
    Response::new(Body::from_stream(s))
}

/// The family of the host a path (`/H/...`) is on, so an injected failure reads as that service's own.
fn family_of_path(path: &str) -> Family {
    let host = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    crate::family_of(host).unwrap_or(Family::Plain)
}

fn oauth_body(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// A refusal before the request is handled, as the service would send it: Google's APIs answer rate limits
/// with 429 `rateLimitExceeded` or 403 `userRateLimitExceeded`; OAuth servers and Yandex Disk have no
/// 403 rate limit and answer 429 (`TooManyRequestsError` on Yandex Disk).
fn refusal(kind: FaultKind, family: Family) -> Response {
    use crate::yandex::YError;
    match (family, kind) {
        (Family::GoogleApi, FaultKind::TooMany) => GError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "usageLimits",
            "rateLimitExceeded",
            "Rate Limit Exceeded",
        )
        .into_response(),
        (Family::GoogleApi, FaultKind::RateLimit403) => GError::forbidden(
            "usageLimits",
            "userRateLimitExceeded",
            "User rate limit exceeded.",
        )
        .into_response(),
        (Family::GoogleApi, _) => GError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "global",
            "backendError",
            "Backend Error",
        )
        .into_response(),
        (Family::GoogleOAuth | Family::YandexOAuth, FaultKind::Unavailable) => oauth_body(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "The service is temporarily unavailable.",
        ),
        (Family::GoogleOAuth | Family::YandexOAuth, _) => oauth_body(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_exceeded",
            "Too many requests.",
        ),
        (Family::YandexDisk, FaultKind::Unavailable) => YError::new(
            503,
            "DiskServiceUnavailableError",
            "Сервис временно недоступен.",
            "Service temporarily unavailable.",
        )
        .into_response(),
        (Family::YandexDisk, _) => YError::new(
            429,
            "TooManyRequestsError",
            "Слишком много запросов.",
            "Too Many Requests.",
        )
        .into_response(),
        (Family::Plain, FaultKind::Unavailable) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        (Family::Plain, _) => StatusCode::TOO_MANY_REQUESTS.into_response(),
    }
}

/// A failure after the request was handled (its effect stays), as the service would send it.
fn failure(family: Family) -> Response {
    match family {
        Family::GoogleApi => GError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "global",
            "internalError",
            "Internal Error",
        )
        .into_response(),
        Family::GoogleOAuth | Family::YandexOAuth => oauth_body(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "Internal error.",
        ),
        Family::YandexDisk => crate::yandex::YError::new(
            500,
            "InternalServerError",
            "Внутренняя ошибка сервера.",
            "Internal server error.",
        )
        .into_response(),
        Family::Plain => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The middleware.
pub async fn inject(State(emu): State<std::sync::Arc<Emu>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if path.starts_with("/__admin") || path == "/" {
        return next.run(req).await;
    }
    let (fault, latency, frac) = {
        let mut f = lock(&emu.faults);
        let host = path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or_default();
        *f.requests.entry(host.to_string()).or_default() += 1;
        f.draw(&path)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let Some(fault) = fault else {
        return next.run(req).await;
    };
    tracing::info!("injecting {fault:?} into {} {path}", req.method());
    let has_body = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v != "0")
        || req.headers().contains_key("transfer-encoding");
    match fault {
        FaultKind::TooMany | FaultKind::RateLimit403 | FaultKind::Unavailable => {
            refusal(fault, family_of_path(&path))
        }
        FaultKind::FailAfter => {
            let family = family_of_path(&path);
            let _ = next.run(req).await;
            failure(family)
        }
        FaultKind::Reset if has_body => broken_response(),
        FaultKind::Reset => {
            let resp = next.run(req).await;
            let (parts, body) = resp.into_parts();
            let len = parts
                .headers
                .get("content-length")
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                .unwrap_or(0);
            let cut = (len as f64 * frac * 0.9) as u64;
            let mut sent = 0u64;
            let s = body.into_data_stream().map(move |c| {
                let c = c.map_err(std::io::Error::other)?;
                if sent + c.len() as u64 > cut {
                    return Err(std::io::Error::other("injected connection reset"));
                }
                sent += c.len() as u64;
                Ok(c)
            });
            Response::from_parts(parts, Body::from_stream(s))
        }
    }
}

/// Locks a std mutex, ignoring poisoning (a panicked handler must not wedge the emulator).
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
