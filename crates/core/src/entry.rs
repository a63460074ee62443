//! Entries (files and folders) and account information.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Checksums a service reports for a file, lower-case hex.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hashes {
    /// MD5 (Drive, Yandex Disk).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    /// SHA-1 (Drive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    /// SHA-256 (Drive, Yandex Disk).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl Hashes {
    /// True when no hash is known.
    pub fn is_empty(&self) -> bool {
        self.md5.is_none() && self.sha1.is_none() && self.sha256.is_none()
    }
}

/// One file or folder as a backend sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The service's id for it (Drive file id, Yandex resource id), if the service has ids.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Path relative to the remote's root, `/`-separated, without leading slash; `""` is the root.
    pub path: String,
    /// The last path component (the name the service shows).
    pub name: String,
    /// Size in bytes; `None` for folders and files without stored bytes (Google Docs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Last modification time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified: Option<DateTime<Utc>>,
    /// Whether this is a folder.
    pub is_dir: bool,
    /// MIME type, where the service reports one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime: Option<String>,
    /// Checksums the service reports.
    #[serde(default, skip_serializing_if = "Hashes::is_empty")]
    pub hashes: Hashes,
}

impl Entry {
    /// A folder entry at `path`.
    pub fn dir(path: impl Into<String>) -> Self {
        let path = path.into();
        Entry {
            id: None,
            name: crate::path::file_name(&path).to_string(),
            path,
            size: None,
            modified: None,
            is_dir: true,
            mime: None,
            hashes: Hashes::default(),
        }
    }

    /// A file entry at `path` with `size` bytes.
    pub fn file(path: impl Into<String>, size: u64) -> Self {
        Entry {
            size: Some(size),
            is_dir: false,
            ..Entry::dir(path)
        }
    }
}

/// What a backend knows about the account behind it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct About {
    /// The signed-in user (email or login), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Total space in bytes; `None` when unlimited or unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Bytes used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used: Option<u64>,
    /// Bytes in the trash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trashed: Option<u64>,
    /// Bytes free.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub free: Option<u64>,
}
