//! Quotas: the request limits the real services put on clients, so that a benchmark against the emulator
//! measures what a client would meet in production (`cloudmux emulate --quota realistic`, each limit
//! settable by a flag or `POST /__admin/quota`; off by default, for the test suite's speed).
//!
//! Each limit is a token bucket per user (per OAuth client for the per-project ones), shared by every
//! connection, refilled continuously. Refusals are what the services send:
//!
//! - **Drive**: past the per-user quota of a minute, `403 userRateLimitExceeded`; past the sustained write
//!   rate (creates, updates, copies, deletes — not the chunks of an open upload), the backend's
//!   `429 rateLimitExceeded`. Figures from Google's "Usage limits" page of the Drive API (12,000 queries per
//!   60 seconds per user, the long-published figure; the page now gives quota units whose per-method costs
//!   it does not list) and Google Workspace's Drive best practices (avoid more than 3 write or insert
//!   requests per second, sustained, per account; this rate cannot be raised).
//!   Past the **daily upload limit** (750 GB per user in 24 hours, uploads and copies together; Google
//!   Workspace's "Drive storage and upload limits" page), new uploads and copies get `403
//!   userRateLimitExceeded` with the message "User rate limit exceeded." — the text rclone's drive backend
//!   tells that limit by (`--drive-stop-on-upload-limit`), while a request rate refusal carries Google's
//!   longer "User Rate Limit Exceeded. Rate of requests for user exceed configured project quota…". An
//!   upload under way when the limit is passed completes; the day starts at the first upload counted.
//! - **Photos Library**: `429 RESOURCE_EXHAUSTED` past 10,000 requests per project per day and 75,000
//!   requests for media bytes (Google's "API limits and quotas" page). Google publishes no per-minute
//!   figure; `realistic` also caps a user at 300 requests a minute, a figure of ours.
//! - **Yandex Disk**: `429 TooManyRequestsError` past a request rate. Yandex publishes no figure;
//!   `realistic` uses 40 requests a second per user, a figure of ours. Uploads of video, archive and
//!   database files (media types `video`, `compressed`, `data`, decided by the name when the link is
//!   asked for) go at 128 KiB/s, as Yandex throttles them through the REST API (measured by the yadisk
//!   library's users; its "known issues" page); the same bytes under another name go at full speed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::State as Emu;
use crate::faults::lock;
use crate::google::error::GError;

/// The limits (0 means none).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QuotaConfig {
    /// Drive requests per minute per user.
    pub drive_per_user_minute: u32,
    /// Drive requests per minute per project (OAuth client).
    pub drive_per_project_minute: u32,
    /// Drive write requests per second per user, sustained.
    pub drive_writes_per_second: f64,
    /// Drive writes allowed at once above the sustained rate.
    pub drive_write_burst: u32,
    /// Bytes a Drive user may upload (and copy) in a day.
    pub drive_upload_bytes_per_day: u64,
    /// Photos Library requests per day per project.
    pub photos_per_day: u32,
    /// Photos media-byte (baseUrl) requests per day per project.
    pub photos_bytes_per_day: u32,
    /// Photos Library requests per minute per user.
    pub photos_per_user_minute: u32,
    /// Yandex Disk requests per second per user.
    pub yandex_per_second: f64,
    /// Yandex Disk requests allowed at once above that rate.
    pub yandex_burst: u32,
    /// Bytes per second an upload to Yandex Disk of a video, archive or database file gets (by the name
    /// its link was asked for).
    pub yandex_throttled_upload_bytes_per_second: u64,
}

impl QuotaConfig {
    /// No limits.
    pub fn off() -> Self {
        Self::default()
    }

    /// The published figures (see the module docs for where each comes from).
    pub fn realistic() -> Self {
        QuotaConfig {
            drive_per_user_minute: 12_000,
            drive_per_project_minute: 12_000,
            drive_writes_per_second: 3.0,
            drive_write_burst: 10,
            drive_upload_bytes_per_day: 750_000_000_000,
            photos_per_day: 10_000,
            photos_bytes_per_day: 75_000,
            photos_per_user_minute: 300,
            yandex_per_second: 40.0,
            yandex_burst: 40,
            yandex_throttled_upload_bytes_per_second: 128 * 1024,
        }
    }

    /// `off`, `realistic`, or an error.
    pub fn named(name: &str) -> Result<Self, String> {
        match name {
            "off" => Ok(Self::off()),
            "realistic" => Ok(Self::realistic()),
            other => Err(format!("unknown quota {other:?}: use off or realistic")),
        }
    }
}

/// What a request counted against, and how many were refused.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    /// API requests seen.
    pub requests: u64,
    /// Of which refused by a quota.
    pub rejected: u64,
}

#[derive(Debug)]
struct Bucket {
    level: f64,
    at: Instant,
}

