//! Access tokens and where they come from.
//!
//! A [`TokenCache`] wraps a [`Refresher`] (the OAuth refresh grant, a service-account JWT grant, …). It hands
//! out the cached token until it is within a margin of expiry; then the first caller refreshes while every
//! other caller waits on the same lock and receives the new token, so N concurrent requests cause one refresh.
//! [`TokenSource::invalidate`] drops a token the service rejected (401) so the next call refreshes.

use std::fmt;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use cloudmux_core::Result;

use crate::Secret;

/// An access token and when it stops working.
#[derive(Clone, Debug)]
pub struct AccessToken {
    /// The token.
    pub secret: Secret,
    /// When it expires; `None` when unknown or never.
    pub expires_at: Option<SystemTime>,
    /// How long it was issued for, when known: a short-lived token is renewed a quarter of its life
    /// ahead at most, not a whole margin meant for hour-long ones (which would renew it on every call).
    pub lifetime: Option<Duration>,
}

impl AccessToken {
    /// A token that expires `expires_in` seconds from now.
    pub fn expiring_in(secret: impl Into<String>, expires_in: Option<u64>) -> Self {
        AccessToken {
            secret: Secret::new(secret),
            expires_at: expires_in.map(|s| SystemTime::now() + Duration::from_secs(s)),
            lifetime: expires_in.map(Duration::from_secs),
        }
    }

    /// Whether it expires within `margin` from now.
    pub fn expires_within(&self, margin: Duration) -> bool {
        match self.expires_at {
            Some(t) => t <= SystemTime::now() + margin,
            None => false,
        }
    }
}

/// Something that hands out access tokens for requests.
#[async_trait]
pub trait TokenSource: Send + Sync + fmt::Debug {
    /// A token valid for at least a little while.
    async fn token(&self) -> Result<Secret>;
    /// Forgets `token` because the service rejected it; the next [`TokenSource::token`] gets a fresh one.
    async fn invalidate(&self, token: &Secret);
}

/// Gets a new access token (by a refresh grant, a JWT grant, …).
#[async_trait]
pub trait Refresher: Send + Sync + fmt::Debug {
    /// Obtains a fresh token.
    async fn refresh(&self) -> Result<AccessToken>;
}

/// Caches a token and refreshes it ahead of expiry, once for all waiters.
pub struct TokenCache<R> {
    refresher: R,
    margin: Duration,
    current: tokio::sync::Mutex<Option<AccessToken>>,
}

impl<R> fmt::Debug for TokenCache<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("margin", &self.margin)
            .finish_non_exhaustive()
    }
}

impl<R: Refresher> TokenCache<R> {
    /// A cache starting from `initial` (may be `None`), refreshing `margin` before expiry.
    pub fn new(refresher: R, initial: Option<AccessToken>, margin: Duration) -> Self {
        TokenCache {
            refresher,
            margin,
            current: tokio::sync::Mutex::new(initial),
        }
    }

    /// The refresher inside.
    pub fn refresher(&self) -> &R {
        &self.refresher
    }
}

#[async_trait]
impl<R: Refresher> TokenSource for TokenCache<R> {
    async fn token(&self) -> Result<Secret> {
        let mut cur = self.current.lock().await;
        if let Some(t) = cur.as_ref()
            && !t.expires_within(t.lifetime.map_or(self.margin, |l| self.margin.min(l / 4)))
        {
            return Ok(t.secret.clone());
        }
        tracing::debug!("refreshing access token");
        let fresh = self.refresher.refresh().await?;
        let s = fresh.secret.clone();
        *cur = Some(fresh);
        Ok(s)
    }

    async fn invalidate(&self, token: &Secret) {
        let mut cur = self.current.lock().await;
        if cur.as_ref().is_some_and(|t| &t.secret == token) {
            *cur = None;
        }
    }
}

/// A fixed token (for tests and for tokens passed on the command line).
#[derive(Debug, Clone)]
pub struct StaticToken(pub Secret);

#[async_trait]
impl TokenSource for StaticToken {
    async fn token(&self) -> Result<Secret> {
        Ok(self.0.clone())
    }
    async fn invalidate(&self, _: &Secret) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts its refreshes; hands out tokens `PREFIX1`, `PREFIX2` … of `lifetime` seconds, after 50 ms.
    #[derive(Debug)]
    struct Counting {
        refreshes: AtomicUsize,
        prefix: &'static str,
        lifetime: u64,
    }

    impl Counting {
        fn new(prefix: &'static str, lifetime: u64) -> Arc<Self> {
            Arc::new(Counting {
                refreshes: AtomicUsize::new(0),
                prefix,
                lifetime,
            })
        }

        fn refreshes(&self) -> usize {
            self.refreshes.load(Ordering::SeqCst)
        }
    }

    #[async_trait]
    impl Refresher for Arc<Counting> {
        async fn refresh(&self) -> Result<AccessToken> {
            let n = self.refreshes.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(AccessToken::expiring_in(
                format!("{}{n}", self.prefix),
                Some(self.lifetime),
            ))
        }
    }

    #[tokio::test]
    async fn concurrent_waiters_share_one_refresh() {
        let c = Counting::new("t", 3600);
        let cache = Arc::new(TokenCache::new(c.clone(), None, Duration::from_secs(60)));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.token().await.unwrap() })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().expose(), "t1");
        }
        assert_eq!(c.refreshes(), 1);
    }

    #[tokio::test]
    async fn refreshes_ahead_of_expiry_and_after_invalidate() {
        let c = Counting::new("t", 3600);
        // As loaded from a token file: its lifetime is not known, so the whole margin applies.
        let near = AccessToken {
            lifetime: None,
            ..AccessToken::expiring_in("old", Some(10))
        };
        let cache = TokenCache::new(c.clone(), Some(near), Duration::from_secs(60));
        assert_eq!(
            cache.token().await.unwrap().expose(),
            "t1",
            "a token 10 s from expiry is refreshed"
        );
        let t = cache.token().await.unwrap();
        assert_eq!(t.expose(), "t1");
        cache.invalidate(&t).await;
        assert_eq!(cache.token().await.unwrap().expose(), "t2");
        cache.invalidate(&Secret::new("stale")).await;
        assert_eq!(
            cache.token().await.unwrap().expose(),
            "t2",
            "invalidating another token changes nothing"
        );
    }

    #[tokio::test]
    async fn a_short_lived_token_is_used_for_most_of_its_life() {
        // A margin meant for hour-long tokens would renew a 4-second one on every call, and every
        // request would wait for a refresh behind the lock.
        let c = Counting::new("s", 4);
        let cache = TokenCache::new(c.clone(), None, Duration::from_secs(60));
        for _ in 0..10 {
            assert_eq!(cache.token().await.unwrap().expose(), "s1");
        }
        assert_eq!(c.refreshes(), 1, "one refresh for ten calls");
        let near = AccessToken::expiring_in("old", Some(4));
        let near = AccessToken {
            expires_at: Some(SystemTime::now() + Duration::from_millis(500)),
            ..near
        };
        let cache = TokenCache::new(c.clone(), Some(near), Duration::from_secs(60));
        assert_eq!(
            cache.token().await.unwrap().expose(),
            "s2",
            "within a quarter of its life of expiry, it is renewed"
        );
    }
}
