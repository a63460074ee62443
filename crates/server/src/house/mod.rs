//! The house: what the server keeps and does, whoever asks and however they ask. Nothing here knows an
//! HTTP route or a door ([`crate::doors`] call into it; `tests/layout.rs` keeps it so).

pub mod db;
pub mod exif;
pub mod limits;
pub mod markdown;
pub mod mounts;
pub mod shares;
pub mod subtitles;
pub mod tasks;
pub mod thumbs;
pub mod tickets;
pub mod tree;
pub mod users;
pub mod zip;
