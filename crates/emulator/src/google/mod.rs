//! Google's services: OAuth 2.0 and Drive v3, plus the error bodies they share.

pub mod drive;
pub mod error;
pub mod oauth;
