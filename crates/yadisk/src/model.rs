//! Yandex Disk wire types.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

/// A file or folder (also trash items and public resources).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Resource {
    /// Name.
    pub name: String,
    /// Path (`disk:/…`, `trash:/…`, or `/…` inside a public resource).
    pub path: String,
    /// `dir` or `file`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<FixedOffset>>,
    /// Modified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified: Option<DateTime<FixedOffset>>,
    /// Size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// MD5.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    /// SHA-256.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// MIME type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Media type (image, video, document, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Resource id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// Custom properties.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_properties: Option<serde_json::Map<String, serde_json::Value>>,
    /// Public key, when published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// Public URL, when published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// Original path (trash items).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin_path: Option<String>,
    /// Deletion time (trash items).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<DateTime<FixedOffset>>,
    /// A page of children (folders).
    #[serde(rename = "_embedded", skip_serializing_if = "Option::is_none")]
    pub embedded: Option<Embedded>,
}

impl Resource {
    /// Whether this is a folder.
    pub fn is_dir(&self) -> bool {
        self.kind == "dir"
    }
}

/// A page of a folder's children.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Embedded {
    /// Items.
    pub items: Vec<Resource>,
    /// Page size.
    pub limit: u64,
    /// Offset.
    pub offset: u64,
    /// Total children.
    pub total: Option<u64>,
}

/// A link answer (`href`, `method`; uploads add `operation_id`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Link {
    /// URL.
    pub href: String,
    /// HTTP method.
    pub method: String,
    /// Operation id (upload links).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
}

/// A flat list (`/resources/files`, `/resources/public`, `/resources/last-uploaded`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ItemList {
    /// Items.
    pub items: Vec<Resource>,
    /// Limit.
    pub limit: Option<u64>,
    /// Offset.
    pub offset: Option<u64>,
}

/// The user.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct User {
    /// Login.
    pub login: String,
    /// Display name.
    pub display_name: String,
    /// Uid.
    pub uid: String,
}

/// `GET /v1/disk`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DiskInfo {
    /// Size.
    pub total_space: u64,
    /// Used (trash included).
    pub used_space: u64,
    /// In the trash.
    pub trash_size: u64,
    /// Largest file.
    pub max_file_size: Option<u64>,
    /// Paid account.
    pub is_paid: bool,
    /// The user.
    pub user: User,
    /// System folders.
    pub system_folders: serde_json::Map<String, serde_json::Value>,
}
