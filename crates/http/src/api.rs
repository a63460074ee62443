//! The request loop: credentials, retries, 401 refresh, error parsing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use backon::Retryable;
use bytes::Bytes;
use cloudmux_core::{ByteRange, ByteStream, Error, ErrorKind, Result};
use futures_util::StreamExt;
use reqwest::header::HeaderMap;
use reqwest::{Client, RequestBuilder, Response, StatusCode};

use crate::pacer::{FullJitter, Pacer};
use crate::redact::redact;
use crate::token::TokenSource;

/// Turns an error answer (status, headers, first 64 KiB of the body) into an [`Error`]. Each service has one.
pub type ErrorParser = fn(StatusCode, &HeaderMap, &[u8]) -> Error;

/// How much of a request may be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// Repeating it cannot do harm (reads, PUT/PATCH/DELETE of a known id, creates with a client-chosen id).
    Safe,
    /// Repeating it might do the thing twice: only retried when the service certainly did not act (connect
    /// errors, 429 and rate-limit refusals).
    Unsafe,
    /// Never repeated (the body is a one-shot stream).
    Once,
}

/// How retries back off.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: usize,
    /// First backoff.
    pub min_delay: Duration,
    /// Backoff ceiling (also the ceiling for a service's `Retry-After`).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Nine attempts, the waits between them drawn below 100 ms, 200 ms, 400 ms … (full jitter): a
    /// lone fault costs a few tens of milliseconds, and an outage is waited out for about 25 s in all
    /// before the request fails (the patience eight attempts from 200 ms had).
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 9,
            min_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(30),
        }
    }
}

/// Settings of the HTTP stack.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Timeout for establishing a connection.
    pub connect_timeout: Duration,
    /// Longest silence while reading an answer (not a cap on a whole transfer).
    pub read_timeout: Duration,
    /// `Authorization` scheme for the token: `Bearer` (Google) or `OAuth` (Yandex).
    pub auth_scheme: &'static str,
    /// The pacer every request to this remote goes through (service clients make one when none is given;
    /// share one to pace several clients of one account together).
    pub pacer: Option<Arc<Pacer>>,
    /// Where a service limits writes apart from other requests (Drive's three a second), the pacer its
    /// writes go through instead of [`HttpConfig::pacer`]; which requests are writes is the service
    /// client's to say ([`Api::writes_are`]).
    pub write_pacer: Option<Arc<Pacer>>,
    /// Extra root certificates (PEM) to trust, e.g. an emulator's test CA.
    pub extra_root_pem: Option<Vec<u8>>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(20),
            read_timeout: Duration::from_secs(120),
            auth_scheme: "Bearer",
            pacer: None,
            write_pacer: None,
            extra_root_pem: None,
        }
    }
}

/// A service API endpoint: HTTP client, credentials, retry policy and error parser.
#[derive(Clone)]
pub struct Api {
    client: Client,
    auth: Option<Arc<dyn TokenSource>>,
    cfg: Arc<HttpConfig>,
    parse: ErrorParser,
    pacer: Option<Arc<Pacer>>,
    write_pacer: Option<Arc<Pacer>>,
    is_write: fn(&reqwest::Request) -> bool,
    service: &'static str,
}

