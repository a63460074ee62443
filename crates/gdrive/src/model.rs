//! Drive v3 wire types (only the fields cloudmux asks for; unknown fields are ignored).

use serde::{Deserialize, Serialize};

/// Parses Drive's int64-as-string numbers.
pub mod int64 {
    use serde::{Deserialize, Deserializer};
    /// For `Option<u64>` fields sent as strings.
    pub fn opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum N {
            S(String),
            N(u64),
        }
        Ok(match Option::<N>::deserialize(d)? {
            None => None,
            Some(N::N(n)) => Some(n),
            Some(N::S(s)) => Some(s.parse().map_err(serde::de::Error::custom)?),
        })
    }
}

/// A file or folder.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct File {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// MIME type.
    pub mime_type: String,
    /// Parent folder ids.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<String>,
    /// Size of stored content.
    #[serde(
        deserialize_with = "int64::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub size: Option<u64>,
    /// MD5 of the content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub md5_checksum: Option<String>,
    /// SHA-1 of the content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha1_checksum: Option<String>,
    /// SHA-256 of the content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256_checksum: Option<String>,
    /// Modified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified_time: Option<chrono::DateTime<chrono::Utc>>,
    /// Created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_time: Option<chrono::DateTime<chrono::Utc>>,
    /// Trashed (itself or through a parent).
    pub trashed: bool,
    /// Shared drive id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drive_id: Option<String>,
    /// Link to open it in a browser.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_view_link: Option<String>,
    /// Direct download link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_content_link: Option<String>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Starred.
    pub starred: bool,
    /// Shortcut target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shortcut_details: Option<serde_json::Value>,
    /// Export links of Google Docs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export_links: Option<serde_json::Map<String, serde_json::Value>>,
}

impl File {
    /// Whether this is a folder.
    pub fn is_folder(&self) -> bool {
        self.mime_type == crate::FOLDER_MIME
    }

    /// Whether this is a Google Docs Editors file (no stored bytes; export it).
    pub fn is_google_doc(&self) -> bool {
        self.mime_type.starts_with("application/vnd.google-apps.") && !self.is_folder()
    }
}

/// A page of files.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FileList {
    /// Files.
    pub files: Vec<File>,
    /// Next page.
    pub next_page_token: Option<String>,
    /// Whether the search was incomplete.
    pub incomplete_search: bool,
}

/// Ids from `files.generateIds`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct GeneratedIds {
    /// Ids.
    pub ids: Vec<String>,
}

/// A user.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct User {
    /// Display name.
    pub display_name: String,
    /// E-mail.
    pub email_address: Option<String>,
}

/// Storage quota (bytes).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StorageQuota {
    /// Limit (absent: unlimited).
    #[serde(deserialize_with = "int64::opt")]
    pub limit: Option<u64>,
    /// Used in all Google services.
    #[serde(deserialize_with = "int64::opt")]
    pub usage: Option<u64>,
    /// Used in Drive.
    #[serde(deserialize_with = "int64::opt")]
    pub usage_in_drive: Option<u64>,
    /// Used by Drive's trash.
    #[serde(deserialize_with = "int64::opt")]
    pub usage_in_drive_trash: Option<u64>,
}

/// `about.get`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct About {
    /// The user.
    pub user: User,
    /// Quota.
    pub storage_quota: StorageQuota,
    /// Export formats per Google type.
    pub export_formats: std::collections::BTreeMap<String, Vec<String>>,
    /// Largest upload.
    #[serde(deserialize_with = "int64::opt")]
    pub max_upload_size: Option<u64>,
}

/// A permission.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Permission {
    /// Id.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// `user`, `group`, `domain`, `anyone`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `reader`, `commenter`, `writer`, `owner`, …
    pub role: String,
    /// For users and groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_address: Option<String>,
    /// For domains.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

/// A comment.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Comment {
    /// Id.
    pub id: String,
    /// Text.
    pub content: String,
    /// Author.
    pub author: User,
    /// Created.
    pub created_time: Option<String>,
    /// Modified.
    pub modified_time: Option<String>,
    /// Resolved.
    pub resolved: bool,
    /// Deleted.
    pub deleted: bool,
}

/// One change.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Change {
    /// File id.
    pub file_id: Option<String>,
    /// Whether it was removed.
    pub removed: bool,
    /// Time.
    pub time: Option<String>,
    /// The file as it is now.
    pub file: Option<File>,
}

/// A page of changes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ChangeList {
    /// Changes.
    pub changes: Vec<Change>,
    /// Next page.
    pub next_page_token: Option<String>,
    /// Token to poll next time (last page).
    pub new_start_page_token: Option<String>,
}

/// A shared drive.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SharedDrive {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Created.
    pub created_time: Option<String>,
}
