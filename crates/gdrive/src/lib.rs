#![doc = include_str!("../docs.md")]
#![deny(missing_docs)]

mod client;
pub mod error;
pub mod model;
pub mod query;
mod storage;
mod upload;

pub use client::{DriveClient, DriveConfig, FILE_FIELDS, LIST_FIELDS, ListQuery};
pub use storage::{GDriveStorage, RootSpec};
pub use upload::{ResumableUpload, SessionStatus, UploadOptions};

/// MIME type of folders.
pub const FOLDER_MIME: &str = "application/vnd.google-apps.folder";
