//! Download tickets: links to one file that need no header, for the browser's own downloads, `<img>`,
//! `<video>` and `<audio>` elements.
//!
//! A ticket is bound to the user and the session that asked for it, and every use checks again that the
//! session is alive (logout, a new password or a removed user end it) and that the file is still inside the
//! user's base folder (the base may have changed). A ticket expires after [`IDLE`] without use and
//! [`LIFETIME`] after it was made, whichever comes first; a player that keeps reading keeps its ticket.
//! Their number is bounded per user and in all. On PostgreSQL they live in the database (by the SHA-256
//! of their value), so a link made through one server process works through any other.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cloudmux_core::{Error, Result};

use crate::house::db::Db;
use crate::house::users::{User, Users, token_hash};
use crate::now_ms;

/// A ticket unused this long is gone.
pub const IDLE: Duration = Duration::from_secs(300);
/// A ticket lasts at most this long however it is used.
pub const LIFETIME: Duration = Duration::from_secs(2 * 3600);
/// Tickets one user may hold.
pub const MAX_PER_USER: usize = 500;
/// Tickets held in all.
pub const MAX_TOTAL: usize = 50_000;

#[derive(Debug)]
struct Ticket {
    user: String,
    /// SHA-256 of the session (or API token) that asked for it.
    session: String,
    /// The file, as a tree path.
    path: String,
    made: Instant,
    used: Instant,
}

impl Ticket {
    fn alive(&self) -> bool {
        self.used.elapsed() < IDLE && self.made.elapsed() < LIFETIME
    }
}

/// Every ticket: in memory, or in the shared database.
#[derive(Debug, Default)]
pub struct Tickets {
    all: Mutex<HashMap<String, Ticket>>,
    db: Option<Db>,
}

/// Whether the clean tree path `p` is `base` or below it.
pub fn within(p: &str, base: &str) -> bool {
    base == "/"
        || p == base
        || p.strip_prefix(base)
            .is_some_and(|rest| rest.starts_with('/'))
}

fn expired() -> Error {
    Error::not_found("download link")
        .with_hint("the link expired or its session ended: ask for a new one")
}

fn too_many() -> Error {
    Error::new(
        cloudmux_core::ErrorKind::RateLimited,
        "too many download links are open",
    )
    .with_hint("wait a few minutes for unused links to expire")
}

impl Tickets {
    /// Tickets kept in `db`, valid through every server process on it (PostgreSQL).
    pub fn shared(db: Db) -> Self {
        Tickets {
            all: Default::default(),
            db: Some(db),
        }
    }

    /// Makes a ticket for `user`'s session (`session_hash`: SHA-256 of its token) to the tree path `path`.
    pub async fn issue(&self, user: &User, session_hash: &str, path: &str) -> Result<String> {
        if let Some(db) = &self.db {
            let t = cloudmux_auth::oauth::random_token(24);
            let now = now_ms();
            let stored = db
                .add_ticket(
                    &token_hash(&t),
                    &user.name,
                    session_hash,
                    path,
                    now,
                    now - IDLE.as_millis() as i64,
                    now - LIFETIME.as_millis() as i64,
                    (MAX_PER_USER, MAX_TOTAL),
                )
                .await?;
            return if stored { Ok(t) } else { Err(too_many()) };
        }
        let mut all = self.all.lock().unwrap_or_else(|p| p.into_inner());
        all.retain(|_, t| t.alive());
        let mine = all.values().filter(|t| t.user == user.name).count();
        if mine >= MAX_PER_USER || all.len() >= MAX_TOTAL {
            return Err(too_many());
        }
        let t = cloudmux_auth::oauth::random_token(24);
        let now = Instant::now();
        all.insert(
            t.clone(),
            Ticket {
                user: user.name.clone(),
                session: session_hash.to_string(),
                path: path.to_string(),
                made: now,
                used: now,
            },
        );
        Ok(t)
    }

    /// The tree path a ticket leads to, when the ticket is alive, its session still valid and the file
    /// still within its user's base folder.
    pub async fn redeem(&self, users: &Users, ticket: &str) -> Result<String> {
        if let Some(db) = &self.db {
            let hash = token_hash(ticket);
            let now = now_ms();
            let Some(crate::house::db::TicketRow {
                user_name: user,
                session,
                path,
                made,
                used,
                ..
            }) = db.ticket(&hash).await?
            else {
                return Err(expired());
            };
            let fresh =
                now - used < IDLE.as_millis() as i64 && now - made < LIFETIME.as_millis() as i64;
            let alive = fresh
                && match users.token_user(&session).await? {
                    Some((u, _)) => u.name == user && within(&path, &u.base_path),
                    None => false,
                };
            if !alive {
                db.drop_tickets(Some(&hash), None).await?;
                return Err(expired());
            }
            db.touch_ticket(&hash, now).await?;
            return Ok(path);
        }
        let (user, session, path) = {
            let all = self.all.lock().unwrap_or_else(|p| p.into_inner());
            match all.get(ticket).filter(|t| t.alive()) {
                Some(t) => (t.user.clone(), t.session.clone(), t.path.clone()),
                None => return Err(expired()),
            }
        };
        let alive = match users.token_user(&session).await? {
            Some((u, _)) => u.name == user && within(&path, &u.base_path),
            None => false,
        };
        let mut all = self.all.lock().unwrap_or_else(|p| p.into_inner());
        if !alive {
            all.remove(ticket);
            return Err(expired());
        }
        if let Some(t) = all.get_mut(ticket) {
            t.used = Instant::now();
        }
        Ok(path)
    }

    /// Drops every ticket of `user` (removed, or signed out everywhere).
    pub async fn drop_user(&self, user: &str) {
        if let Some(db) = &self.db
            && let Err(e) = db.drop_tickets(None, Some(user)).await
        {
            tracing::warn!("cannot drop the download links of {user}: {e}");
        }
        self.all
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, t| t.user != user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_is_by_whole_segments() {
        assert!(within("/a/b", "/a"));
        assert!(within("/a", "/a"));
        assert!(!within("/ab", "/a"));
        assert!(within("/anything", "/"));
    }
}
