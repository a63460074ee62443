//! Share links: a signed-in user hands out `/s/ID` for a file or a folder, and whoever holds it reads that
//! subtree (list and download) without an account.
//!
//! A share may have a password (kept as an argon2 hash like users' passwords; attempts go through the
//! sign-in throttle, per source and per share), an expiry and a number of downloads; expired, revoked or
//! used-up shares answer 410. Every use checks again that the owner still exists and still sees the
//! shared path (their base folder may have changed), and every path inside a share is cleaned and put
//! under the shared one, like a user's under their base. Unlocking a password-protected share gives a key
//! derived from the share and its password hash, valid for [`KEY_LIFETIME`] on any server process and void
//! as soon as the share changes or is revoked. Shares live in the database (SQLite or PostgreSQL).

use std::time::Duration;

use cloudmux_core::{Error, ErrorKind, Result};
use serde_json::{Value, json};

use crate::house::db::{Db, ShareRow};
use crate::house::tickets::within;
use crate::house::tree::{clean, under};
use crate::house::users::{User, ct_eq};
use crate::now_secs as now;

/// Live shares one user may have.
pub const MAX_PER_USER: usize = 100;
/// Expired, revoked and used-up shares kept per user for their list (the oldest go first).
pub const MAX_DEAD_PER_USER: usize = 400;
/// The longest a share may last.
pub const MAX_LIFETIME: Duration = Duration::from_secs(366 * 24 * 3600);
/// How long the key from unlocking a share lasts.
pub const KEY_LIFETIME: Duration = Duration::from_secs(2 * 3600);
/// Longest share password accepted.
pub const MAX_PASSWORD: usize = 256;

/// What a share link is asked to be.
#[derive(Debug, Default, serde::Deserialize)]
pub struct NewShare {
    /// The file or folder, as the user sees it.
    pub path: String,
    /// A password the recipient must give (none: anyone with the link).
    #[serde(default)]
    pub password: Option<String>,
    /// Seconds until it expires (none: it lasts until revoked, at most [`MAX_LIFETIME`]).
    #[serde(default)]
    pub expires_in: Option<u64>,
    /// Downloads allowed (none or 0: no limit).
    #[serde(default)]
    pub max_downloads: Option<u64>,
}

/// Why a share cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// No such share.
    Unknown,
    /// Expired, revoked, used up, or its owner can no longer read it (410).
    Gone,
}

/// Whether `row` is live now, and why not.
pub fn state(row: &ShareRow, at: i64) -> &'static str {
    if row.revoked != 0 {
        "revoked"
    } else if row.expires != 0 && row.expires <= at {
        "expired"
    } else if row.max_downloads != 0 && row.downloads >= row.max_downloads {
        "used up"
    } else {
        "live"
    }
}

/// Makes a share of the tree path `full` for `user`.
pub async fn create(db: &Db, user: &User, full: &str, new: &NewShare) -> Result<ShareRow> {
    let at = now();
    let mine = db.shares(Some(&user.name)).await?;
    let live = mine.iter().filter(|s| state(s, at) == "live").count();
    // Newest first: the dead ones past the newest MAX_DEAD_PER_USER go, so rows stay bounded.
    for old in mine
        .iter()
        .filter(|s| state(s, at) != "live")
        .skip(MAX_DEAD_PER_USER)
    {
        db.delete_share(&old.id).await?;
    }
    if live >= MAX_PER_USER {
        return Err(Error::new(
            ErrorKind::RateLimited,
            format!("{} has {live} live share links", user.name),
        )
        .with_hint("revoke some first (DELETE /api/shares/ID)"));
    }
    let expires_in = new.expires_in.unwrap_or(MAX_LIFETIME.as_secs());
    if expires_in == 0 || expires_in > MAX_LIFETIME.as_secs() {
        return Err(Error::invalid(format!(
            "expires_in must be between 1 and {} seconds",
            MAX_LIFETIME.as_secs()
        ))
        .with_hint("leave it out for the longest"));
    }
    let password_hash = match new.password.as_deref().filter(|p| !p.is_empty()) {
        Some(p) if p.len() > MAX_PASSWORD => {
            return Err(Error::invalid(format!(
                "a share password has at most {MAX_PASSWORD} bytes"
            )));
        }
        Some(p) => crate::house::users::hash_password_async(p).await?,
        None => String::new(),
    };
    let row = ShareRow {
        id: cloudmux_auth::oauth::random_token(16),
        owner: user.name.clone(),
        path: full.to_string(),
        password_hash,
        expires: at + expires_in as i64,
        max_downloads: new.max_downloads.unwrap_or(0).min(i64::MAX as u64) as i64,
        downloads: 0,
        created: at,
        revoked: 0,
    };
    db.insert_share(&row).await?;
    Ok(row)
}

/// A share as its owner (or an administrator) sees it; `shown` is its path as the viewer sees it.
pub fn render(row: &ShareRow, shown: &str) -> Value {
    json!({
        "id": row.id,
        "url": format!("/s/{}", row.id),
        "owner": row.owner,
        "path": shown,
        "password": !row.password_hash.is_empty(),
        "expires": row.expires,
        "max_downloads": row.max_downloads,
        "downloads": row.downloads,
        "created": row.created,
        "state": state(row, now()),
    })
}

/// The live share `id`, whose owner still exists and still sees its path.
pub async fn open(db: &Db, id: &str) -> std::result::Result<ShareRow, Closed> {
    // Ids are ours: anything else is not looked up.
    let ok = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    if id.is_empty() || id.len() > 64 || !id.bytes().all(ok) {
        return Err(Closed::Unknown);
    }
    let row = match db.share(id).await {
        Ok(Some(r)) => r,
        Ok(None) => return Err(Closed::Unknown),
        Err(e) => {
            tracing::warn!("share {id}: {e}");
            return Err(Closed::Unknown);
        }
    };
    if state(&row, now()) != "live" {
        return Err(Closed::Gone);
    }
    match db.get_user(&row.owner).await {
        Ok(Some(u)) if within(&row.path, &u.base_path) => Ok(row),
        _ => Err(Closed::Gone),
    }
}