/// The length of Drive's upload day.
const UPLOAD_DAY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Live quota state.
#[derive(Debug, Default)]
pub struct Quotas {
    cfg: QuotaConfig,
    buckets: HashMap<String, Bucket>,
    /// Per Drive user: when their upload day began, and the bytes uploaded since.
    uploaded: HashMap<String, (Instant, u64)>,
    /// Requests and refusals per service (`drive`, `photos`, `yandex`).
    pub counts: HashMap<&'static str, Counts>,
}

impl Quotas {
    /// With `cfg`.
    pub fn new(cfg: QuotaConfig) -> Self {
        Quotas {
            cfg,
            ..Default::default()
        }
    }

    /// The limits.
    pub fn config(&self) -> &QuotaConfig {
        &self.cfg
    }

    /// Replaces the limits; counts and buckets start again.
    pub fn set(&mut self, cfg: QuotaConfig) {
        *self = Quotas::new(cfg);
    }

    /// The upload day of Drive user `user`: when it began and the bytes counted since (a new day once
    /// the last is over).
    fn upload_day(&mut self, user: &str) -> &mut (Instant, u64) {
        let now = Instant::now();
        let day = self.uploaded.entry(user.to_string()).or_insert((now, 0));
        if now.duration_since(day.0) >= UPLOAD_DAY {
            *day = (now, 0);
        }
        day
    }

    /// Whether Drive user `user` may start an upload or a copy: refused (and counted) once the day's
    /// bytes reached the limit.
    pub fn drive_upload_allowed(&mut self, user: &str) -> Result<(), GError> {
        let limit = self.cfg.drive_upload_bytes_per_day;
        if limit == 0 || self.upload_day(user).1 < limit {
            return Ok(());
        }
        self.counts.entry("drive").or_default().rejected += 1;
        Err(GError::forbidden(
            "usageLimits",
            "userRateLimitExceeded",
            "User rate limit exceeded.",
        ))
    }

    /// Counts `bytes` a Drive user uploaded or copied.
    pub fn drive_uploaded(&mut self, user: &str, bytes: u64) {
        if self.cfg.drive_upload_bytes_per_day == 0 {
            return;
        }
        let day = self.upload_day(user);
        day.1 = day.1.saturating_add(bytes);
    }

