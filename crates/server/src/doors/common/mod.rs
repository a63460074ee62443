//! What every door shares: answers made from files and errors, the client's address behind trusted
//! proxies, and the icon.

pub mod authed;
pub mod body;
pub mod error;
pub mod files;
pub mod proxy;

/// cloudmux's icon: the web page's, and the AList frontend's (which would otherwise fetch OpenList's).
pub const ICON: &str = include_str!("favicon.svg");
