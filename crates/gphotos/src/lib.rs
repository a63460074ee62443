//! Google Photos for cloudmux, as the Library API is since 2025-03-31: an app sees only the media items and
//! albums it created (a user's existing library is reached through the Picker API).
//!
//! - [`PhotosClient`] (`client.rs`): mediaItems list / search (album, date and media-type filters) / get /
//!   batchGet; albums list / get / create / patch / batchAddMediaItems / batchRemoveMediaItems; uploads — raw
//!   for small files, resumable in chunks at the granularity the server asks (resumed from the size the
//!   session reports after a failure) — then `mediaItems:batchCreate` in batches of at most 50 with each
//!   item's status handled (a failed item is reported, the rest kept); downloads from `baseUrl` + `=d`
//!   (images) or `=dv` (videos), fetching a fresh baseUrl when one has expired.
//! - [`PickerClient`] (`picker.rs`): the Picker API — sessions, polling at the session's interval, the picked
//!   items and their bytes, session deletion — the way to a user's existing library.
//! - [`GPhotosStorage`]: a browsable tree like rclone's: `media/all`, `media/by-year/YYYY`,
//!   `media/by-month/YYYY/YYYY-MM`, `album/TITLE` (mkdir creates an album; a file written into it is uploaded
//!   and added), `upload/`. Writes that finish their upload together share one `batchCreate`. Duplicate names get the item id appended, the same way every time. What the API
//!   cannot do (delete a media item, rename) answers Unsupported with a hint. Listings page through the
//!   library, never load it whole.
//!
//! ```no_run
//! # async fn demo(token: std::sync::Arc<dyn cloudmux_http::TokenSource>) -> cloudmux_core::Result<()> {
//! use cloudmux_gphotos::{GPhotosStorage, PhotosClient, PhotosConfig};
//! let photos = GPhotosStorage::new(PhotosClient::new(PhotosConfig::default(), token)?, "root")?;
//! let years = cloudmux_core::list_all(&photos, "media/by-year").await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod batch;
mod client;
pub mod model;
pub mod picker;
mod storage;

pub use client::{PhotosClient, PhotosConfig, SearchFilter};
pub use picker::{PickedItem, PickerClient, PickingSession};
pub use storage::GPhotosStorage;
