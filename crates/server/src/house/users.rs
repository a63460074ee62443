//! Users: argon2 password hashes, bearer tokens (sessions that expire, long-lived API tokens — only their
//! SHA-256 is stored), and the login throttle.
//!
//! The throttle counts failures per source address (IPv6 grouped by /64, so one host cannot rotate through
//! its addresses) and per account, and an attempt is reserved before its password is checked, so a burst of
//! concurrent guesses gets no more tries than a sequence of them. A success gives back only its own
//! reservation: it never clears failures, neither the account's nor the address's, so logging in as
//! oneself between guesses at another account does not help. argon2 runs on blocking threads behind a
//! small semaphore, so a burst of logins cannot starve the server's other requests.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use cloudmux_core::{Error, ErrorKind, Result};
use sha2::Digest;

use crate::house::db::{Db, TokenRow, UserRow};
use crate::{now_ms, now_secs as now};

/// What a request runs as.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    /// Login name.
    pub name: String,
    /// The folder of the tree this user sees as `/`.
    pub base_path: String,
    /// May change files.
    pub can_write: bool,
    /// May manage users, mounts and remotes.
    pub is_admin: bool,
}

impl From<&UserRow> for User {
    fn from(u: &UserRow) -> Self {
        User {
            name: u.name.clone(),
            base_path: u.base_path.clone(),
            can_write: u.can_write,
            is_admin: u.is_admin,
        }
    }
}

/// The argon2id PHC string of a password.
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::new(ErrorKind::Other, format!("hashing the password: {e}")))
}

/// How many argon2 computations run at once (each takes ~20 MiB and a core for ~50 ms).
const ARGON2_AT_ONCE: usize = 2;

static ARGON2: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(ARGON2_AT_ONCE);

/// Runs argon2 work on a blocking thread, at most [`ARGON2_AT_ONCE`] at a time.
async fn argon2_off_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    let _permit = ARGON2
        .acquire()
        .await
        .map_err(|_| Error::new(ErrorKind::Other, "the password checker is shut down"))?;
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::new(ErrorKind::Other, format!("password check: {e}")))
}

/// [`hash_password`] off the async threads.
pub async fn hash_password_async(password: &str) -> Result<String> {
    let p = password.to_string();
    argon2_off_thread(move || hash_password(&p)).await?
}

/// [`verify_password`] off the async threads.
pub async fn verify_password_async(password: &str, phc: &str) -> Result<bool> {
    let (p, h) = (password.to_string(), phc.to_string());
    argon2_off_thread(move || verify_password(&p, &h)).await
}

/// The password as AList's clients send it to `/api/auth/login/hash`: the lowercase hex SHA-256 of the
/// password followed by `-` and AList's fixed salt (its project address).
pub fn alist_static_hash(password: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(
        format!("{password}-https://github.com/alist-org/alist").as_bytes(),
    ))
}

/// Whether `password` matches a PHC string (constant-time inside argon2).
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// SHA-256 of a token, hex: what the database keeps.
pub fn token_hash(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// Equality that takes the same time wherever the inputs differ (`subtle`'s).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

fn window_ms() -> i64 {
    THROTTLE_WINDOW.as_millis() as i64
}

/// Failed logins allowed per source address (IPv6: per /64) in [`THROTTLE_WINDOW`].
pub const THROTTLE_FAILURES: u32 = 5;
/// Failed logins allowed per account in [`THROTTLE_WINDOW`], from all sources together.
pub const ACCOUNT_FAILURES: u32 = 20;
/// Unknown bearer tokens allowed per source address in [`THROTTLE_WINDOW`].
pub const TOKEN_FAILURES: u32 = 50;
/// The window of the login throttle.
pub const THROTTLE_WINDOW: Duration = Duration::from_secs(300);
/// Counters kept at most (the oldest go first when full).
const THROTTLE_KEYS: usize = 100_000;

/// What a throttle counter counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// Password failures from a source.
    Source(IpAddr),
    /// Password failures on an account.
    Account(String),
    /// Unknown bearer tokens from a source.
    Token(IpAddr),
    /// Password failures on something that is not an account (a share: `share:ID`).
    Subject(String),
}

