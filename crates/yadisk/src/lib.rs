//! Yandex Disk for cloudmux.
//!
//! - [`YadiskClient`] (`client.rs`): the REST API v1 — disk info; resources with `limit`/`offset` paging through
//!   `_embedded`, `sort`, `fields`; the flat file list and last-uploaded; mkdir (with parents on request);
//!   delete to the trash or permanently; copy and move with `overwrite`; every 202 answer followed to its
//!   operation until `success` or `failed`; download (link, then the bytes with Range); upload (link, then the
//!   bytes: one PUT for small files, Content-Range chunks for large or unknown-size ones, each chunk resent
//!   after a failure); the MD5 Yandex reports checked after every upload; upload by URL; publish, unpublish,
//!   published resources; public resources (meta with paging, download link, save to disk); trash (list,
//!   restore, empty); custom properties.
//! - [`error::parse_error`]: the `{message, description, error}` body and status → [`cloudmux_core::Error`].
//! - [`YadiskStorage`]: the [`cloudmux_core::Storage`] impl; its root is `disk:/`, `app:/` or a sub-path;
//!   modification times are kept in the `cloudmux_mtime` custom property.
//!
//! The OAuth token goes only to the API host (`Authorization: OAuth …`); upload and download links are
//! fetched without it.
//!
//! ```no_run
//! # async fn demo(token: std::sync::Arc<dyn cloudmux_http::TokenSource>) -> cloudmux_core::Result<()> {
//! use cloudmux_yadisk::{YadiskClient, YadiskConfig, YadiskStorage};
//! let client = YadiskClient::new(YadiskConfig::default(), token)?;
//! let disk = YadiskStorage::new(client, "disk:/")?;
//! let entries = cloudmux_core::list_all(&disk, "Documents").await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod client;
pub mod error;
pub mod model;
mod storage;

pub use client::{YadiskClient, YadiskConfig};
pub use storage::YadiskStorage;
