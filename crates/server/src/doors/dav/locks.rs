//! WebDAV locks, kept per real location and per owner.
//!
//! dav-server's own in-memory lock system keys locks by the path a client sends, which under per-user base
//! folders is the same (`/dav/`) for everyone, shows every lock's token to anyone, and lets anyone unlock.
//! Here a lock is kept by its **tree path** (the place it really locks), belongs to the user who took it,
//! is discovered and released only by that user (administrators may break any), times out after at most
//! [`MAX_TIMEOUT`], and the number of locks is bounded per user and in all. [`UserLocks`] is the view of
//! one signed-in user, built for each request; nothing in it panics on a request's input.
//!
//! On SQLite (one server process) the locks live in memory. On PostgreSQL, where several processes serve
//! the same users behind a load balancer, they live in the database ([`Db::with_locks`]): every change
//! runs in a transaction serialised across processes, so a client's LOCK, PUT and UNLOCK may each land on
//! another process and see the same locks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use dav_server::davpath::DavPath;
use dav_server::ls::{DavLock, DavLockSystem, LsFuture};
use futures_util::FutureExt;
use xmltree::Element;

use crate::house::db::{Db, LockRow};
use crate::house::users::User;

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
    /// `owner` as stored (so an unchanged lock is stored unchanged).
    owner_xml: String,
    expires: SystemTime,
    timeout: Duration,
    shared: bool,
    deep: bool,
}

/// Every lock of the server: in memory, or in the shared database.
#[derive(Debug, Default)]
pub struct Locks {
    held: Mutex<HashMap<String, Held>>,
    db: Option<Db>,
}