    /// Takes one unit from the bucket `key` of `capacity` refilled at `per_sec`; false when empty.
    fn take(&mut self, key: String, capacity: f64, per_sec: f64) -> bool {
        if capacity <= 0.0 || per_sec <= 0.0 {
            return true;
        }
        let now = Instant::now();
        let b = self.buckets.entry(key).or_insert(Bucket {
            level: capacity,
            at: now,
        });
        b.level = (b.level + (now - b.at).as_secs_f64() * per_sec).min(capacity);
        b.at = now;
        if b.level >= 1.0 {
            b.level -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether the limits let this request through; a refusal names what was exceeded.
    fn admit(&mut self, svc: Service, who: &Who, write: bool) -> Result<(), Exceeded> {
        let c = self.cfg.clone();
        let minute = |n: u32| (n as f64, n as f64 / 60.0);
        let day = |n: u32| (n as f64, n as f64 / 86_400.0);
        let checks: Vec<(String, (f64, f64), Exceeded)> = match svc {
            Service::Drive => {
                let mut v = vec![
                    (
                        format!("drive-user:{}", who.user),
                        minute(c.drive_per_user_minute),
                        Exceeded::UserRate,
                    ),
                    (
                        format!("drive-project:{}", who.client),
                        minute(c.drive_per_project_minute),
                        Exceeded::UserRate,
                    ),
                ];
                if write {
                    v.push((
                        format!("drive-writes:{}", who.user),
                        (c.drive_write_burst.max(1) as f64, c.drive_writes_per_second),
                        Exceeded::Backend,
                    ));
                }
                v
            }
            Service::Photos => vec![
                (
                    format!("photos-project:{}", who.client),
                    day(c.photos_per_day),
                    Exceeded::Exhausted,
                ),
                (
                    format!("photos-user:{}", who.user),
                    minute(c.photos_per_user_minute),
                    Exceeded::Exhausted,
                ),
            ],
            Service::PhotosBytes => vec![(
                format!("photos-bytes:{}", who.client),
                day(c.photos_bytes_per_day),
                Exceeded::Exhausted,
            )],
            Service::Yandex => vec![(
                format!("yandex:{}", who.user),
                (c.yandex_burst.max(1) as f64, c.yandex_per_second),
                Exceeded::Yandex,
            )],
        };
        for (key, (cap, rate), why) in checks {
            if !self.take(key, cap, rate) {
                return Err(why);
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Drive,
    Photos,
    PhotosBytes,
    Yandex,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::Drive => "drive",
            Service::Photos | Service::PhotosBytes => "photos",
            Service::Yandex => "yandex",
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Exceeded {
    UserRate,
    Backend,
    Exhausted,
    Yandex,
}

impl Exceeded {
    fn answer(self) -> Response {
        match self {
            Exceeded::UserRate => GError::forbidden(
                "usageLimits",
                "userRateLimitExceeded",
                "User Rate Limit Exceeded. Rate of requests for user exceed configured project quota. \
                 You may consider re-evaluating expected per-user traffic to the API and adjust project \
                 quota limits accordingly.",
            )
            .into_response(),
            Exceeded::Backend => GError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "usageLimits",
                "rateLimitExceeded",
                "Rate Limit Exceeded",
            )
            .into_response(),
            Exceeded::Exhausted => (
                StatusCode::TOO_MANY_REQUESTS,
                axum::Json(serde_json::json!({"error": {"code": 429,
                    "message": "Quota exceeded for quota metric 'Requests' of service 'photoslibrary.googleapis.com'.",
                    "status": "RESOURCE_EXHAUSTED"}})),
            )
                .into_response(),
            Exceeded::Yandex => crate::yandex::YError::new(
                429,
                "TooManyRequestsError",
                "Слишком много запросов.",
                "Too Many Requests.",
            )
            .into_response(),
        }
    }
}

/// Whose request it is.
#[derive(Debug)]
struct Who {
    user: String,
    client: String,
}

fn bearer(req: &Request) -> Option<String> {
    let v = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let t = v
        .strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("OAuth "))
        .or_else(|| v.strip_prefix("bearer "))?;
    Some(t.trim().to_string())
}

/// The middleware: counts API requests and refuses those over a limit.
pub async fn enforce(State(emu): State<std::sync::Arc<Emu>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let host = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    let svc = match host {
        "www.googleapis.com" if path.contains("/drive/") => Service::Drive,
        "photoslibrary.googleapis.com" if !path.contains("/$discovery/") => Service::Photos,
        "lh3.googleusercontent.com" => Service::PhotosBytes,
        "cloud-api.yandex.net" | "cloud-api.yandex.com" => Service::Yandex,
        _ => return next.run(req).await,
    };
    // The chunks of an open upload session continue a write already counted.
    let chunk =
        svc == Service::Drive && req.uri().query().is_some_and(|q| q.contains("upload_id="));
    let write = !chunk && !matches!(*req.method(), Method::GET | Method::HEAD);
    let who = match svc {
        Service::PhotosBytes => Some(Who {
            user: "media".into(),
            client: "media".into(),
        }),
        Service::Yandex => bearer(&req).and_then(|t| {
            lock(&emu.yandex_auth).check(&t).map(|g| Who {
                user: g.client_id.clone(),
                client: g.client_id,
            })
        }),
        _ => bearer(&req).and_then(|t| {
            lock(&emu.google_auth).grant(&t).map(|g| Who {
                user: g.user,
                client: g.client_id,
            })
        }),
    };
    let Some(who) = who else {
        // Unauthenticated (or unknown token): the API itself refuses it; upload sessions carry no token.
        return next.run(req).await;
    };
    let refused = {
        let mut q = lock(&emu.quotas);
        let r = q.admit(svc, &who, write);
        let c = q.counts.entry(svc.name()).or_default();
        c.requests += 1;
        if r.is_err() {
            c.rejected += 1;
        }
        r.err()
    };
    match refused {
        Some(why) => why.answer(),
        None => next.run(req).await,
    }
}

/// Locks the quota state.
pub fn quotas(emu: &Emu) -> std::sync::MutexGuard<'_, Quotas> {
    lock(&emu.quotas)
}

/// A mutex around [`Quotas`] (what [`crate::State`] holds).
pub type QuotaState = Mutex<Quotas>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_refuse_past_their_rate_and_refill() {
        let mut q = Quotas::new(QuotaConfig {
            drive_writes_per_second: 20.0,
            drive_write_burst: 2,
            ..QuotaConfig::off()
        });
        let who = Who {
            user: "u".into(),
            client: "c".into(),
        };
        assert!(q.admit(Service::Drive, &who, true).is_ok());
        assert!(q.admit(Service::Drive, &who, true).is_ok());
        assert!(matches!(
            q.admit(Service::Drive, &who, true),
            Err(Exceeded::Backend)
        ));
        assert!(
            q.admit(Service::Drive, &who, false).is_ok(),
            "reads are not writes"
        );
        std::thread::sleep(std::time::Duration::from_millis(120));
        assert!(q.admit(Service::Drive, &who, true).is_ok(), "refilled");
        let other = Who {
            user: "v".into(),
            client: "c".into(),
        };
        assert!(q.admit(Service::Drive, &other, true).is_ok(), "per user");
    }
}
