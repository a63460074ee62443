#![doc = include_str!("../docs.md")]
#![deny(missing_docs)]

mod batch;
mod client;
pub mod error;
pub mod model;
pub mod picker;
mod storage;
mod upload;

pub use client::{PhotosClient, PhotosConfig, SearchFilter};
pub use picker::{PickedItem, PickerClient, PickingSession};
pub use storage::GPhotosStorage;