/// The address a throttle counts: IPv4 as is (IPv4-mapped IPv6 too), IPv6 by its /64.
pub fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Failure counters over a window.
#[derive(Debug, Default)]
struct Throttle {
    counts: HashMap<Key, (u32, Instant)>,
}

impl Throttle {
    fn limit(k: &Key) -> u32 {
        match k {
            Key::Source(_) => THROTTLE_FAILURES,
            Key::Account(_) => ACCOUNT_FAILURES,
            Key::Token(_) => TOKEN_FAILURES,
            Key::Subject(_) => ACCOUNT_FAILURES,
        }
    }

    /// How long `k` must still wait, when it is at its limit.
    fn wait(&self, k: &Key) -> Option<Duration> {
        match self.counts.get(k) {
            Some((n, since)) if *n >= Self::limit(k) && since.elapsed() < THROTTLE_WINDOW => {
                Some(THROTTLE_WINDOW - since.elapsed())
            }
            _ => None,
        }
    }

    /// Counts one attempt against every key, unless one of them is at its limit (then how long to wait).
    fn reserve(&mut self, keys: &[Key]) -> std::result::Result<(), Duration> {
        if let Some(w) = keys.iter().filter_map(|k| self.wait(k)).max() {
            return Err(w);
        }
        if self.counts.len() >= THROTTLE_KEYS {
            self.counts
                .retain(|_, (_, since)| since.elapsed() < THROTTLE_WINDOW);
            while self.counts.len() >= THROTTLE_KEYS {
                let oldest = self
                    .counts
                    .iter()
                    .min_by_key(|(_, (_, since))| *since)
                    .map(|(k, _)| k.clone());
                match oldest {
                    Some(k) => self.counts.remove(&k),
                    None => break,
                };
            }
        }
        for k in keys {
            let e = self.counts.entry(k.clone()).or_insert((0, Instant::now()));
            if e.1.elapsed() >= THROTTLE_WINDOW {
                *e = (0, Instant::now());
            }
            e.0 += 1;
        }
        Ok(())
    }

    /// Gives back one reserved attempt of each key (the attempt succeeded).
    fn release(&mut self, keys: &[Key]) {
        for k in keys {
            if let Some(e) = self.counts.get_mut(k) {
                e.0 = e.0.saturating_sub(1);
            }
        }
    }
}

impl Key {
    /// The key as stored in a shared database.
    fn stored(&self) -> String {
        match self {
            Key::Source(ip) => format!("source:{ip}"),
            Key::Account(a) => format!("account:{a}"),
            Key::Token(ip) => format!("token:{ip}"),
            Key::Subject(s) => format!("subject:{s}"),
        }
    }
}

fn throttled_error(wait: Duration) -> Error {
    Error::new(ErrorKind::RateLimited, "too many failed sign-ins")
        .with_hint(format!("wait {} seconds", wait.as_secs() + 1))
}

