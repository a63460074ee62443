//! Users: argon2 password hashes, bearer tokens (sessions that expire, long-lived API tokens — only their
//! SHA-256 is stored), and a per-client login throttle.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use cloudmux_core::{Error, ErrorKind, Result};
use sha2::Digest;

use crate::db::{Db, TokenRow, UserRow};

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

/// Equality that takes the same time wherever the inputs differ.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Failed logins allowed per client in [`THROTTLE_WINDOW`] before it must wait.
pub const THROTTLE_FAILURES: u32 = 5;
/// The window of the login throttle.
pub const THROTTLE_WINDOW: Duration = Duration::from_secs(300);

/// Users, tokens and the login throttle.
#[derive(Debug)]
pub struct Users {
    db: Db,
    session_ttl: Duration,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
    /// Recently verified Basic credentials (SHA-256 of `name:password`), so WebDAV clients, which send
    /// them with every request, pay the argon2 work once a minute rather than on each request.
    verified: Mutex<HashMap<String, (User, Instant)>>,
}

/// How long verified Basic credentials are trusted without checking the hash again.
const VERIFIED_TTL: Duration = Duration::from_secs(60);

impl Users {
    /// Over `db`; sessions live `session_ttl`.
    pub fn new(db: Db, session_ttl: Duration) -> Self {
        Users {
            db,
            session_ttl,
            failures: Mutex::new(HashMap::new()),
            verified: Mutex::new(HashMap::new()),
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
            password_hash: hash_password(password)?,
            base_path: crate::mount::clean(base_path)?,
            can_write,
            is_admin,
            created: now(),
        };
        self.db.add_user(&row).await?;
        Ok(User::from(&row))
    }

    /// Changes a user; a new password ends the user's sessions (API tokens stay).
    pub async fn edit(
        &self,
        name: &str,
        password: Option<&str>,
        base_path: Option<&str>,
        can_write: Option<bool>,
        is_admin: Option<bool>,
    ) -> Result<User> {
        let mut row = self
            .db
            .get_user(name)
            .await?
            .ok_or_else(|| Error::not_found(format!("user {name}")))?;
        if let Some(p) = password {
            check_password(p)?;
            row.password_hash = hash_password(p)?;
        }
        if let Some(b) = base_path {
            row.base_path = crate::mount::clean(b)?;
        }
        if let Some(w) = can_write {
            row.can_write = w;
        }
        if let Some(a) = is_admin {
            row.is_admin = a;
        }
        self.db.update_user(&row).await?;
        // Rights or password changed: nothing verified before counts any more.
        self.verified.lock().unwrap().clear();
        if password.is_some() {
            self.db.remove_tokens(name, "session").await?;
        }
        Ok(User::from(&row))
    }

    /// How long `ip` must still wait before trying again, if it is throttled.
    pub fn throttled(&self, ip: IpAddr) -> Option<Duration> {
        let f = self.failures.lock().unwrap();
        match f.get(&ip) {
            Some((n, since)) if *n >= THROTTLE_FAILURES && since.elapsed() < THROTTLE_WINDOW => {
                Some(THROTTLE_WINDOW - since.elapsed())
            }
            _ => None,
        }
    }

    fn failed(&self, ip: IpAddr) {
        let mut f = self.failures.lock().unwrap();
        let e = f.entry(ip).or_insert((0, Instant::now()));
        if e.1.elapsed() >= THROTTLE_WINDOW {
            *e = (0, Instant::now());
        }
        e.0 += 1;
        if f.len() > 100_000 {
            f.retain(|_, (_, since)| since.elapsed() < THROTTLE_WINDOW);
        }
    }

    /// Checks a user's password (throttled per client like [`Users::login`]) without opening a session: the
    /// check of HTTP Basic credentials.
    pub async fn check_password(&self, ip: IpAddr, name: &str, password: &str) -> Result<User> {
        let key = token_hash(&format!("{name}:{password}"));
        if let Some((u, at)) = self.verified.lock().unwrap().get(&key)
            && at.elapsed() < VERIFIED_TTL
        {
            return Ok(u.clone());
        }
        let u = self.verify(ip, name, password).await?;
        let mut v = self.verified.lock().unwrap();
        v.retain(|_, (_, at)| at.elapsed() < VERIFIED_TTL);
        v.insert(key, (u.clone(), Instant::now()));
        Ok(u)
    }

    /// Checks a password and opens a session: the token (shown once) and its expiry.
    pub async fn login(
        &self,
        ip: IpAddr,
        name: &str,
        password: &str,
    ) -> Result<(String, i64, User)> {
        let user = self.verify(ip, name, password).await?;
        let expires = now() + self.session_ttl.as_secs() as i64;
        let token = self.issue(&user.name, "session", "login", expires).await?;
        Ok((token, expires, user))
    }

    async fn verify(&self, ip: IpAddr, name: &str, password: &str) -> Result<User> {
        if let Some(wait) = self.throttled(ip) {
            return Err(Error::new(
                ErrorKind::RateLimited,
                "too many failed logins from this address",
            )
            .with_hint(format!("wait {} seconds", wait.as_secs() + 1)));
        }
        let row = self.db.get_user(name).await?;
        // A missing user costs the same argon2 work as a wrong password.
        let ok = match &row {
            Some(r) => verify_password(password, &r.password_hash),
            None => {
                let _ = verify_password(password, DUMMY_PHC);
                false
            }
        };
        let Some(row) = row.filter(|_| ok) else {
            self.failed(ip);
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                "wrong user name or password",
            ));
        };
        self.failures.lock().unwrap().remove(&ip);
        Ok(User::from(&row))
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

    /// The user a bearer token belongs to, when it is valid.
    pub async fn authenticate(&self, token: &str) -> Result<Option<User>> {
        let h = token_hash(token);
        let Some(t) = self.db.get_token(&h).await? else {
            return Ok(None);
        };
        if !ct_eq(t.token_hash.as_bytes(), h.as_bytes()) || (t.expires > 0 && t.expires < now()) {
            return Ok(None);
        }
        Ok(self
            .db
            .get_user(&t.user_name)
            .await?
            .as_ref()
            .map(User::from))
    }

    /// Ends the session or revokes the API token `token`.
    pub async fn logout(&self, user: &str, token: &str) -> Result<bool> {
        self.db.remove_token(user, &token_hash(token)).await
    }
}

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
        assert_eq!(u.authenticate(&tok).await.unwrap().unwrap().name, "ann");
        assert!(u.authenticate("cmx_forged").await.unwrap().is_none());
        assert!(u.logout("ann", &tok).await.unwrap());
        assert!(u.authenticate(&tok).await.unwrap().is_none(), "logged out");
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
        assert!(u.authenticate(&tok).await.unwrap().is_some());
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert!(u.authenticate(&tok).await.unwrap().is_none(), "expired");
        let api = u.issue("ann", "api", "script", 0).await.unwrap();
        assert!(
            u.authenticate(&api).await.unwrap().is_some(),
            "API tokens do not expire"
        );
    }
}
