#![doc = include_str!("../docs.md")]
#![deny(missing_docs)]

mod storage;

pub use storage::LocalStorage;