/// Users, tokens and the login throttle.
#[derive(Debug)]
pub struct Users {
    db: Db,
    session_ttl: Duration,
    throttle: Mutex<Throttle>,
    /// Recently verified Basic credentials: SHA-256 of `name:password` → the password hash they matched
    /// and when. WebDAV clients send them with every request; the argon2 work is paid once a minute, while
    /// the user's row is read on every request, so a removed user or a changed password counts at once
    /// (in every server process sharing the database).
    verified: Mutex<HashMap<String, (String, Instant)>>,
    /// Checks of Basic credentials in flight, by the same key: a client opening 64 connections at once
    /// with the right password costs one argon2 run and one throttle slot, not 64 (which would also
    /// throttle the client out).
    checking: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// How long verified Basic credentials are trusted without checking the hash again.
const VERIFIED_TTL: Duration = Duration::from_secs(60);
/// Verified credentials kept at most.
const VERIFIED_MAX: usize = 10_000;

impl Users {
    /// Over `db`; sessions live `session_ttl`.
    pub fn new(db: Db, session_ttl: Duration) -> Self {
        Users {
            db,
            session_ttl,
            throttle: Mutex::new(Throttle::default()),
            verified: Mutex::new(HashMap::new()),
            checking: Mutex::new(HashMap::new()),
        }
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Creates a user.
    pub async fn create(
        &self,
        name: &str,
        password: &str,
        base_path: &str,
        can_write: bool,
        is_admin: bool,
    ) -> Result<User> {
        check_name(name)?;
        check_password(password)?;
        let row = UserRow {
            name: name.to_string(),
            password_hash: hash_password_async(password).await?,
            static_hash: hash_password_async(&alist_static_hash(password)).await?,
            base_path: crate::house::tree::clean(base_path)?,
            can_write,
            is_admin,
            created: now(),
        };
        self.db.add_user(&row).await?;
        Ok(User::from(&row))
    }

    /// Changes a user. A new password ends the user's sessions and, unless `keep_tokens`, their API tokens.
    pub async fn edit(
        &self,
        name: &str,
        password: Option<&str>,
        base_path: Option<&str>,
        can_write: Option<bool>,
        is_admin: Option<bool>,
        keep_tokens: bool,
    ) -> Result<User> {
        let mut row = self
            .db
            .get_user(name)
            .await?
            .ok_or_else(|| Error::not_found(format!("user {name}")))?;
        if let Some(p) = password {
            check_password(p)?;
            row.password_hash = hash_password_async(p).await?;
            row.static_hash = hash_password_async(&alist_static_hash(p)).await?;
        }
        if let Some(b) = base_path {
            row.base_path = crate::house::tree::clean(b)?;
        }
        if let Some(w) = can_write {
            row.can_write = w;
        }
        if let Some(a) = is_admin {
            row.is_admin = a;
        }
        self.db.update_user(&row).await?;
        if password.is_some() {
            self.db.remove_tokens(name, "session").await?;
            if !keep_tokens {
                self.db.remove_tokens(name, "api").await?;
            }
        }
        Ok(User::from(&row))
    }

    /// Removes a user with their sessions and tokens; whether there was one.
    pub async fn remove(&self, name: &str) -> Result<bool> {
        self.db.remove_user(name).await
    }

    fn throttle(&self) -> std::sync::MutexGuard<'_, Throttle> {
        self.throttle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The throttle's counters live in the database on PostgreSQL (several processes behind a load
    /// balancer must not each grant their own tries), in memory otherwise.
    fn shared_throttle(&self) -> Option<&Db> {
        self.db.is_postgres().then_some(&self.db)
    }

    /// How long `k` must still wait, when it is at its limit.
    async fn throttle_wait(&self, k: &Key) -> Result<Option<Duration>> {
        match self.shared_throttle() {
            Some(db) => Ok(db
                .throttle_wait(&k.stored(), Throttle::limit(k), now_ms(), window_ms())
                .await?
                .map(|ms| Duration::from_millis(ms.max(0) as u64))),
            None => Ok(self.throttle().wait(k)),
        }
    }

    /// Counts an attempt against every key unless one is at its limit.
    async fn throttle_reserve(&self, keys: &[Key]) -> Result<()> {
        let r = match self.shared_throttle() {
            Some(db) => {
                let ks: Vec<(String, u32)> = keys
                    .iter()
                    .map(|k| (k.stored(), Throttle::limit(k)))
                    .collect();
                db.throttle_reserve(&ks, now_ms(), window_ms())
                    .await?
                    .map_err(|ms| Duration::from_millis(ms.max(0) as u64))
            }
            None => self.throttle().reserve(keys),
        };
        r.map_err(throttled_error)
    }

    /// Gives back one reserved attempt of each key.
    async fn throttle_release(&self, keys: &[Key]) -> Result<()> {
        match self.shared_throttle() {
            Some(db) => {
                let ks: Vec<String> = keys.iter().map(Key::stored).collect();
                db.throttle_release(&ks).await
            }
            None => {
                self.throttle().release(keys);
                Ok(())
            }
        }
    }

    /// How long `ip` must still wait before trying a password again, if it is throttled.
    pub async fn throttled(&self, ip: IpAddr) -> Result<Option<Duration>> {
        self.throttle_wait(&Key::Source(source_key(ip))).await
    }

    /// Checks a user's password (throttled like [`Users::login`]) without opening a session: the check of
    /// HTTP Basic credentials.
    pub async fn check_password(&self, ip: IpAddr, name: &str, password: &str) -> Result<User> {
        let key = token_hash(&format!("{name}:{password}"));
        if let Some(u) = self.cached_check(&key, name).await? {
            return Ok(u);
        }
        // One check at a time per credentials; those waiting find its result in the cache.
        let gate = self
            .checking
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.clone())
            .or_default()
            .clone();
        let held = gate.lock().await;
        let r = self.check_uncached(ip, name, password, &key).await;
        drop(held);
        let mut checking = self.checking.lock().unwrap_or_else(|p| p.into_inner());
        if Arc::strong_count(&gate) <= 2 {
            checking.remove(&key);
        }
        r
    }

