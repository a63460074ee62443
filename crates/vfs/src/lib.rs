//! The transfer engine: recursive `copy`, `move`, `sync` and `check` between any two [`Storage`](cloudmux_core::Storage)s.
//!
//! Both trees are walked (folders listed concurrently, page by page), filtered ([`Filter`]), and compared:
//! by size and a hash both sides report (MD5 or SHA-256), else by size and modification time, or only by
//! size / only by hash on request. Files that differ are copied with bounded concurrency — server-side when
//! both ends are one storage that can copy, otherwise streamed from one to the other with no temp file — and
//! files past a size cutoff are read in several ranged streams at once (segments yielded in order, memory
//! bounded by streams × segment size); folders are created before the copies start, one depth at a time
//! (never two creations of one folder, which on Drive would make two); each copy is verified against what the destination reports (retried once, then a loud error). `sync`
//! removes what the destination has beyond the source only after every copy succeeded; `move` deletes a
//! source file only after its copy was verified. `check` reports missing, extra and differing files.
//!
//! [`bisync`] decides what a two-way sync does: each side's changes against the last agreed listing, and a
//! plan that keeps every content (conflicts keep both versions).
//!
//! [`copy_file`] and [`move_file`] are the same copy for one file (the CLI's `cp`, `mv`, `get` and `put`
//! of a file, the server's copies between mounts): one place where transfers get better.
//!
//! ```no_run
//! # async fn demo(a: std::sync::Arc<dyn cloudmux_core::Storage>, b: std::sync::Arc<dyn cloudmux_core::Storage>) -> cloudmux_core::Result<()> {
//! use cloudmux_vfs::{Mode, Options, run};
//! let stats = run(Mode::Sync, (a, "Photos".into()), (b, "Backup/Photos".into()), &Options::default(), &|_| {}).await?;
//! println!("{} copied, {} deleted", stats.copied, stats.deleted);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod bisync;
mod engine;
mod filter;

pub use engine::{
    Event, Mode, Options, ResumeScope, Source, Stats, copy_file, move_file, multi_stream_read, run,
};
pub use filter::{Filter, glob_match, parse_age};
