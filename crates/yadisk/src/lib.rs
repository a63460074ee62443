#![doc = include_str!("../docs.md")]
#![deny(missing_docs)]

mod client;
pub mod error;
pub mod model;
mod storage;
mod upload;

pub use client::{YadiskClient, YadiskConfig};
pub use storage::YadiskStorage;
pub use upload::{DETOUR_SUFFIX, THROTTLE_DETOUR_MIN, throttled};