    /// The user of credentials verified within [`VERIFIED_TTL`] whose password has not changed since.
    async fn cached_check(&self, key: &str, name: &str) -> Result<Option<User>> {
        let cached = {
            let v = self.verified.lock().unwrap_or_else(|p| p.into_inner());
            v.get(key)
                .filter(|(_, at)| at.elapsed() < VERIFIED_TTL)
                .map(|(phc, _)| phc.clone())
        };
        if let Some(phc) = cached
            && let Some(row) = self.db.get_user(name).await?
            && ct_eq(row.password_hash.as_bytes(), phc.as_bytes())
        {
            return Ok(Some(User::from(&row)));
        }
        Ok(None)
    }

    async fn check_uncached(
        &self,
        ip: IpAddr,
        name: &str,
        password: &str,
        key: &str,
    ) -> Result<User> {
        if let Some(u) = self.cached_check(key, name).await? {
            return Ok(u);
        }
        let key = key.to_string();
        let row = self.verify(ip, name, password).await?;
        let mut v = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if v.len() >= VERIFIED_MAX {
            v.retain(|_, (_, at)| at.elapsed() < VERIFIED_TTL);
            if v.len() >= VERIFIED_MAX {
                v.clear();
            }
        }
        v.insert(key, (row.password_hash.clone(), Instant::now()));
        Ok(User::from(&row))
    }

    /// Checks a password and opens a session: the token (shown once) and its expiry.
    pub async fn login(
        &self,
        ip: IpAddr,
        name: &str,
        password: &str,
    ) -> Result<(String, i64, User)> {
        let user = User::from(&self.verify(ip, name, password).await?);
        let expires = now() + self.session_ttl.as_secs() as i64;
        let token = self.issue(&user.name, "session", "login", expires).await?;
        Ok((token, expires, user))
    }

    /// Counts a sign-in attempt of `name` from `ip` (refused when either is throttled) and reads the
    /// user: the throttle keys to release on success, and the row.
    async fn attempt(&self, ip: IpAddr, name: &str) -> Result<([Key; 2], Option<UserRow>)> {
        let account: String = name.chars().take(64).collect::<String>().to_lowercase();
        let keys = [Key::Source(source_key(ip)), Key::Account(account)];
        self.throttle_reserve(&keys).await?;
        Ok((keys, self.db.get_user(name).await?))
    }

    async fn verify(&self, ip: IpAddr, name: &str, password: &str) -> Result<UserRow> {
        let (keys, row) = self.attempt(ip, name).await?;
        // A missing user costs the same argon2 work as a wrong password.
        let phc = row
            .as_ref()
            .map(|r| r.password_hash.clone())
            .unwrap_or_else(|| DUMMY_PHC.to_string());
        let ok = verify_password_async(password, &phc).await? && row.is_some();
        match row.filter(|_| ok) {
            Some(row) => {
                self.throttle_release(&keys).await?;
                // Users made before hashed sign-ins existed get their verifier now.
                if row.static_hash.is_empty() {
                    let h = hash_password_async(&alist_static_hash(password)).await?;
                    self.db
                        .set_static_hash(&row.name, &row.password_hash, &h)
                        .await?;
                }
                Ok(row)
            }
            None => Err(Error::new(
                ErrorKind::PermissionDenied,
                "wrong user name or password",
            )),
        }
    }

