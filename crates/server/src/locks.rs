//! WebDAV locks, kept per real location and per owner.
//!
//! dav-server's own in-memory lock system keys locks by the path a client sends, which under per-user base
//! folders is the same (`/dav/`) for everyone, shows every lock's token to anyone, and lets anyone unlock.
//! Here a lock is kept by its **tree path** (the place it really locks), belongs to the user who took it,
//! is discovered and released only by that user (administrators may break any), times out after at most
//! [`MAX_TIMEOUT`], and the number of locks is bounded per user and in all. [`UserLocks`] is the view of
//! one signed-in user, built for each request; nothing in it panics on a request's input.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use dav_server::davpath::DavPath;
use dav_server::ls::{DavLock, DavLockSystem, LsFuture};
use futures_util::FutureExt;
use xmltree::Element;

use crate::users::User;

/// The longest a lock lasts without a refresh (a client asking for more, or for `Infinite`, gets this).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
/// Locks one user may hold at once.
pub const MAX_PER_USER: usize = 200;
/// Locks held at once in all.
pub const MAX_TOTAL: usize = 10_000;
/// The largest `owner` element kept with a lock, in bytes of XML (a larger one is not stored).
pub const MAX_OWNER_XML: usize = 2048;

/// One lock.
#[derive(Debug, Clone)]
struct Held {
    /// Where it is, in the tree.
    at: String,
    /// The path the owner locked, as the owner sees it.
    dav_path: DavPath,
    /// Who took it.
    user: String,
    owner: Option<Element>,
    expires: SystemTime,
    timeout: Duration,
    shared: bool,
    deep: bool,
}

/// Every lock of the server.
#[derive(Debug, Default)]
pub struct Locks {
    held: Mutex<HashMap<String, Held>>,
}

/// A lock as administrators see it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LockInfo {
    /// The lock token.
    pub token: String,
    /// The tree path it locks.
    pub path: String,
    /// Whose it is.
    pub user: String,
    /// Seconds until it times out.
    pub expires_in: u64,
    /// Shared (else exclusive).
    pub shared: bool,
    /// Covers everything below.
    pub deep: bool,
}

/// Whether `p` is `root` or below it (clean tree paths).
fn within(p: &str, root: &str) -> bool {
    p == root
        || root == "/"
        || p.strip_prefix(root)
            .is_some_and(|rest| rest.starts_with('/'))
}

impl Held {
    /// Whether this lock applies to `path` itself (it is there, or it is deep above it).
    fn covers(&self, path: &str) -> bool {
        self.at == path || (self.deep && within(path, &self.at))
    }

    fn as_dav(&self, token: &str) -> DavLock {
        DavLock {
            token: token.to_string(),
            path: Box::new(self.dav_path.clone()),
            principal: Some(self.user.clone()),
            owner: self.owner.clone().map(Box::new),
            timeout_at: Some(self.expires),
            timeout: Some(self.timeout),
            shared: self.shared,
            deep: self.deep,
        }
    }
}

