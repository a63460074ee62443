//! The local disk as a cloudmux [`Storage`](cloudmux_core::Storage).
//!
//! [`LocalStorage`] serves one folder (its root). Every path is normalised by `cloudmux_core::path::normalize`
//! (no `..` above the root) and then resolved against the real file system: a path whose canonical form lies
//! outside the root, through a symlink for example, is refused with PermissionDenied, and such symlinks are
//! left out of listings. Writes go to a temporary file in the destination folder and are renamed into place
//! when complete, so a failed or interrupted write never leaves a half-written file under the real name.
//!
//! The local disk has no trash: [`DeleteMode::Trash`](cloudmux_core::DeleteMode) answers Unsupported, so a
//! caller never deletes for good by accident.
//!
//! ```no_run
//! # async fn demo() -> cloudmux_core::Result<()> {
//! use cloudmux_core::{Storage, list_all};
//! let disk = cloudmux_local::LocalStorage::new("/srv/files")?;
//! for e in list_all(&disk, "").await? {
//!     println!("{} {}", e.name, e.size.unwrap_or(0));
//! }
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod storage;

pub use storage::LocalStorage;
