//! The descriptors of the backends, one module each (options, check, sign-in, open).

pub mod gdrive;
pub mod gphotos;
pub mod local;
pub mod memory;
pub mod yadisk;
