//! Drive's errors are Google's shared error body; see [`cloudmux_http::google`].

pub use cloudmux_http::google::parse_error;
