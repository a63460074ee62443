//! Google Drive v3 for cloudmux.
//!
//! - [`DriveClient`] (`client.rs`): one method per endpoint — files (list with a properly escaped `q`, get,
//!   download with Range and the `acknowledgeAbuse` retry, export, create, update, copy, move with
//!   addParents/removeParents taken from the file's real parents, trash/untrash/delete, emptyTrash,
//!   generateIds), permissions, about, comments, changes, shared drives.
//! - Uploads (`upload.rs`): multipart for small files, resumable for large or unknown-size ones in chunks that
//!   are multiples of 256 KiB, resumed after a failure from the offset the session reports
//!   (`Content-Range: bytes */N`); [`ResumableUpload`] exposes the session, and a write given a
//!   [`cloudmux_core::Resume`] keeps it in a session store so an interrupted upload (`put`, `cp`, a tree
//!   copy) resumes on the next run. Creates carry ids from `files.generateIds`, so a retried create never makes a
//!   duplicate.
//! - [`GDriveStorage`] (`storage.rs`): the [`cloudmux_core::Storage`] impl, resolving paths to ids with a
//!   cache. Drive allows duplicate names in a folder; the oldest is picked, always the same one, with a
//!   warning; `name:id:FILEID` addresses reach any of them.
//! - [`error::parse_error`]: Google's error body → [`cloudmux_core::Error`] with kind and hint (missing scope
//!   named, activation URL of a disabled API, quota, rate limits).
//!
//! ```no_run
//! # async fn demo(token: std::sync::Arc<dyn cloudmux_http::TokenSource>) -> cloudmux_core::Result<()> {
//! use cloudmux_gdrive::{DriveClient, DriveConfig, GDriveStorage};
//! let client = DriveClient::new(DriveConfig::default(), token)?;
//! let drive = GDriveStorage::new(client, None).await?;
//! let entries = cloudmux_core::list_all(&drive, "Documents").await?;
//! # Ok(()) }
//! ```
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
