//! The core of cloudmux: what every cloud drive looks like to the rest of the toolkit.
//!
//! Each service crate (`cloudmux-gdrive`, `cloudmux-local`, …) implements one trait, [`Storage`], so the CLI,
//! the transfer engine and the server can treat any drive the same way. This crate holds that trait and the
//! types around it:
//!
//! - [`Storage`]: list (a stream of pages), stat, ranged read (a byte stream), write from a stream of known or
//!   unknown size, mkdir, copy, move, delete (trash or permanent), public link, about, capabilities.
//! - [`Entry`]: one file or folder, with id, path, size, time, MIME type and the hashes the service reports.
//! - [`Error`]: a failure with an [`ErrorKind`], the service's own reason and a hint that tells the user what to
//!   do. API error bodies never come back as results.
//! - [`RemotePath`]: the `name:path`, `name:id:FILEID` and plain local addresses users type.
//! - [`name`]: what a name may be, and the reversible encoding that makes any name a service returns safe
//!   to join into a path.
//! - [`paged()`]: a paged listing as a stream, from "how to start" and "how to fetch one page".
//! - [`fs::write_private`]: the one atomic, owner-only file write (tokens, state, configuration).
//! - `conformance` (feature `conformance`): the suite every backend passes, modelled on rclone's fstests.
//!
//! ```
//! use cloudmux_core::{RemotePath, path::normalize};
//! let p = RemotePath::parse("gdrive:Photos/2024/a b.jpg").unwrap();
//! assert_eq!(p, RemotePath::Remote { remote: "gdrive".into(), path: "Photos/2024/a b.jpg".into() });
//! assert_eq!(normalize("/a//b/./c/").unwrap(), "a/b/c");
//! assert!(normalize("a/../../etc").is_err());
//! ```
#![deny(missing_docs)]

pub mod chunk;
pub mod entry;
pub mod error;
pub mod fs;
pub mod memory;
pub mod mime;
pub mod name;
pub mod paged;
pub mod path;
pub mod resume;
pub mod storage;
pub mod subtree;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use entry::{About, Entry, Hashes};
pub use error::{Error, ErrorKind, Result};
pub use paged::{Pages, paged};
pub use path::RemotePath;
pub use resume::{DirSessions, Resume, SessionStore};
pub use storage::{
    ByteRange, ByteStream, Capabilities, Change, Changes, DeleteMode, PageStream, Storage,
    WriteOptions, bytes_stream, collect_bytes, list_all, list_folders,
};
pub use subtree::SubTree;