fn ms(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Held {
    fn to_row(&self, token: &str) -> LockRow {
        LockRow {
            token: token.to_string(),
            at: self.at.clone(),
            dav_path: self.dav_path.with_prefix().as_url_string(),
            user_name: self.user.clone(),
            owner_xml: self.owner_xml.clone(),
            expires: ms(self.expires),
            timeout_ms: self.timeout.as_millis() as i64,
            shared: self.shared,
            deep: self.deep,
        }
    }

    fn from_row(r: &LockRow) -> Option<Held> {
        let mut dav_path = DavPath::new(&r.dav_path).ok()?;
        dav_path.set_prefix(super::paths::PREFIX).ok()?;
        Some(Held {
            at: r.at.clone(),
            dav_path,
            user: r.user_name.clone(),
            owner: (!r.owner_xml.is_empty())
                .then(|| Element::parse(r.owner_xml.as_bytes()).ok())
                .flatten(),
            owner_xml: r.owner_xml.clone(),
            expires: SystemTime::UNIX_EPOCH + Duration::from_millis(r.expires.max(0) as u64),
            timeout: Duration::from_millis(r.timeout_ms.max(0) as u64),
            shared: r.shared,
            deep: r.deep,
        })
    }
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

/// The owner element as XML that parses back on its own: each element's namespace is declared on it (a
/// client's `<D:owner>` arrives with `D` declared further up, on `lockinfo`).
fn owner_xml(e: &Element) -> Option<String> {
    fn declare(e: &mut Element) {
        if let Some(ns) = e.namespace.clone() {
            let prefix = e.prefix.clone().unwrap_or_default();
            e.namespaces
                .get_or_insert_with(xmltree::Namespace::empty)
                .put(prefix, ns);
        }
        for c in e.children.iter_mut() {
            if let xmltree::XMLNode::Element(c) = c {
                declare(c);
            }
        }
    }
    let mut e = e.clone();
    declare(&mut e);
    let mut out = Vec::new();
    let c = xmltree::EmitterConfig::new().write_document_declaration(false);
    e.write_with_config(&mut out, c).ok()?;
    let xml = String::from_utf8(out).ok()?;
    Element::parse(xml.as_bytes()).ok().map(|_| xml)
}

impl Locks {
    /// Locks kept in `db`, shared by every server process on it (PostgreSQL).
    pub fn shared(db: Db) -> Self {
        Locks {
            held: Default::default(),
            db: Some(db),
        }
    }

    /// Runs `f` over the live locks; with `write`, what it changes is kept. `None` when the database
    /// failed (callers then refuse: a lock that cannot be checked is not granted or passed).
    async fn with<R>(
        &self,
        write: bool,
        f: impl FnOnce(&mut HashMap<String, Held>) -> R,
    ) -> Option<R> {
        let Some(db) = &self.db else {
            return Some(f(&mut self.table()));
        };
        let r = db
            .with_locks(write, crate::now_ms(), |rows| {
                let mut t: HashMap<String, Held> = rows
                    .iter()
                    .filter_map(|r| Some((r.token.clone(), Held::from_row(r)?)))
                    .collect();
                let out = f(&mut t);
                *rows = t.iter().map(|(k, h)| h.to_row(k)).collect();
                out
            })
            .await;
        match r {
            Ok(out) => Some(out),
            Err(e) => {
                tracing::warn!("webdav locks: {e}");
                None
            }
        }
    }

    fn table(&self) -> MutexGuard<'_, HashMap<String, Held>> {
        // A panic elsewhere must not make every later request fail: the table stays usable.
        let mut t = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let now = SystemTime::now();
        t.retain(|_, h| h.expires > now);
        t
    }

    /// Every lock (for administrators).
    pub async fn list(&self) -> Vec<LockInfo> {
        let now = SystemTime::now();
        let mut v: Vec<LockInfo> = self
            .with(false, |t| {
                t.iter()
                    .map(|(t, h)| LockInfo {
                        token: t.clone(),
                        path: h.at.clone(),
                        user: h.user.clone(),
                        expires_in: h.expires.duration_since(now).unwrap_or_default().as_secs(),
                        shared: h.shared,
                        deep: h.deep,
                    })
                    .collect()
            })
            .await
            .unwrap_or_default();
        v.sort_by(|a, b| a.path.cmp(&b.path).then(a.token.cmp(&b.token)));
        v
    }

    /// Breaks a lock (administrators); whether there was one.
    pub async fn remove(&self, token: &str) -> bool {
        self.with(true, |t| t.remove(token).is_some())
            .await
            .unwrap_or(false)
    }

    /// Drops every lock of `user` (when the user is removed).
    pub async fn drop_user(&self, user: &str) {
        self.with(true, |t| t.retain(|_, h| h.user != user)).await;
    }

    /// How many locks there are.
    pub async fn len(&self) -> usize {
        self.with(false, |t| t.len()).await.unwrap_or(0)
    }

    /// Whether there are none.
    pub async fn is_empty(&self) -> bool {
        self.len().await == 0
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
        super::paths::tree_path(path, &self.user).ok()
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

    #[allow(clippy::too_many_arguments)]
    fn lock_now(
        &self,
        t: &mut HashMap<String, Held>,
        path: &DavPath,
        owner: Option<&Element>,
        timeout: Option<Duration>,
        shared: bool,
        deep: bool,
    ) -> Result<DavLock, DavLock> {
        let Some(at) = self.at(path) else {
            return Err(self.refusal(path));
        };
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
        let owner_xml = owner
            .and_then(owner_xml)
            .filter(|x| x.len() <= MAX_OWNER_XML)
            .unwrap_or_default();
        let held = Held {
            at,
            dav_path: path.clone(),
            user: self.user.name.clone(),
            owner: owner.filter(|_| !owner_xml.is_empty()).cloned(),
            owner_xml,
            // Whole milliseconds, as stored.
            expires: SystemTime::UNIX_EPOCH
                + Duration::from_millis(ms(SystemTime::now() + timeout) as u64),
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
        t: &HashMap<String, Held>,
        path: &DavPath,
        principal: Option<&str>,
        ignore_principal: bool,
        deep: bool,
        tokens: &[String],
    ) -> Result<(), DavLock> {
        let Some(at) = self.at(path) else {
            return Ok(());
        };
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
        let (path, owner) = (path.clone(), owner.cloned());
        async move {
            self.locks
                .with(true, |t| {
                    self.lock_now(t, &path, owner.as_ref(), timeout, shared, deep)
                })
                .await
                .unwrap_or_else(|| Err(self.refusal(&path)))
        }
        .boxed()
    }

    fn unlock(&'_ self, path: &DavPath, token: &str) -> LsFuture<'_, Result<(), ()>> {
        let (path, token) = (path.clone(), token.to_string());
        async move {
            let ok = self
                .locks
                .with(true, |t| {
                    let ok = self.find(t, &path, &token).is_some();
                    if ok {
                        t.remove(&token);
                    }
                    ok
                })
                .await
                .unwrap_or(false);
            if ok { Ok(()) } else { Err(()) }
        }
        .boxed()
    }

    fn refresh(
        &'_ self,
        path: &DavPath,
        token: &str,
        timeout: Option<Duration>,
    ) -> LsFuture<'_, Result<DavLock, ()>> {
        let (path, token) = (path.clone(), token.to_string());
        async move {
            self.locks
                .with(true, |t| match self.find(t, &path, &token) {
                    Some(h) => {
                        let timeout = timeout.unwrap_or(MAX_TIMEOUT).min(MAX_TIMEOUT);
                        h.timeout = timeout;
                        h.expires = SystemTime::UNIX_EPOCH
                            + Duration::from_millis(ms(SystemTime::now() + timeout) as u64);
                        Ok(h.as_dav(&token))
                    }
                    None => Err(()),
                })
                .await
                .unwrap_or(Err(()))
        }
        .boxed()
    }

    fn check(
        &'_ self,
        path: &DavPath,
        principal: Option<&str>,
        ignore_principal: bool,
        deep: bool,
        submitted_tokens: &[String],
    ) -> LsFuture<'_, Result<(), DavLock>> {
        let (path, principal, tokens) = (
            path.clone(),
            principal.map(str::to_string),
            submitted_tokens.to_vec(),
        );
        async move {
            self.locks
                .with(false, |t| {
                    self.check_now(
                        t,
                        &path,
                        principal.as_deref(),
                        ignore_principal,
                        deep,
                        &tokens,
                    )
                })
                .await
                .unwrap_or_else(|| Err(self.refusal(&path)))
        }
        .boxed()
    }

    fn discover(&'_ self, path: &DavPath) -> LsFuture<'_, Vec<DavLock>> {
        let at = self.at(path);
        async move {
            let Some(at) = at else {
                return Vec::new();
            };
            self.locks
                .with(false, |t| {
                    t.iter()
                        .filter(|(_, h)| h.user == self.user.name && h.covers(&at))
                        .map(|(t, h)| h.as_dav(t))
                        .collect()
                })
                .await
                .unwrap_or_default()
        }
        .boxed()
    }

    fn delete(&'_ self, path: &DavPath) -> LsFuture<'_, Result<(), ()>> {
        let at = self.at(path);
        async move {
            if let Some(at) = at {
                self.locks
                    .with(true, |t| t.retain(|_, h| !within(&h.at, &at)))
                    .await;
            }
            Ok(())
        }
        .boxed()
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
        assert!(all.is_empty().await);
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
        // An owner as clients send it (its prefix declared on `lockinfo`) is stored so it reads back.
        let info = Element::parse(
            &br#"<D:lockinfo xmlns:D="DAV:"><D:owner><D:href>me</D:href></D:owner></D:lockinfo>"#[..],
        )
        .unwrap();
        let owner = info.get_child("owner").unwrap();
        let back = Element::parse(owner_xml(owner).unwrap().as_bytes()).unwrap();
        assert_eq!(back.name, "owner");
        assert_eq!(back.namespace.as_deref(), Some("DAV:"));
        assert_eq!(back.get_child("href").unwrap().get_text().unwrap(), "me");
        // Unlocking the root (which panicked in dav-server's own lock system) is just refused.
        assert!(bob.unlock(&p("/"), "urn:uuid:nothing").await.is_err());
    }
}
