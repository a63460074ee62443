//! The `sign` of AList download links (`/d/PATH?sign=…`): whoever holds one may fetch that one path of
//! that user until it expires, without the token — so a link can be handed to a player.
//!
//! `sign` = `MAC.USER:EXPIRY`: MAC is the base64url HMAC-SHA256 (`ring`'s, checked in constant time), under a secret of the installation (kept
//! in the database, the same for every server process), of the user, the path and the expiry; USER is
//! the user's name in base64url, so each use can check the user still exists and still sees the path
//! (rights are never frozen into a link); EXPIRY is in seconds since the epoch, as AList writes it.

use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use cloudmux_core::{Error, ErrorKind, Result};
use ring::hmac;

/// How long a sign lasts unless the server is told otherwise (`serve --alist-sign-ttl`).
pub const DEFAULT_TTL_SECS: u64 = 12 * 3600;

/// Makes and checks signs.
#[derive(Debug)]
pub struct Signer {
    key: std::sync::OnceLock<Vec<u8>>,
    ttl: AtomicU64,
}

impl Default for Signer {
    fn default() -> Self {
        Signer {
            key: Default::default(),
            ttl: AtomicU64::new(DEFAULT_TTL_SECS),
        }
    }
}

/// The HMAC-SHA256 key of `secret` (ring's, which also verifies in constant time).
fn key_of(secret: &[u8]) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, secret)
}

fn message(user: &str, path: &str, expiry: u64) -> Vec<u8> {
    format!("cloudmux-alist-sign\0{user}\0{path}\0{expiry}").into_bytes()
}

fn refused(why: &str) -> Error {
    Error::new(ErrorKind::PermissionDenied, why.to_string())
        .with_hint("list the folder again for a fresh link")
}

impl Signer {
    /// Sets the secret (loaded from the database at start; see [`crate::house::db::Db::secret`]).
    pub fn set_key(&self, key: Vec<u8>) {
        let _ = self.key.set(key);
    }

    /// Sets how long new signs last.
    pub fn set_ttl(&self, secs: u64) {
        self.ttl.store(secs.max(1), Ordering::Relaxed);
    }

    /// Whether the secret is set.
    pub fn has_key(&self) -> bool {
        self.key.get().is_some()
    }

    fn key(&self) -> &[u8] {
        self.key.get().map(Vec::as_slice).unwrap_or_default()
    }

    /// A sign for `user`'s `path` (as the user sees it), valid for the configured time.
    pub fn sign(&self, user: &str, path: &str) -> String {
        let expiry = crate::now_secs().max(0) as u64 + self.ttl.load(Ordering::Relaxed);
        self.sign_until(user, path, expiry)
    }

    fn sign_until(&self, user: &str, path: &str, expiry: u64) -> String {
        let mac = hmac::sign(&key_of(self.key()), &message(user, path, expiry));
        format!("{}.{}:{expiry}", B64.encode(mac.as_ref()), B64.encode(user))
    }

    /// The user a sign was made for, when it is genuine, unexpired and for `path`.
    pub fn verify(&self, sign: &str, path: &str) -> Result<String> {
        if self.key().is_empty() {
            return Err(refused("download links are not ready yet"));
        }
        let sign = sign.trim_end_matches('/');
        if sign.is_empty() {
            return Err(refused("sign missing"));
        }
        let (rest, expiry) = sign
            .rsplit_once(':')
            .ok_or_else(|| refused("sign invalid"))?;
        let expiry: u64 = expiry.parse().map_err(|_| refused("sign invalid"))?;
        let (mac, user) = rest
            .split_once('.')
            .ok_or_else(|| refused("sign invalid"))?;
        let user = B64
            .decode(user)
            .ok()
            .and_then(|u| String::from_utf8(u).ok())
            .ok_or_else(|| refused("sign invalid"))?;
        let got = B64.decode(mac).map_err(|_| refused("sign invalid"))?;
        hmac::verify(&key_of(self.key()), &message(&user, path, expiry), &got)
            .map_err(|_| refused("sign invalid"))?;
        if (crate::now_secs().max(0) as u64) >= expiry {
            return Err(refused("sign expired"));
        }
        Ok(user)
    }

    #[cfg(test)]
    fn with_key(key: &[u8]) -> Self {
        let s = Signer::default();
        s.set_key(key.to_vec());
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        let hmac = |key: &[u8], msg: &[u8]| hmac::sign(&key_of(key), msg);
        // Test case 2 of RFC 4231.
        let mac = hmac(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.as_ref()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block.
        let mac = hmac(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        assert_eq!(
            hex::encode(mac.as_ref()),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn signs_bind_user_path_expiry_and_secret() {
        let s = Signer::with_key(b"secret one");
        let sign = s.sign("alice", "/docs/a.txt");
        assert_eq!(s.verify(&sign, "/docs/a.txt").unwrap(), "alice");
        assert_eq!(
            s.verify(&format!("{sign}/"), "/docs/a.txt").unwrap(),
            "alice"
        );
        assert!(s.verify(&sign, "/docs/b.txt").is_err(), "another path");
        assert!(
            Signer::with_key(b"secret two")
                .verify(&sign, "/docs/a.txt")
                .is_err()
        );
        // Another user's name put in: the MAC no longer matches.
        let (mac, rest) = sign.split_once('.').unwrap();
        let (_, expiry) = rest.split_once(':').unwrap();
        let forged = format!("{mac}.{}:{expiry}", B64.encode("bob"));
        assert!(s.verify(&forged, "/docs/a.txt").is_err());
        // A later expiry put in: the same.
        let later = format!("{}:{}", sign.rsplit_once(':').unwrap().0, u64::MAX);
        assert!(s.verify(&later, "/docs/a.txt").is_err());
        // Expired.
        let old = s.sign_until("alice", "/docs/a.txt", 1000);
        let e = s.verify(&old, "/docs/a.txt").unwrap_err();
        assert!(e.message().contains("expired"), "{e}");
        for junk in ["", ":", "x:1", "a.b:c", "..:0", "%%%.%%%:99999999999"] {
            assert!(s.verify(junk, "/docs/a.txt").is_err(), "{junk:?}");
        }
        assert!(
            Signer::default().verify(&sign, "/docs/a.txt").is_err(),
            "no key, no link"
        );
    }
}
