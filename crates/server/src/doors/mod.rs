//! The doors: each way into the house ([`crate::house`]) in a place of its own. A door calls the house
//! and [`common`] (what every door needs to speak HTTP to someone it has checked), never another door
//! (`tests/layout.rs` keeps it so).

pub mod alist;
pub mod api;
pub mod common;
pub mod dav;
pub mod share;
pub mod web;
