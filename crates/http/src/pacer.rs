//! Pacing and backoff: how often a remote is asked, and how long a failed request waits.
//!
//! [`Pacer`] is shared by every request to one remote in a process, whatever transfer it belongs to. It
//! does not pace at all until the service first answers "too many requests" (429, or Google's 403
//! `userRateLimitExceeded`): then it paces at half the rate it was sending at, pauses everyone for the
//! `Retry-After` the service gave, and from there adds about one request per second each second while
//! requests succeed (additive increase, multiplicative decrease, as TCP does with its window). It remembers
//! the rate it was refused at: after a further refusal it cuts to 70 % of it, climbs back quickly to 90 %,
//! holds there for 30 s and only then probes above, by 1 % a second, so that a service with a
//! sustained limit (Drive's three writes a second) refuses a request every minute or so rather than every
//! few seconds. The aim is the highest rate the service allows, without spending requests on refusals.
//!
//! [`full_jitter`] is the backoff of retries: a random delay between zero and an exponentially growing
//! ceiling, drawn from the thread's OS-seeded generator, so concurrent transfers that fail together retry
//! apart instead of in lock step.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng;

/// A random delay in `[0, min(max, min·2^attempt)]` ("full jitter"); `attempt` counts from 0.
pub fn full_jitter(attempt: u32, min: Duration, max: Duration) -> Duration {
    let ceiling = min
        .saturating_mul(1u32.checked_shl(attempt.min(30)).unwrap_or(u32::MAX))
        .min(max)
        .max(min);
    ceiling.mul_f64(rand::thread_rng().r#gen::<f64>())
}

/// Exponential backoff with full jitter, as an iterator of delays (what `backon` retries with).
#[derive(Debug, Clone)]
pub struct FullJitter {
    attempt: u32,
    times: usize,
    min: Duration,
    max: Duration,
}

impl FullJitter {
    /// At most `times` delays between `min`-based exponential ceilings capped at `max`.
    pub fn new(min: Duration, max: Duration, times: usize) -> Self {
        FullJitter {
            attempt: 0,
            times,
            min,
            max,
        }
    }
}

impl Iterator for FullJitter {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        if self.attempt as usize >= self.times {
            return None;
        }
        let d = full_jitter(self.attempt, self.min, self.max);
        self.attempt += 1;
        Some(d)
    }
}

/// The slowest a pacer goes, in requests per second.
const MIN_RATE: f64 = 1.0;
/// Refusals this close together mean the service is really asking to slow down; a lone one (a glitch,
/// a backend hiccup) is retried without starting to pace.
const REFUSALS_WINDOW: Duration = Duration::from_secs(1);
/// How far back request starts are counted to know the rate before the first refusal.
const WINDOW: Duration = Duration::from_secs(2);
/// How long after a cut the pace stays under 90 % of the rate that was refused before probing above it.
const HOLD: Duration = Duration::from_secs(30);
/// The longest a `Retry-After` pauses everyone (a single request's retry is capped by its own policy).
const MAX_PAUSE: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct State {
    /// Requests per second; `None` while not pacing.
    rate: Option<f64>,
    tokens: f64,
    refilled: Instant,
    paused_until: Option<Instant>,
    last_cut: Option<Instant>,
    last_refusal: Option<Instant>,
    /// The rate the service last refused.
    ceiling: Option<f64>,
    /// Recent request starts, while not pacing.
    starts: VecDeque<Instant>,
    logged: f64,
}

/// Paces the requests to one remote (see the module docs).
#[derive(Debug)]
pub struct Pacer {
    name: String,
    st: Mutex<State>,
}

