//! What every door shares: answers made from files and errors, and the client's address behind
//! trusted proxies.

pub mod authed;
pub mod body;
pub mod error;
pub mod files;
pub mod proxy;
