//! What a backend contributes to the registry: its kind name, its options (with help), their check, its
//! sign-in flow and how to open a remote of its kind.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use cloudmux_core::{Error, Result, Storage};
use cloudmux_http::{HttpConfig, TokenSource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::RemoteConfig;

/// What kind of value an option takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OptionKind {
    /// Free text.
    Text,
    /// Text that is a secret (shown masked, never logged).
    Secret,
    /// A URL.
    Url,
    /// A path on this machine (made absolute and checked when the remote is added).
    Path,
    /// A comma-separated list.
    List,
}

/// One option of a backend.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct OptionSpec {
    /// Its name in the config file, on the command line (`--client-id` for `client_id`) and in forms.
    pub name: &'static str,
    /// What it is for, for `remote add --help` and the server's admin form.
    pub help: &'static str,
    /// Its kind of value.
    pub kind: OptionKind,
    /// Whether a remote needs it.
    pub required: bool,
}

impl OptionSpec {
    /// An optional text option.
    pub const fn text(name: &'static str, help: &'static str) -> Self {
        OptionSpec {
            name,
            help,
            kind: OptionKind::Text,
            required: false,
        }
    }

    /// The same, required.
    pub const fn required(self) -> Self {
        OptionSpec {
            required: true,
            ..self
        }
    }

    /// The same, of `kind`.
    pub const fn of(self, kind: OptionKind) -> Self {
        OptionSpec { kind, ..self }
    }
}

/// How a remote is signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignIn {
    /// It needs no sign-in.
    None,
    /// Google OAuth (consent in a browser, loopback redirect with PKCE) for these scopes.
    Google {
        /// The scopes to ask for.
        scopes: Vec<String>,
    },
    /// A Google service account's key file: no person signs in.
    GoogleServiceAccount {
        /// The key file.
        key: PathBuf,
        /// The scopes to ask for.
        scopes: Vec<String>,
    },
    /// Yandex OAuth by device code (or the code flow).
    Yandex,
}

impl SignIn {
    /// A short name for web forms: `consent` (a consent page that comes back to the server), `device` (a
    /// code the person enters on the service's page) or `none` (service accounts need no person).
    pub fn style(&self) -> &'static str {
        match self {
            SignIn::Google { .. } => "consent",
            SignIn::Yandex => "device",
            SignIn::None | SignIn::GoogleServiceAccount { .. } => "none",
        }
    }
}

/// What opening a remote is given.
pub struct OpenCtx<'a> {
    /// The remote's name.
    pub name: &'a str,
    /// Its configuration.
    pub config: &'a RemoteConfig,
    /// HTTP settings (retries, timeouts, extra CA, a pacer for this remote).
    pub http: HttpConfig,
    /// Its credentials, per its [`SignIn`] (none for [`SignIn::None`]).
    pub token: Option<Arc<dyn TokenSource>>,
}

impl OpenCtx<'_> {
    /// The credentials, which this kind needs.
    pub fn token(&self) -> Result<Arc<dyn TokenSource>> {
        self.token.clone().ok_or_else(|| {
            Error::invalid(format!("remote {} has no credentials", self.name))
                .with_hint(format!("run: cloudmux auth login {}", self.name))
        })
    }

    /// The remote's options as the backend's typed struct.
    pub fn options<T: DeserializeOwned>(&self) -> Result<T> {
        self.config.typed()
    }
}

/// A kind of remote.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The kind's name, the `type` of its remotes (`gdrive`).
    fn kind(&self) -> &'static str;

    /// One line about it, for help texts.
    fn about(&self) -> &'static str;

    /// Its options.
    fn options(&self) -> &'static [OptionSpec];

    /// Checks a new remote's options (beyond what [`OptionSpec`] says, which is checked before) and
    /// completes them (defaults); an error says what to give.
    fn check(&self, config: &mut RemoteConfig) -> Result<()>;

    /// How a remote of this kind signs in.
    fn sign_in(&self, config: &RemoteConfig) -> Result<SignIn>;

    /// Opens a remote of this kind.
    async fn open(&self, ctx: OpenCtx<'_>) -> Result<Arc<dyn Storage>>;
}

impl std::fmt::Debug for dyn Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

/// The options every backend that talks HTTP takes.
pub const HTTP_OPTIONS: [OptionSpec; 2] = [
    OptionSpec::text(
        "endpoint",
        "Base URL replacing every host of the service (an emulator: http://127.0.0.1:4444)",
    )
    .of(OptionKind::Url),
    OptionSpec::text("ca_cert", "An extra CA certificate (PEM) to trust").of(OptionKind::Path),
];