fn new_token() -> String {
    let b: [u8; 16] = rand::random();
    let h = hex::encode(b);
    format!(
        "urn:uuid:{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

fn owner_size(e: &Element) -> usize {
    let mut out = Vec::new();
    match e.write(&mut out) {
        Ok(()) => out.len(),
        Err(_) => usize::MAX,
    }
}

impl Locks {
    fn table(&self) -> MutexGuard<'_, HashMap<String, Held>> {
        // A panic elsewhere must not make every later request fail: the table stays usable.
        let mut t = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let now = SystemTime::now();
        t.retain(|_, h| h.expires > now);
        t
    }

    /// Every lock (for administrators).
    pub fn list(&self) -> Vec<LockInfo> {
        let now = SystemTime::now();
        let mut v: Vec<LockInfo> = self
            .table()
            .iter()
            .map(|(t, h)| LockInfo {
                token: t.clone(),
                path: h.at.clone(),
                user: h.user.clone(),
                expires_in: h.expires.duration_since(now).unwrap_or_default().as_secs(),
                shared: h.shared,
                deep: h.deep,
            })
            .collect();
        v.sort_by(|a, b| a.path.cmp(&b.path).then(a.token.cmp(&b.token)));
        v
    }

    /// Breaks a lock (administrators); whether there was one.
    pub fn remove(&self, token: &str) -> bool {
        self.table().remove(token).is_some()
    }

    /// Drops every lock of `user` (when the user is removed).
    pub fn drop_user(&self, user: &str) {
        self.table().retain(|_, h| h.user != user);
    }

    /// How many locks there are.
    pub fn len(&self) -> usize {
        self.table().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The locks as one signed-in user sees them: the lock system dav-server is given for that user's request.
#[derive(Debug, Clone)]
pub struct UserLocks {
    locks: Arc<Locks>,
    user: User,
}

impl UserLocks {
    /// `user`'s view of `locks`.
    pub fn new(locks: Arc<Locks>, user: User) -> Self {
        UserLocks { locks, user }
    }

    fn at(&self, path: &DavPath) -> Option<String> {
        crate::dav::tree_path(path, &self.user).ok()
    }

    /// A lock that says "no" (dav-server answers 423 Locked with it).
    fn refusal(&self, path: &DavPath) -> DavLock {
        DavLock {
            token: String::new(),
            path: Box::new(path.clone()),
            principal: None,
            owner: None,
            timeout_at: None,
            timeout: None,
            shared: false,
            deep: false,
        }
    }

    fn may_release(&self, h: &Held) -> bool {
        h.user == self.user.name || self.user.is_admin
    }

    fn lock_now(
        &self,
        path: &DavPath,
        owner: Option<&Element>,
        timeout: Option<Duration>,
        shared: bool,
        deep: bool,
    ) -> Result<DavLock, DavLock> {
        let Some(at) = self.at(path) else {
            return Err(self.refusal(path));
        };
        let mut t = self.locks.table();
        let conflict = t.iter().find(|(_, h)| {
            (h.covers(&at) || (deep && within(&h.at, &at))) && !(h.shared && shared)
        });
        if let Some((token, h)) = conflict {
            return Err(if h.user == self.user.name {
                h.as_dav(token)
            } else {
                self.refusal(path)
            });
        }
        let mine = t.values().filter(|h| h.user == self.user.name).count();
        if mine >= MAX_PER_USER || t.len() >= MAX_TOTAL {
            tracing::warn!("{}: lock refused, too many locks", self.user.name);
            return Err(self.refusal(path));
        }
        let timeout = timeout.unwrap_or(MAX_TIMEOUT).min(MAX_TIMEOUT);
        let held = Held {
            at,
            dav_path: path.clone(),
            user: self.user.name.clone(),
            owner: owner.filter(|o| owner_size(o) <= MAX_OWNER_XML).cloned(),
            expires: SystemTime::now() + timeout,
            timeout,
            shared,
            deep,
        };
        let token = new_token();
        let lock = held.as_dav(&token);
        t.insert(token, held);
        Ok(lock)
    }

    /// The token's lock, when it applies to `path` and this user may change it.
    fn find<'t>(
        &self,
        t: &'t mut HashMap<String, Held>,
        path: &DavPath,
        token: &str,
    ) -> Option<&'t mut Held> {
        let at = self.at(path)?;
        let h = t.get_mut(token)?;
        (within(&at, &h.at) && self.may_release(h)).then_some(h)
    }

    fn check_now(
        &self,
        path: &DavPath,
        principal: Option<&str>,
        ignore_principal: bool,
        deep: bool,
        tokens: &[String],
    ) -> Result<(), DavLock> {
        let Some(at) = self.at(path) else {
            return Ok(());
        };
        let t = self.locks.table();
        let held_by_caller = |token: &str, h: &Held| {
            tokens.iter().any(|s| s == token)
                && (ignore_principal || principal == Some(h.user.as_str()))
        };
        let mut holds_one = false;
        let mut shared_not_held = None;
        for (token, h) in t.iter().filter(|(_, h)| h.covers(&at)) {
            if held_by_caller(token, h) {
                holds_one = true;
            } else if !h.shared {
                return Err(self.visible(token, h, path));
            } else {
                shared_not_held.get_or_insert((token, h));
            }
        }
        if !holds_one && let Some((token, h)) = shared_not_held {
            return Err(self.visible(token, h, path));
        }
        if deep {
            for (token, h) in t.iter() {
                if h.at != at && within(&h.at, &at) && !held_by_caller(token, h) {
                    return Err(self.visible(token, h, path));
                }
            }
        }
        Ok(())
    }

    /// A conflicting lock as this user may see it: whole when it is theirs, without token or owner
    /// otherwise.
    fn visible(&self, token: &str, h: &Held, path: &DavPath) -> DavLock {
        if h.user == self.user.name {
            h.as_dav(token)
        } else {
            self.refusal(path)
        }
    }
}

impl DavLockSystem for UserLocks {
    fn lock(
        &'_ self,
        path: &DavPath,
        _principal: Option<&str>,
        owner: Option<&Element>,
        timeout: Option<Duration>,
        shared: bool,
        deep: bool,
    ) -> LsFuture<'_, Result<DavLock, DavLock>> {
        futures_util::future::ready(self.lock_now(path, owner, timeout, shared, deep)).boxed()
    }

    fn unlock(&'_ self, path: &DavPath, token: &str) -> LsFuture<'_, Result<(), ()>> {
        let mut t = self.locks.table();
        let ok = self.find(&mut t, path, token).is_some();
        if ok {
            t.remove(token);
        }
        futures_util::future::ready(if ok { Ok(()) } else { Err(()) }).boxed()
    }

    fn refresh(
        &'_ self,
        path: &DavPath,
        token: &str,
        timeout: Option<Duration>,
    ) -> LsFuture<'_, Result<DavLock, ()>> {
        let mut t = self.locks.table();
        let r = match self.find(&mut t, path, token) {
            Some(h) => {
                let timeout = timeout.unwrap_or(MAX_TIMEOUT).min(MAX_TIMEOUT);
                h.timeout = timeout;
                h.expires = SystemTime::now() + timeout;
                Ok(h.as_dav(token))
            }
            None => Err(()),
        };
        futures_util::future::ready(r).boxed()
    }

    fn check(
        &'_ self,
        path: &DavPath,
        principal: Option<&str>,
        ignore_principal: bool,
        deep: bool,
        submitted_tokens: &[String],
    ) -> LsFuture<'_, Result<(), DavLock>> {
        futures_util::future::ready(self.check_now(
            path,
            principal,
            ignore_principal,
            deep,
            submitted_tokens,
        ))
        .boxed()
    }

    fn discover(&'_ self, path: &DavPath) -> LsFuture<'_, Vec<DavLock>> {
        let found = match self.at(path) {
            Some(at) => self
                .locks
                .table()
                .iter()
                .filter(|(_, h)| h.user == self.user.name && h.covers(&at))
                .map(|(t, h)| h.as_dav(t))
                .collect(),
            None => Vec::new(),
        };
        futures_util::future::ready(found).boxed()
    }

    fn delete(&'_ self, path: &DavPath) -> LsFuture<'_, Result<(), ()>> {
        if let Some(at) = self.at(path) {
            self.locks.table().retain(|_, h| !within(&h.at, &at));
        }
        futures_util::future::ready(Ok(())).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, base: &str, admin: bool) -> User {
        User {
            name: name.into(),
            base_path: base.into(),
            can_write: true,
            is_admin: admin,
        }
    }

    fn p(s: &str) -> DavPath {
        DavPath::new(s).unwrap()
    }

    #[tokio::test]
    async fn locks_live_at_the_tree_path_and_belong_to_their_owner() {
        let all = Arc::new(Locks::default());
        let ann = UserLocks::new(all.clone(), user("ann", "/m/ann", false));
        let bob = UserLocks::new(all.clone(), user("bob", "/m/bob", false));
        let root = UserLocks::new(all.clone(), user("root", "/", true));
        let l = ann
            .lock(&p("/f"), None, None, None, false, false)
            .await
            .unwrap();
        assert_eq!(
            l.timeout,
            Some(MAX_TIMEOUT),
            "no Timeout means the cap, not Infinite"
        );
        // bob's /f is another file: no conflict, and he sees nothing of ann's lock.
        assert!(
            bob.check(&p("/f"), Some("bob"), false, false, &[])
                .await
                .is_ok()
        );
        assert!(bob.discover(&p("/f")).await.is_empty());
        assert!(
            bob.lock(&p("/f"), None, None, None, false, false)
                .await
                .is_ok()
        );
        // The admin's /m/ann/f is ann's file: locked, and the token is not shown.
        let e = root
            .check(&p("/m/ann/f"), Some("root"), false, false, &[])
            .await
            .unwrap_err();
        assert!(e.token.is_empty(), "another user's token stays hidden");
        // A token alone is not enough: it must be the owner's request.
        let stolen = vec![l.token.clone()];
        assert!(bob.unlock(&p("/f"), &l.token).await.is_err());
        assert!(
            root.check(&p("/m/ann/f"), Some("root"), false, false, &stolen)
                .await
                .is_err()
        );
        assert!(
            ann.check(&p("/f"), Some("ann"), false, false, &stolen)
                .await
                .is_ok()
        );
        // Administrators may break it.
        assert!(root.unlock(&p("/m/ann/f"), &l.token).await.is_ok());
        assert!(
            root.check(&p("/m/ann/f"), Some("root"), false, false, &[])
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn deep_locks_timeouts_and_bounds() {
        let all = Arc::new(Locks::default());
        let ann = UserLocks::new(all.clone(), user("ann", "/", false));
        let d = ann
            .lock(
                &p("/a/"),
                None,
                None,
                Some(Duration::from_secs(1 << 40)),
                false,
                true,
            )
            .await
            .unwrap();
        assert_eq!(d.timeout, Some(MAX_TIMEOUT), "timeout capped");
        assert!(
            ann.check(&p("/a/b/c"), Some("ann"), false, false, &[])
                .await
                .is_err()
        );
        assert!(
            ann.check(&p("/ab"), Some("ann"), false, false, &[])
                .await
                .is_ok(),
            "a sibling prefix"
        );
        assert!(
            ann.lock(&p("/a/b"), None, None, None, false, false)
                .await
                .is_err()
        );
        assert!(ann.delete(&p("/a")).await.is_ok());
        assert!(all.is_empty());
        for i in 0..MAX_PER_USER {
            ann.lock(&p(&format!("/f{i}")), None, None, None, false, false)
                .await
                .unwrap();
        }
        assert!(
            ann.lock(&p("/one-more"), None, None, None, false, false)
                .await
                .is_err()
        );
        let big =
            Element::parse(format!("<owner>{}</owner>", "x".repeat(10_000)).as_bytes()).unwrap();
        let bob = UserLocks::new(all.clone(), user("bob", "/", false));
        let l = bob
            .lock(&p("/g"), None, Some(&big), None, false, false)
            .await
            .unwrap();
        assert!(l.owner.is_none(), "an oversized owner is not kept");
        // Unlocking the root (which panicked in dav-server's own lock system) is just refused.
        assert!(bob.unlock(&p("/"), "urn:uuid:nothing").await.is_err());
    }
}
