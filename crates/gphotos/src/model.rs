//! Photos Library wire types.

use serde::{Deserialize, Serialize};

/// A media item.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MediaItem {
    /// Id.
    pub id: String,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Link in Google Photos.
    pub product_url: String,
    /// Base URL of the bytes (valid about an hour).
    pub base_url: String,
    /// MIME type.
    pub mime_type: String,
    /// File name.
    pub filename: String,
    /// Metadata.
    pub media_metadata: MediaMetadata,
}

impl MediaItem {
    /// Whether this is a video (downloaded with `=dv`).
    pub fn is_video(&self) -> bool {
        self.media_metadata.video.is_some() || self.mime_type.starts_with("video/")
    }
}

/// Media metadata.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MediaMetadata {
    /// When the photo or video was taken.
    pub creation_time: Option<chrono::DateTime<chrono::Utc>>,
    /// Width (int64 as string).
    pub width: Option<String>,
    /// Height.
    pub height: Option<String>,
    /// Photo details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub photo: Option<serde_json::Value>,
    /// Video details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video: Option<serde_json::Value>,
}

/// An album.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Album {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Link in Google Photos.
    pub product_url: String,
    /// Items (int64 as string).
    pub media_items_count: Option<String>,
    /// Whether the app may add to it.
    pub is_writeable: bool,
}