/// What a write is unless a service client says otherwise: any request but `GET` and `HEAD`.
fn changes_something(r: &reqwest::Request) -> bool {
    !matches!(*r.method(), reqwest::Method::GET | reqwest::Method::HEAD)
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("auth", &self.auth.is_some())
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

/// Builds the shared `reqwest` client (rustls with the system's roots, plus any extra root given).
pub fn build_client(cfg: &HttpConfig) -> Result<Client> {
    crate::install_crypto_provider();
    let mut b = Client::builder()
        .connect_timeout(cfg.connect_timeout)
        .read_timeout(cfg.read_timeout)
        .user_agent(concat!("cloudmux/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::limited(5));
    if let Some(pem) = &cfg.extra_root_pem {
        let cert = reqwest::Certificate::from_pem(pem)
            .map_err(|e| Error::invalid(format!("bad CA certificate: {e}")))?;
        b = b.add_root_certificate(cert);
    }
    b.build()
        .map_err(|e| Error::new(ErrorKind::Other, format!("cannot build HTTP client: {e}")))
}

impl Api {
    /// An API with the given credentials (none for public endpoints) and error parser.
    pub fn new(
        cfg: HttpConfig,
        auth: Option<Arc<dyn TokenSource>>,
        parse: ErrorParser,
    ) -> Result<Self> {
        let client = build_client(&cfg)?;
        Ok(Self::with_client(client, cfg, auth, parse))
    }

    /// Like [`Api::new`] with an existing client (to share its connection pool).
    pub fn with_client(
        client: Client,
        cfg: HttpConfig,
        auth: Option<Arc<dyn TokenSource>>,
        parse: ErrorParser,
    ) -> Self {
        Api {
            client,
            auth,
            pacer: cfg.pacer.clone(),
            write_pacer: cfg.write_pacer.clone(),
            is_write: changes_something,
            cfg: Arc::new(cfg),
            parse,
            service: "the service",
        }
    }

    /// The same, naming its service in errors about its answers (`Drive answered unexpected JSON`).
    pub fn named(mut self, service: &'static str) -> Self {
        self.service = service;
        self
    }

    /// The same without pacing: for hosts the service's request quota does not cover (Yandex's upload
    /// and download hosts), so that the pacer learns the quota from the requests it counts alone.
    pub fn unpaced(mut self) -> Self {
        self.pacer = None;
        self.write_pacer = None;
        self
    }

    /// The same, telling which requests are writes, for [`HttpConfig::write_pacer`] (by default any
    /// request but `GET` and `HEAD`).
    pub fn writes_are(mut self, is_write: fn(&reqwest::Request) -> bool) -> Self {
        self.is_write = is_write;
        self
    }

    /// Reads a successful answer's body as JSON of type `T`; a body that is not is an error naming the service.
    pub async fn json<T: serde::de::DeserializeOwned>(&self, resp: Response) -> Result<T> {
        let b = resp.bytes().await.map_err(transport_error)?;
        serde_json::from_slice(&b).map_err(|e| {
            Error::new(
                ErrorKind::Other,
                format!("{} answered unexpected JSON: {e}", self.service),
            )
        })
    }

    /// GETs `range` of what `mk` asks for (it builds the request without a `Range` header) as a stream. A range
    /// that starts past the end (416) is an empty stream, as reading past the end of a file is.
    pub async fn get_range(
        &self,
        mk: impl Fn(&Client) -> RequestBuilder,
        range: ByteRange,
    ) -> Result<ByteStream> {
        let header = range.to_header();
        let resp = self
            .send_accepting(
                |c| match &header {
                    Some(h) => mk(c).header(reqwest::header::RANGE, h),
                    None => mk(c),
                },
                Idempotency::Safe,
                |s| s.is_success() || s == StatusCode::RANGE_NOT_SATISFIABLE,
            )
            .await?;
        if resp.status() == StatusCode::RANGE_NOT_SATISFIABLE {
            return Ok(Box::pin(futures_util::stream::empty()));
        }
        Ok(body_stream(resp))
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The token source, if any.
    pub fn auth(&self) -> Option<&Arc<dyn TokenSource>> {
        self.auth.as_ref()
    }

    /// Sends a request built by `mk` (called once per attempt) and returns a successful (2xx) answer.
    pub async fn send(
        &self,
        mk: impl Fn(&Client) -> RequestBuilder,
        idem: Idempotency,
    ) -> Result<Response> {
        self.send_accepting(mk, idem, |s| s.is_success()).await
    }

    /// Like [`Api::send`] but `accept` says which statuses are answers rather than errors (e.g. 308 for
    /// resumable uploads).
    pub async fn send_accepting(
        &self,
        mk: impl Fn(&Client) -> RequestBuilder,
        idem: Idempotency,
        accept: impl Fn(StatusCode) -> bool,
    ) -> Result<Response> {
        let refreshed = AtomicBool::new(false);
        let attempts = if idem == Idempotency::Once {
            1
        } else {
            self.cfg.retry.max_attempts.max(1)
        };
        let backoff = FullJitter::new(
            self.cfg.retry.min_delay,
            self.cfg.retry.max_delay,
            attempts - 1,
        );
        let max_delay = self.cfg.retry.max_delay;
        let res = (|| self.attempt(&mk, &accept, &refreshed, idem))
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|f: &Failure| f.retry)
            .adjust(move |f: &Failure, d| match (f.err.retry_after(), d) {
                (_, None) => None,
                // At least what the service asked, spread a little so waiters do not return together.
                (Some(ra), Some(_)) => {
                    Some(ra.min(max_delay).mul_f64(1.0 + rand::random::<f64>() / 5.0))
                }
                (None, d) => d,
            })
            .notify(|f: &Failure, d| tracing::warn!("retrying in {d:?} after: {}", f.err))
            .await;
        res.map_err(|f| f.err)
    }

    async fn attempt(
        &self,
        mk: &impl Fn(&Client) -> RequestBuilder,
        accept: &impl Fn(StatusCode) -> bool,
        refreshed: &AtomicBool,
        idem: Idempotency,
    ) -> std::result::Result<Response, Failure> {
        loop {
            let mut req = mk(&self.client).build().map_err(|e| Failure {
                err: transport_error(e),
                retry: false,
            })?;
            let pacer = match &self.write_pacer {
                Some(w) if (self.is_write)(&req) => Some(w),
                _ => self.pacer.as_ref(),
            };
            if let Some(p) = pacer {
                p.acquire().await;
            }
            // The token is asked for after the wait for a turn, so that a long wait cannot stale it.
            let token = match &self.auth {
                Some(a) => {
                    let t = a
                        .token()
                        .await
                        .map_err(|err| Failure { err, retry: false })?;
                    let mut value = reqwest::header::HeaderValue::from_str(&format!(
                        "{} {}",
                        self.cfg.auth_scheme,
                        t.expose()
                    ))
                    .map_err(|_| Failure {
                        err: Error::invalid("the access token is not a valid header value"),
                        retry: false,
                    })?;
                    value.set_sensitive(true);
                    req.headers_mut()
                        .insert(reqwest::header::AUTHORIZATION, value);
                    Some(t)
                }
                None => None,
            };
            let method = req.method().clone();
            let shown = redact(req.url().as_str());
            let started = Instant::now();
            let resp = match self.client.execute(req).await {
                Ok(r) => r,
                Err(e) => {
                    let never_reached = e.is_connect();
                    let err = transport_error(e).context(format!("{method} {shown}"));
                    tracing::debug!("{method} {shown}: {err}");
                    let retry = match idem {
                        Idempotency::Safe => true,
                        Idempotency::Unsafe => never_reached,
                        Idempotency::Once => false,
                    };
                    return Err(Failure { err, retry });
                }
            };
            let status = resp.status();
            tracing::debug!(
                "{method} {shown} -> {} in {:?}",
                status.as_u16(),
                started.elapsed()
            );
            if accept(status) {
                if let Some(p) = pacer {
                    p.success(started);
                }
                return Ok(resp);
            }
            if status == StatusCode::UNAUTHORIZED
                && let (Some(a), Some(t)) = (&self.auth, &token)
                && !refreshed.swap(true, Ordering::SeqCst)
                && idem != Idempotency::Once
            {
                tracing::debug!("401: refreshing the access token and retrying once");
                a.invalidate(t).await;
                continue;
            }
            let err = read_error_body(resp, self.parse).await;
            if err.kind() == ErrorKind::RateLimited
                && let Some(p) = pacer
            {
                p.limited(started, err.retry_after());
            }
            let retry = match idem {
                Idempotency::Safe => err.is_temporary(),
                Idempotency::Unsafe => err.kind() == ErrorKind::RateLimited,
                Idempotency::Once => false,
            };
            return Err(Failure { err, retry });
        }
    }
}

struct Failure {
    err: Error,
    retry: bool,
}

/// Reads (at most 64 KiB of) an error answer and parses it with `parse`, adding `Retry-After`.
pub async fn read_error_body(resp: Response, parse: ErrorParser) -> Error {
    let status = resp.status();
    let headers = resp.headers().clone();
    let mut body = Vec::new();
    let mut s = resp.bytes_stream();
    while let Some(Ok(chunk)) = s.next().await {
        body.extend_from_slice(&chunk);
        if body.len() > 64 * 1024 {
            body.truncate(64 * 1024);
            break;
        }
    }
    let mut err = parse(status, &headers, &body).with_status(status.as_u16());
    if err.retry_after().is_none()
        && let Some(ra) = parse_retry_after(&headers)
    {
        err = err.with_retry_after(ra);
    }
    err
}

/// The `Retry-After` header as a duration (seconds or an HTTP date).
pub fn parse_retry_after(h: &HeaderMap) -> Option<Duration> {
    let v = h.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let d = when.to_utc() - chrono::Utc::now();
    Some(d.to_std().unwrap_or(Duration::ZERO))
}

/// A transport failure (connect, timeout, reset) as a temporary error, without the URL (it may hold ids).
pub fn transport_error(e: reqwest::Error) -> Error {
    let what = if e.is_connect() {
        "cannot connect"
    } else if e.is_timeout() {
        "timed out"
    } else if e.is_body() || e.is_decode() {
        "connection broke while reading the answer"
    } else if e.is_builder() {
        return Error::invalid(format!(
            "bad request: {}",
            redact(&e.without_url().to_string())
        ));
    } else {
        "request failed"
    };
    let mut msg = format!("{what}: {}", redact(&e.to_string()));
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(&format!(": {}", redact(&s.to_string())));
        src = s.source();
    }
    Error::new(ErrorKind::Transient, msg)
        .with_hint("check the network and the remote's endpoint; cloudmux retried")
}

/// How much of an answer the service did not explain a generic error quotes.
const QUOTED: usize = 200;

/// A generic parser: the status decides the kind; the message quotes the start of the body (redacted,
/// control characters dropped, at most 200 characters), since it may be a page of something that
/// is not the service at all.
pub fn generic_error(status: StatusCode, _h: &HeaderMap, body: &[u8]) -> Error {
    let text: String = redact(&String::from_utf8_lossy(
        &body[..body.len().min(4 * QUOTED)],
    ))
    .chars()
    .filter(|c| !c.is_control() || *c == ' ')
    .take(QUOTED)
    .collect();
    Error::new(
        kind_for_status(status),
        format!("HTTP {}: {}", status.as_u16(), text.trim()),
    )
}

/// The error kind a bare HTTP status suggests.
pub fn api_kind(status: StatusCode) -> ErrorKind {
    kind_for_status(status)
}

fn kind_for_status(status: StatusCode) -> ErrorKind {
    match status.as_u16() {
        400 | 411 | 413 | 414 | 416 | 422 => ErrorKind::InvalidInput,
        401 => ErrorKind::ReauthRequired,
        403 => ErrorKind::PermissionDenied,
        404 | 410 => ErrorKind::NotFound,
        409 | 412 | 423 => ErrorKind::Conflict,
        408 | 429 => {
            if status.as_u16() == 429 {
                ErrorKind::RateLimited
            } else {
                ErrorKind::Transient
            }
        }
        507 => ErrorKind::QuotaExceeded,
        500..=599 => ErrorKind::Transient,
        _ => ErrorKind::Other,
    }
}

/// The URL of `path` on `host`: `https://{host}{path}`, or, when an `endpoint` replaces every host of the
/// service (an emulator serves host H under `/H/`), `{endpoint}/{host}{path}`.
pub fn at_host(endpoint: Option<&str>, host: &str, path: &str) -> String {
    match endpoint {
        Some(e) => format!("{}/{host}{path}", e.trim_end_matches('/')),
        None => format!("https://{host}{path}"),
    }
}

/// A response body as a [`ByteStream`]; transport failures mid-body become Transient errors.
pub fn body_stream(resp: Response) -> ByteStream {
    Box::pin(
        resp.bytes_stream()
            .map(|r: reqwest::Result<Bytes>| r.map_err(transport_error)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;

    async fn serve(app: axum::Router) -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        format!("http://{addr}")
    }

    #[test]
    fn at_host_rebases_on_an_endpoint() {
        assert_eq!(
            at_host(None, "www.googleapis.com", "/drive/v3"),
            "https://www.googleapis.com/drive/v3"
        );
        assert_eq!(
            at_host(Some("http://127.0.0.1:4444/"), "oauth.yandex.ru", ""),
            "http://127.0.0.1:4444/oauth.yandex.ru"
        );
    }

    #[tokio::test]
    async fn get_range_reads_a_range_and_past_the_end_nothing() {
        use axum::http::HeaderMap as H;
        let app = axum::Router::new().route(
            "/f",
            axum::routing::get(|h: H| async move {
                let data = b"0123456789";
                match h.get("range").and_then(|v| v.to_str().ok()) {
                    None => (StatusCode::OK, data.to_vec()),
                    Some("bytes=12-") => (StatusCode::RANGE_NOT_SATISFIABLE, Vec::new()),
                    Some(r) => {
                        let (a, b) = r["bytes=".len()..].split_once('-').unwrap();
                        let a: usize = a.parse().unwrap();
                        let b: usize = b.parse().map(|b: usize| b + 1).unwrap_or(data.len());
                        (StatusCode::PARTIAL_CONTENT, data[a..b].to_vec())
                    }
                }
            }),
        );
        let url = format!("{}/f", serve(app).await);
        let api = Api::new(fast(), None, generic_error).unwrap().named("Test");
        let read = |r: ByteRange| {
            let (api, url) = (api.clone(), url.clone());
            async move {
                let mut s = api.get_range(|c| c.get(&url), r).await.unwrap();
                let mut out = Vec::new();
                while let Some(b) = s.next().await {
                    out.extend_from_slice(&b.unwrap());
                }
                out
            }
        };
        assert_eq!(read(ByteRange::all()).await, b"0123456789");
        assert_eq!(read(ByteRange::new(3, None)).await, b"3456789");
        assert_eq!(read(ByteRange::new(2, Some(3))).await, b"234");
        assert_eq!(read(ByteRange::new(12, None)).await, b"");
        let resp = api.send(|c| c.get(&url), Idempotency::Safe).await.unwrap();
        let e = api.json::<serde_json::Value>(resp).await.unwrap_err();
        assert!(
            e.to_string().contains("Test answered unexpected JSON"),
            "{e}"
        );
    }

    /// Writes go through the write pacer (paced at its published rate from the first), reads do not,
    /// and a service client may say which requests are writes.
    #[tokio::test]
    async fn writes_take_the_write_lane() {
        let app = axum::Router::new().route(
            "/",
            axum::routing::get(|| async { "r" }).post(|| async { "w" }),
        );
        let url = serve(app).await;
        let cfg = HttpConfig {
            write_pacer: Some(Arc::new(Pacer::published("writes", 4.0))),
            ..fast()
        };
        let api = Api::new(cfg.clone(), None, generic_error).unwrap();
        let t = Instant::now();
        for _ in 0..20 {
            api.send(|c| c.get(&url), Idempotency::Safe).await.unwrap();
        }
        let reads = t.elapsed();
        let t = Instant::now();
        for _ in 0..5 {
            api.send(|c| c.post(&url), Idempotency::Unsafe)
                .await
                .unwrap();
        }
        let writes = t.elapsed();
        assert!(
            reads < Duration::from_millis(800),
            "reads unpaced: {reads:?}"
        );
        assert!(
            writes >= Duration::from_millis(900),
            "five writes at four a second: {writes:?}"
        );
        let all_reads = Api::new(cfg, None, generic_error)
            .unwrap()
            .writes_are(|_| false);
        let t = Instant::now();
        for _ in 0..5 {
            all_reads
                .send(|c| c.post(&url), Idempotency::Unsafe)
                .await
                .unwrap();
        }
        assert!(
            t.elapsed() < Duration::from_millis(800),
            "{:?}",
            t.elapsed()
        );
    }

    fn fast() -> HttpConfig {
        HttpConfig {
            retry: RetryPolicy {
                max_attempts: 4,
                min_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(50),
            },
            ..Default::default()
        }
    }

    /// The retry decision table: which answers are retried for which kind of request.
    #[tokio::test]
    async fn should_retry_table() {
        let cases: &[(u16, Idempotency, usize)] = &[
            (503, Idempotency::Safe, 4),
            (500, Idempotency::Safe, 4),
            (429, Idempotency::Safe, 4),
            (429, Idempotency::Unsafe, 4),
            (503, Idempotency::Unsafe, 1),
            (503, Idempotency::Once, 1),
            (404, Idempotency::Safe, 1),
            (400, Idempotency::Safe, 1),
            (403, Idempotency::Safe, 1),
        ];
        for &(status, idem, want) in cases {
            let hits = Arc::new(AtomicUsize::new(0));
            let h = hits.clone();
            let app = axum::Router::new().route(
                "/",
                axum::routing::any(move || {
                    let h = h.clone();
                    async move {
                        h.fetch_add(1, Ordering::SeqCst);
                        (StatusCode::from_u16(status).unwrap(), "nope")
                    }
                }),
            );
            let base = serve(app).await;
            let api = Api::new(fast(), None, generic_error).unwrap();
            let r = api.send(|c| c.get(&base), idem).await;
            assert!(r.is_err());
            assert_eq!(
                hits.load(Ordering::SeqCst),
                want,
                "status {status} {idem:?}"
            );
        }
    }

    /// Two requests failing together retry at different times (full jitter from an OS-seeded generator:
    /// backon's own jitter had a fixed seed, so every transfer retried in lock step).
    #[tokio::test]
    async fn two_failing_requests_back_off_differently() {
        let seen: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
        let s2 = seen.clone();
        let app = axum::Router::new().route(
            "/{who}",
            axum::routing::get(
                move |axum::extract::Path(who): axum::extract::Path<String>| {
                    let s2 = s2.clone();
                    async move {
                        s2.lock().unwrap().push((who, Instant::now()));
                        StatusCode::SERVICE_UNAVAILABLE
                    }
                },
            ),
        );
        let base = serve(app).await;
        let mut cfg = fast();
        cfg.retry.min_delay = Duration::from_millis(20);
        cfg.retry.max_delay = Duration::from_millis(400);
        let api = Api::new(cfg, None, generic_error).unwrap();
        let (a, b) = tokio::join!(
            api.send(|c| c.get(format!("{base}/a")), Idempotency::Safe),
            api.send(|c| c.get(format!("{base}/b")), Idempotency::Safe)
        );
        assert!(a.is_err() && b.is_err());
        let gaps = |who: &str| -> Vec<Duration> {
            let v: Vec<Instant> = seen
                .lock()
                .unwrap()
                .iter()
                .filter(|(w, _)| w == who)
                .map(|(_, t)| *t)
                .collect();
            v.windows(2).map(|w| w[1] - w[0]).collect()
        };
        let (ga, gb) = (gaps("a"), gaps("b"));
        assert_eq!(ga.len(), 3);
        let close = ga
            .iter()
            .zip(&gb)
            .filter(|(x, y)| x.abs_diff(**y) < Duration::from_millis(2))
            .count();
        assert!(close < 3, "the two retried in lock step: {ga:?} {gb:?}");
    }

    #[tokio::test]
    async fn honours_retry_after_and_recovers() {
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let app = axum::Router::new().route(
            "/",
            axum::routing::get(move || {
                let h = h.clone();
                async move {
                    if h.fetch_add(1, Ordering::SeqCst) == 0 {
                        (
                            StatusCode::TOO_MANY_REQUESTS,
                            [("retry-after", "1")],
                            "slow down",
                        )
                            .into_response()
                    } else {
                        "ok".into_response()
                    }
                }
            }),
        );
        use axum::response::IntoResponse;
        let base = serve(app).await;
        let mut cfg = fast();
        cfg.retry.max_delay = Duration::from_secs(2);
        let api = Api::new(cfg, None, generic_error).unwrap();
        let t = Instant::now();
        let r = api.send(|c| c.get(&base), Idempotency::Safe).await.unwrap();
        assert_eq!(r.text().await.unwrap(), "ok");
        assert!(
            t.elapsed() >= Duration::from_millis(900),
            "waited for Retry-After: {:?}",
            t.elapsed()
        );
    }

    #[derive(Debug, Default)]
    struct Rotating(AtomicUsize);
    #[async_trait::async_trait]
    impl TokenSource for Rotating {
        async fn token(&self) -> Result<crate::Secret> {
            Ok(crate::Secret::new(format!(
                "tok{}",
                self.0.load(Ordering::SeqCst)
            )))
        }
        async fn invalidate(&self, _: &crate::Secret) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn refreshes_once_on_401() {
        let app = axum::Router::new().route(
            "/",
            axum::routing::get(|h: axum::http::HeaderMap| async move {
                if h.get("authorization").unwrap() == "Bearer tok1" {
                    StatusCode::OK
                } else {
                    StatusCode::UNAUTHORIZED
                }
            }),
        );
        let base = serve(app).await;
        let src = Arc::new(Rotating::default());
        let api = Api::new(fast(), Some(src.clone()), generic_error).unwrap();
        api.send(|c| c.get(&base), Idempotency::Safe).await.unwrap();
        assert_eq!(src.0.load(Ordering::SeqCst), 1);
        // A second 401 after the one refresh is an error, not a loop.
        let app = axum::Router::new().route(
            "/",
            axum::routing::get(|| async { StatusCode::UNAUTHORIZED }),
        );
        let base = serve(app).await;
        let e = api
            .send(|c| c.get(&base), Idempotency::Safe)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ReauthRequired);
        assert_eq!(src.0.load(Ordering::SeqCst), 2);
    }
}
