//! Google's services: OAuth 2.0, Drive v3 and Photos Library v1, plus the error bodies they share.

pub mod api;
pub mod drive;
pub mod error;
pub mod oauth;
pub mod photos;
pub mod picker;
