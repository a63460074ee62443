//! Per-user budgets of expensive work (token buckets): a search walks folders, and every folder listed
//! there may cost the user's quota at the remote.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token bucket per key: up to `capacity` units, refilled at `capacity` per `period`.
#[derive(Debug)]
pub struct Buckets {
    capacity: f64,
    per_sec: f64,
    all: Mutex<HashMap<String, (f64, Instant)>>,
}

/// Keys tracked at most (full buckets are forgotten first).
const MAX_KEYS: usize = 100_000;

impl Buckets {
    /// Buckets of `capacity` units refilled over `period`.
    pub fn new(capacity: u32, period: Duration) -> Self {
        Buckets {
            capacity: capacity as f64,
            per_sec: capacity as f64 / period.as_secs_f64().max(0.001),
            all: Mutex::new(HashMap::new()),
        }
    }

    /// Takes up to `n` units from `key`'s bucket; how many it got.
    pub fn take(&self, key: &str, n: u32) -> u32 {
        let mut all = self.all.lock().unwrap_or_else(|p| p.into_inner());
        if all.len() >= MAX_KEYS {
            let (cap, rate) = (self.capacity, self.per_sec);
            all.retain(|_, (v, at)| *v + at.elapsed().as_secs_f64() * rate < cap);
        }
        let b = all
            .entry(key.to_string())
            .or_insert((self.capacity, Instant::now()));
        b.0 = (b.0 + b.1.elapsed().as_secs_f64() * self.per_sec).min(self.capacity);
        b.1 = Instant::now();
        let got = b.0.floor().min(n as f64).max(0.0);
        b.0 -= got;
        got as u32
    }

    /// Returns `n` unused units to `key`'s bucket.
    pub fn give_back(&self, key: &str, n: u32) {
        let mut all = self.all.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = all.get_mut(key) {
            b.0 = (b.0 + n as f64).min(self.capacity);
        }
    }

    /// How long until `key` has one unit again.
    pub fn wait(&self, key: &str) -> Duration {
        let all = self.all.lock().unwrap_or_else(|p| p.into_inner());
        match all.get(key) {
            Some((v, at)) => {
                let now = v + at.elapsed().as_secs_f64() * self.per_sec;
                Duration::from_secs_f64(((1.0 - now) / self.per_sec).max(0.0))
            }
            None => Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_run_dry_and_refill() {
        let b = Buckets::new(10, Duration::from_secs(1));
        assert_eq!(b.take("a", 7), 7);
        assert_eq!(b.take("a", 7), 3);
        assert_eq!(b.take("a", 1), 0);
        assert_eq!(b.take("b", 1), 1, "per key");
        std::thread::sleep(Duration::from_millis(250));
        assert!(b.take("a", 10) >= 2);
    }
}