impl Pacer {
    /// A pacer for the remote called `name` (for its log lines), not pacing until refused.
    pub fn new(name: impl Into<String>) -> Self {
        Pacer {
            name: name.into(),
            st: Mutex::new(State {
                rate: None,
                tokens: 1.0,
                refilled: Instant::now(),
                paused_until: None,
                last_cut: None,
                last_refusal: None,
                ceiling: None,
                starts: VecDeque::new(),
                logged: 0.0,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.st.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The pace in requests per second, `None` while not pacing.
    pub fn rate(&self) -> Option<f64> {
        self.state().rate
    }

    /// Waits for this request's turn.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut s = self.state();
                let now = Instant::now();
                match s.paused_until {
                    Some(t) if t > now => Some(t - now),
                    _ => match s.rate {
                        None => {
                            s.starts.push_back(now);
                            while s.starts.front().is_some_and(|t| now - *t > WINDOW) {
                                s.starts.pop_front();
                            }
                            None
                        }
                        Some(rate) => {
                            let burst = (rate / 10.0).max(1.0);
                            s.tokens =
                                (s.tokens + (now - s.refilled).as_secs_f64() * rate).min(burst);
                            s.refilled = now;
                            if s.tokens >= 1.0 {
                                s.tokens -= 1.0;
                                None
                            } else {
                                Some(Duration::from_secs_f64((1.0 - s.tokens) / rate))
                            }
                        }
                    },
                }
            };
            match wait {
                None => return,
                Some(d) => tokio::time::sleep(d).await,
            }
        }
    }

    /// A request succeeded: the pace grows by about a tenth (at least one request per second) each second
    /// up to 90 % of the rate last refused, stays there for 30 s, then grows by 1 % a second.
    pub fn success(&self) {
        let mut s = self.state();
        if let Some(rate) = s.rate {
            let per_success = |per_second: f64| per_second / rate.max(1.0);
            let next = match s.ceiling {
                Some(c) if rate >= 0.9 * c => {
                    if s.last_cut.is_some_and(|t| t.elapsed() < HOLD) {
                        rate
                    } else {
                        rate + per_success(rate / 100.0)
                    }
                }
                Some(c) => (rate + per_success((rate / 10.0).max(1.0))).min(0.9 * c),
                None => rate + per_success((rate / 10.0).max(1.0)),
            };
            s.rate = Some(next);
            if next > s.logged * 1.25 {
                s.logged = next;
                tracing::info!("{}: pacing at {next:.1} requests/s", self.name);
            }
        }
    }

    /// The service refused a request for its rate: the pace halves (once per round trip of refusals) and
    /// everyone waits `retry_after` when the service gave one.
    pub fn limited(&self, retry_after: Option<Duration>) {
        let mut s = self.state();
        let now = Instant::now();
        if let Some(ra) = retry_after {
            // The header is the service's word: a huge one must neither overflow `Instant` nor stop
            // every transfer of the remote for hours.
            let until = now + ra.min(MAX_PAUSE);
            if s.paused_until.is_none_or(|t| t < until) {
                s.paused_until = Some(until);
            }
        }
        // Once pacing, every refusal says the pace is still too high, however far apart they come.
        let lone = s.rate.is_none() && s.last_refusal.is_none_or(|t| now - t > REFUSALS_WINDOW);
        s.last_refusal = Some(now);
        if lone {
            return;
        }
        let current = match s.rate {
            Some(r) => r,
            None => s.starts.len() as f64 / WINDOW.as_secs_f64(),
        };
        // Requests already in flight when the first refusal came are refused too: one cut for them all.
        let spacing =
            Duration::from_secs_f64(1.0 / current.max(MIN_RATE)).min(Duration::from_secs(1));
        if s.last_cut.is_some_and(|t| now - t < spacing) {
            return;
        }
        // The first cut halves a pace nobody chose; later ones fall back from a limit found by probing.
        // Only a paced rate is a limit found: the rate counted before pacing is a guess from a burst.
        let factor = if s.rate.is_some() { 0.7 } else { 0.5 };
        let next = (current * factor).max(MIN_RATE);
        if s.rate.is_some() {
            s.ceiling = Some(current);
        }
        s.rate = Some(next);
        s.tokens = 0.0;
        s.refilled = now;
        s.last_cut = Some(now);
        s.starts.clear();
        s.logged = next;
        tracing::info!(
            "{}: the service asks to slow down; pacing at {next:.1} requests/s{}",
            self.name,
            retry_after
                .map(|d| format!(" after a {d:?} pause"))
                .unwrap_or_default()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_backoffs_differ_and_stay_under_their_ceiling() {
        let a: Vec<Duration> =
            FullJitter::new(Duration::from_millis(200), Duration::from_secs(30), 6).collect();
        let b: Vec<Duration> =
            FullJitter::new(Duration::from_millis(200), Duration::from_secs(30), 6).collect();
        assert_eq!(a.len(), 6);
        assert_ne!(a, b, "two retry sequences are not in lock step");
        for (i, d) in a.iter().enumerate() {
            assert!(*d <= Duration::from_millis(200) * (1 << i), "{i}: {d:?}");
        }
        let many: std::collections::HashSet<Duration> = (0..50)
            .map(|_| full_jitter(3, Duration::from_millis(100), Duration::from_secs(5)))
            .collect();
        assert!(
            many.len() > 45,
            "delays spread out: {} distinct of 50",
            many.len()
        );
    }

    #[test]
    fn a_huge_retry_after_pauses_a_minute_at_most() {
        let p = Pacer::new("test");
        p.limited(Some(Duration::MAX));
        p.limited(Some(Duration::from_secs(u64::MAX / 2)));
        let until = p.state().paused_until.unwrap();
        assert!(until <= Instant::now() + MAX_PAUSE, "{until:?}");
        assert!(until > Instant::now() + MAX_PAUSE - Duration::from_secs(5));
    }

    #[tokio::test]
    async fn remembers_the_rate_refused_and_holds_under_it() {
        let p = Pacer::new("test");
        for _ in 0..40 {
            p.acquire().await;
        }
        p.limited(None);
        p.limited(None);
        let first = p.rate().unwrap();
        for _ in 0..100 {
            p.success();
        }
        let grown = p.rate().unwrap();
        assert!(
            grown > first * 2.0,
            "the unpaced rate was a guess, not a limit: {first} -> {grown}"
        );
        std::thread::sleep(Duration::from_millis(100));
        // While pacing, one refusal is enough: sparse refusals mean a pace just above the limit.
        p.limited(None);
        let cut = p.rate().unwrap();
        assert!((cut - grown * 0.7).abs() < 1e-9, "cut to 70 %: {cut}");
        for _ in 0..500 {
            p.success();
        }
        let held = p.rate().unwrap();
        assert!(
            (held - grown * 0.9).abs() < 1e-9,
            "climbs to 90 % of the refused rate and holds: {held}"
        );
        std::thread::sleep(Duration::from_millis(100));
        p.limited(None);
        assert!((p.rate().unwrap() - held * 0.7).abs() < 1e-9);
        for _ in 0..500 {
            p.success();
        }
        assert!((p.rate().unwrap() - held * 0.9).abs() < 1e-9);
    }

    #[tokio::test]
    async fn halves_on_refusal_and_grows_back() {
        let p = Pacer::new("test");
        for _ in 0..40 {
            p.acquire().await;
        }
        assert_eq!(p.rate(), None, "no pacing before a refusal");
        p.limited(None);
        assert_eq!(p.rate(), None, "a lone refusal is a glitch, not a limit");
        p.limited(None);
        let r = p.rate().unwrap();
        assert!((9.0..=10.5).contains(&r), "half the recent rate: {r}");
        p.limited(None);
        assert_eq!(p.rate().unwrap(), r, "refusals in one round trip cut once");
        for _ in 0..20 {
            p.success();
        }
        assert!(
            p.rate().unwrap() > r + 1.5,
            "additive increase: {:?}",
            p.rate()
        );
        // Paced: five requests at ~12/s take about a third of a second.
        let t = Instant::now();
        for _ in 0..5 {
            p.acquire().await;
        }
        assert!(
            t.elapsed() >= Duration::from_millis(250),
            "{:?}",
            t.elapsed()
        );
        // Retry-After pauses everyone.
        std::thread::sleep(Duration::from_millis(1100));
        p.limited(Some(Duration::from_millis(300)));
        p.limited(Some(Duration::from_millis(300)));
        let t = Instant::now();
        p.acquire().await;
        assert!(
            t.elapsed() >= Duration::from_millis(290),
            "{:?}",
            t.elapsed()
        );
    }
}