    /// Like [`Users::login`] with the password as AList clients pre-hash it ([`alist_static_hash`]),
    /// under the same throttle. Known only for passwords set, or used in full, since cloudmux knew them.
    pub async fn login_static_hash(
        &self,
        ip: IpAddr,
        name: &str,
        hashed: &str,
    ) -> Result<(String, i64, User)> {
        let (keys, row) = self.attempt(ip, name).await?;
        let phc = row
            .as_ref()
            .map(|r| r.static_hash.clone())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| DUMMY_PHC.to_string());
        let known = row.as_ref().is_some_and(|r| !r.static_hash.is_empty());
        let ok = verify_password_async(&hashed.to_ascii_lowercase(), &phc).await? && known;
        let Some(row) = row.filter(|_| ok) else {
            // The same answer whether the user is unknown, the password wrong or its hash not yet known.
            return Err(
                Error::new(ErrorKind::PermissionDenied, "wrong user name or password").with_hint(
                    "a password set before hashed sign-ins were known works here once it has been \
                     used in full (POST /api/auth/login)",
                ),
            );
        };
        self.throttle_release(&keys).await?;
        let user = User::from(&row);
        let expires = now() + self.session_ttl.as_secs() as i64;
        let token = self.issue(&user.name, "session", "login", expires).await?;
        Ok((token, expires, user))
    }

    /// Checks a password that belongs to something other than an account (`subject`, such as
    /// `share:ID`, whose hash is `phc`) under the same throttle as sign-ins: per source and per subject,
    /// each attempt counted before the check.
    pub async fn check_subject_password(
        &self,
        ip: IpAddr,
        subject: &str,
        password: &str,
        phc: &str,
    ) -> Result<bool> {
        let keys = [
            Key::Source(source_key(ip)),
            Key::Subject(subject.chars().take(64).collect()),
        ];
        self.throttle_reserve(&keys).await?;
        let ok = verify_password_async(password, phc).await?;
        if ok {
            self.throttle_release(&keys).await?;
        }
        Ok(ok)
    }

    /// Issues a token of `kind` for `user` (expires 0: never).
    pub async fn issue(&self, user: &str, kind: &str, label: &str, expires: i64) -> Result<String> {
        let token = format!("cmx_{}", cloudmux_auth::oauth::random_token(32));
        self.db
            .add_token(&TokenRow {
                token_hash: token_hash(&token),
                user_name: user.to_string(),
                kind: kind.to_string(),
                label: label.to_string(),
                created: now(),
                expires,
            })
            .await?;
        Ok(token)
    }

    /// The user a bearer token belongs to, when it is valid. Unknown tokens count against `ip`; past
    /// [`TOKEN_FAILURES`] in the window the source is refused (RateLimited) before any lookup.
    pub async fn authenticate(&self, ip: IpAddr, token: &str) -> Result<Option<User>> {
        let key = [Key::Token(source_key(ip))];
        if let Some(w) = self.throttle_wait(&key[0]).await? {
            return Err(throttled_error(w));
        }
        let found = self.token_user(&token_hash(token)).await?;
        if found.is_none() {
            let _ = self.throttle_reserve(&key).await;
        }
        Ok(found.map(|(u, _)| u))
    }

    /// The user and row of a token by its hash, when it is valid (not expired, its user still there).
    pub async fn token_user(&self, hash: &str) -> Result<Option<(User, TokenRow)>> {
        let Some(t) = self.db.get_token(hash).await? else {
            return Ok(None);
        };
        if !ct_eq(t.token_hash.as_bytes(), hash.as_bytes()) || (t.expires > 0 && t.expires < now())
        {
            return Ok(None);
        }
        Ok(self
            .db
            .get_user(&t.user_name)
            .await?
            .as_ref()
            .map(|u| (User::from(u), t)))
    }