fn key_digest(row: &ShareRow, until: i64) -> String {
    // Keyed by the password's hash, whose random salt only the server knows: the key cannot be made
    // without it (ring's HMAC-SHA256).
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, row.password_hash.as_bytes());
    let msg = format!("cloudmux share key\0{}\0{until}", row.id);
    hex::encode(ring::hmac::sign(&key, msg.as_bytes()).as_ref())
}

/// The key for a share whose password was just given.
pub fn key_for(row: &ShareRow) -> String {
    let until = now() + KEY_LIFETIME.as_secs() as i64;
    format!("{until}.{}", key_digest(row, until))
}

/// Whether `key` opens `row` now (a share without a password needs none).
pub fn key_opens(row: &ShareRow, key: Option<&str>) -> bool {
    if row.password_hash.is_empty() {
        return true;
    }
    let Some((until, digest)) = key.and_then(|k| k.split_once('.')) else {
        return false;
    };
    let Ok(until) = until.parse::<i64>() else {
        return false;
    };
    until > now()
        && until <= now() + KEY_LIFETIME.as_secs() as i64
        && ct_eq(digest.as_bytes(), key_digest(row, until).as_bytes())
}

/// The tree path of `rel` (a path from outside, relative to the share) inside the share.
pub fn inside(row: &ShareRow, rel: &str) -> Result<String> {
    let c = clean(rel)?;
    Ok(under(&row.path, &c))
}

/// The path of tree path `full` as the share's recipient sees it (`/` is the shared folder itself).
pub fn shown(row: &ShareRow, full: &str) -> String {
    match full.strip_prefix(&row.path) {
        Some("") => "/".to_string(),
        Some(rest) if rest.starts_with('/') => rest.to_string(),
        _ => "/".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> ShareRow {
        ShareRow {
            id: "abc".into(),
            owner: "ann".into(),
            path: "/m/ann/photos".into(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA".into(),
            expires: 0,
            max_downloads: 0,
            downloads: 0,
            created: 0,
            revoked: 0,
        }
    }

    #[test]
    fn keys_open_only_their_share_for_a_while() {
        let r = row();
        let k = key_for(&r);
        assert!(key_opens(&r, Some(&k)));
        assert!(!key_opens(&r, None));
        assert!(!key_opens(&r, Some("garbage")));
        let (until, digest) = k.split_once('.').unwrap();
        let later = format!("{}.{digest}", until.parse::<i64>().unwrap() + 10);
        assert!(!key_opens(&r, Some(&later)), "the expiry is signed");
        let old = format!("{}.{}", now() - 1, key_digest(&r, now() - 1));
        assert!(!key_opens(&r, Some(&old)), "expired");
        let far = now() + 10 * KEY_LIFETIME.as_secs() as i64;
        assert!(!key_opens(
            &r,
            Some(&format!("{far}.{}", key_digest(&r, far)))
        ));
        let other = ShareRow {
            password_hash: "$argon2id$other".into(),
            ..row()
        };
        assert!(
            !key_opens(&other, Some(&k)),
            "a new password voids old keys"
        );
        let open = ShareRow {
            password_hash: String::new(),
            ..row()
        };
        assert!(key_opens(&open, None));
    }

    #[test]
    fn paths_stay_inside_the_share() {
        let r = row();
        assert_eq!(inside(&r, "").unwrap(), "/m/ann/photos");
        assert_eq!(inside(&r, "/a/b.jpg").unwrap(), "/m/ann/photos/a/b.jpg");
        for bad in ["..", "/../x", "a/../../b", "/a\\..\\b", "/x\0"] {
            assert!(inside(&r, bad).is_err(), "{bad:?}");
        }
        assert_eq!(shown(&r, "/m/ann/photos"), "/");
        assert_eq!(shown(&r, "/m/ann/photos/a"), "/a");
        assert_eq!(shown(&r, "/m/ann/photosx"), "/");
    }

    /// Dead shares are kept for their owner's list, but not without end.
    #[tokio::test]
    async fn dead_shares_are_bounded() {
        let d = tempfile::tempdir().unwrap();
        let db = Db::open(&format!("sqlite://{}", d.path().join("s.db").display()))
            .await
            .unwrap();
        for i in 0..MAX_DEAD_PER_USER + 5 {
            db.insert_share(&ShareRow {
                id: format!("old{i}"),
                owner: "ann".into(),
                password_hash: String::new(),
                revoked: 1,
                created: i as i64,
                ..row()
            })
            .await
            .unwrap();
        }
        let ann = User {
            name: "ann".into(),
            base_path: "/".into(),
            can_write: true,
            is_admin: false,
        };
        create(&db, &ann, "/m/ann/photos", &NewShare::default())
            .await
            .unwrap();
        let left = db.shares(Some("ann")).await.unwrap();
        assert_eq!(left.len(), MAX_DEAD_PER_USER + 1);
        assert!(
            !left.iter().any(|s| s.id == "old0"),
            "the oldest went first"
        );
    }

    #[test]
    fn states() {
        let mut r = row();
        assert_eq!(state(&r, 100), "live");
        r.expires = 100;
        assert_eq!(state(&r, 100), "expired");
        r.expires = 0;
        r.max_downloads = 2;
        r.downloads = 2;
        assert_eq!(state(&r, 100), "used up");
        r.revoked = 5;
        assert_eq!(state(&r, 100), "revoked");
    }
}
