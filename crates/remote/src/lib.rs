//! The registry of cloudmux backends: the one place that knows which kinds of remote exist.
//!
//! Each backend contributes a [`Backend`]: its kind name, its options ([`OptionSpec`], with the help text
//! `remote add --help` and the server's admin form are made from), a check of a new remote's options, its
//! sign-in flow ([`SignIn`]: Google OAuth, a Google service account, Yandex's device code, none) and how to
//! open a remote of its kind as a [`cloudmux_core::Storage`]. [`BACKENDS`] lists them; the CLI, `serve`, the
//! server's web sign-in and its admin page read it, and nothing outside a backend matches on a kind name.
//! Adding a service is its crate, a module here with its descriptor, and one line in [`BACKENDS`].
//!
//! Around the registry: the config file of remotes ([`config`]), opening a remote with its credentials and
//! HTTP settings ([`open()`]), and the [`Remotes`] a server mounts from ([`remotes`]).
//!
//! ```no_run
//! # async fn demo() -> cloudmux_core::Result<()> {
//! use std::collections::BTreeMap;
//! let mut cfg = cloudmux_remote::Config::load(std::path::Path::new("/tmp/cloudmux.toml"))?;
//! let given = BTreeMap::from([("path".to_string(), "/srv/files".to_string())]);
//! let rc = cloudmux_remote::build("files", "local", &given)?;
//! cfg.remotes.insert("files".into(), rc);
//! let files = cloudmux_remote::open(&cfg, "files").await?;
//! println!("{:?}", cloudmux_core::list_all(&*files, "").await?.len());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

use std::collections::BTreeMap;

use cloudmux_core::{Error, Result};

pub mod backend;
pub mod backends;
pub mod config;
pub mod open;
pub mod remotes;

pub use backend::{Backend, OpenCtx, OptionKind, OptionSpec, SignIn};
pub use config::{Config, RemoteConfig, config_path};
pub use open::{open, open_at};
pub use remotes::{ConfigRemotes, NewRemote, RemoteInfo, RemoteOAuth, Remotes};

/// Every kind of remote. Adding a backend is adding its line here.
pub static BACKENDS: &[&dyn Backend] = &[
    &backends::gdrive::Gdrive,
    &backends::gphotos::Gphotos,
    &backends::yadisk::Yadisk,
    &backends::local::Local,
    &backends::memory::Memory,
];

/// The backend of `kind`.
pub fn backend(kind: &str) -> Result<&'static dyn Backend> {
    BACKENDS
        .iter()
        .copied()
        .find(|b| b.kind() == kind)
        .ok_or_else(|| {
            Error::invalid(format!("unknown remote type {kind:?}"))
                .with_hint(format!("types: {}", kinds().join(", ")))
        })
}

/// The kind names, in registry order.
pub fn kinds() -> Vec<&'static str> {
    BACKENDS.iter().map(|b| b.kind()).collect()
}

/// Makes a remote's configuration from what a user gave (option name → value, empty values ignored):
/// the name and kind checked, unknown options refused, URLs parsed, paths made absolute and checked,
/// lists split, required options present, then the backend's own check.
pub fn build(name: &str, kind: &str, given: &BTreeMap<String, String>) -> Result<RemoteConfig> {
    if !cloudmux_core::path::is_valid_remote_name(name) {
        return Err(Error::invalid(format!("bad remote name {name:?}"))
            .with_hint("use 2-64 letters, digits, '_', '-' or '.'"));
    }
    let b = backend(kind)?;
    let mut rc = RemoteConfig::new(kind);
    for (k, v) in given.iter().filter(|(_, v)| !v.trim().is_empty()) {
        let spec = b
            .options()
            .iter()
            .find(|o| o.name == k.as_str())
            .ok_or_else(|| {
                let known: Vec<&str> = b.options().iter().map(|o| o.name).collect();
                Error::invalid(format!("a {kind} remote has no option {k:?}")).with_hint(
                    if known.is_empty() {
                        format!("{kind} remotes take no options")
                    } else {
                        format!("{kind} options: {}", known.join(", "))
                    },
                )
            })?;
        let value = match spec.kind {
            OptionKind::Url => {
                url::Url::parse(v).map_err(|e| Error::invalid(format!("bad {k} {v:?}: {e}")))?;
                toml::Value::String(v.trim_end_matches('/').to_string())
            }
            OptionKind::Path => {
                let abs = std::fs::canonicalize(v)
                    .map_err(|e| Error::from(e).context(format!("{k} {v}")))?;
                toml::Value::String(abs.to_string_lossy().into_owned())
            }
            OptionKind::List => toml::Value::Array(
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| toml::Value::String(s.to_string()))
                    .collect(),
            ),
            OptionKind::Text | OptionKind::Secret => toml::Value::String(v.clone()),
        };
        rc.options.insert(k.clone(), value);
    }
    for o in b.options().iter().filter(|o| o.required) {
        if !rc.options.contains_key(o.name) {
            return Err(Error::invalid(format!(
                "a {kind} remote needs --{}",
                o.name.replace('_', "-")
            ))
            .with_hint(o.help));
        }
    }
    b.check(&mut rc)?;
    Ok(rc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_unique_and_options_documented() {
        let mut k = kinds();
        k.sort();
        k.dedup();
        assert_eq!(k.len(), BACKENDS.len());
        for b in BACKENDS {
            assert!(!b.about().is_empty());
            for o in b.options() {
                assert!(!o.help.is_empty(), "{}: {}", b.kind(), o.name);
            }
        }
    }

    #[test]
    fn building_checks_what_users_give() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().to_string_lossy().into_owned();
        let rc = build(
            "files",
            "local",
            &BTreeMap::from([("path".into(), p.clone())]),
        )
        .unwrap();
        assert_eq!(rc.kind, "local");
        let e = build(
            "files",
            "local",
            &BTreeMap::from([("colour".into(), "red".into())]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("no option \"colour\""), "{e}");
        assert!(
            build("files", "local", &BTreeMap::new()).is_err(),
            "path is required"
        );
        assert!(
            build("x", "local", &BTreeMap::from([("path".into(), p.clone())])).is_err(),
            "name"
        );
        assert!(build("ok", "nope", &BTreeMap::new()).is_err(), "kind");
        let yd = build(
            "yd",
            "yadisk",
            &BTreeMap::from([
                ("client_id".into(), "i".into()),
                ("client_secret".into(), "s".into()),
                ("endpoint".into(), "http://127.0.0.1:4444/".into()),
            ]),
        )
        .unwrap();
        assert_eq!(yd.endpoint(), Some("http://127.0.0.1:4444"));
        assert_eq!(
            backend("yadisk").unwrap().sign_in(&yd).unwrap(),
            SignIn::Yandex
        );
    }
}