    /// Whether `token` is a session signed in at most [`RECENT_SIGNIN`] ago: what a change of the user's
    /// own password asks for where the old password is not sent (a session stolen later, or a
    /// long-lived API token, cannot lock the owner out).
    pub async fn recent_session(&self, token: &str) -> Result<bool> {
        Ok(match self.token_user(&token_hash(token)).await? {
            Some((_, t)) => {
                t.kind == "session" && now() - t.created <= RECENT_SIGNIN.as_secs() as i64
            }
            None => false,
        })
    }

    /// Ends the session or revokes the API token `token`.
    pub async fn logout(&self, user: &str, token: &str) -> Result<bool> {
        self.db.remove_token(user, &token_hash(token)).await
    }
}

/// How recent a sign-in must be for [`Users::recent_session`].
pub const RECENT_SIGNIN: Duration = Duration::from_secs(10 * 60);

/// A valid hash of nothing in particular, checked when the user does not exist.
const DUMMY_PHC: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$uFGsl+ZUwmq3JYi+Edp8lxF0W1yEFMqgiCrn4dRcrqA";

fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!("user name {name:?} is not allowed"))
            .with_hint("use 1-64 letters, digits, '.', '_', '-' or '@'"))
    }
}

fn check_password(p: &str) -> Result<()> {
    if p.chars().count() < 8 {
        return Err(
            Error::invalid("the password is too short").with_hint("use at least 8 characters")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_grouped() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(source_key(a), source_key(b), "one /64");
        assert_ne!(source_key(a), source_key(c));
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(source_key(mapped), "10.1.2.3".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn passwords_and_tokens() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("x", "not a hash"));
        assert!(PasswordHash::new(DUMMY_PHC).is_ok());
        assert!(ct_eq(b"abc", b"abc") && !ct_eq(b"abc", b"abd") && !ct_eq(b"ab", b"abc"));
        assert_eq!(token_hash("t").len(), 64);
        assert!(check_name("ann.o'brien").is_err());
        assert!(check_name("ann").is_ok());
    }

    #[tokio::test]
    async fn login_sessions_and_throttle() {
        let d = tempfile::tempdir().unwrap();
        let db = Db::open(&format!("sqlite://{}", d.path().join("t.db").display()))
            .await
            .unwrap();
        let u = Users::new(db, Duration::from_secs(3600));
        u.create("ann", "password1", "/", true, false)
            .await
            .unwrap();
        assert_eq!(
            u.create("ann", "password2", "/", true, false)
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::AlreadyExists
        );
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let (tok, _, user) = u.login(ip, "ann", "password1").await.unwrap();
        assert_eq!(user.name, "ann");
        assert_eq!(u.authenticate(ip, &tok).await.unwrap().unwrap().name, "ann");
        assert!(u.authenticate(ip, "cmx_forged").await.unwrap().is_none());
        assert!(u.logout("ann", &tok).await.unwrap());
        assert!(
            u.authenticate(ip, &tok).await.unwrap().is_none(),
            "logged out"
        );
        for _ in 0..THROTTLE_FAILURES {
            let e = u.login(ip, "ann", "nope").await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        }
        let e = u.login(ip, "ann", "password1").await.unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::RateLimited,
            "throttled even with the right password"
        );
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(
            u.login(other, "ann", "password1").await.is_ok(),
            "per client"
        );
        let e = u.login(other, "nobody", "password1").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    }

    #[tokio::test]
    async fn sessions_expire() {
        let d = tempfile::tempdir().unwrap();
        let db = Db::open(&format!("sqlite://{}", d.path().join("t.db").display()))
            .await
            .unwrap();
        let u = Users::new(db, Duration::from_secs(1));
        u.create("ann", "password1", "/", false, false)
            .await
            .unwrap();
        let ip: IpAddr = "10.0.0.3".parse().unwrap();
        let (tok, _, _) = u.login(ip, "ann", "password1").await.unwrap();
        assert!(u.authenticate(ip, &tok).await.unwrap().is_some());
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert!(u.authenticate(ip, &tok).await.unwrap().is_none(), "expired");
        let api = u.issue("ann", "api", "script", 0).await.unwrap();
        assert!(
            u.authenticate(ip, &api).await.unwrap().is_some(),
            "API tokens do not expire"
        );
    }
}
