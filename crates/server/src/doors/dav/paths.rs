//! Where WebDAV is served and how its paths become tree paths: what the door's handler and its locks
//! both need.

use dav_server::davpath::DavPath;
use dav_server::fs::{FsError, FsResult};

use crate::house::tree::{clean, under};
use crate::house::users::User;

/// Where WebDAV is served.
pub const PREFIX: &str = "/dav";

/// The tree path of a WebDAV path for `user`.
pub(crate) fn tree_path(path: &DavPath, user: &User) -> FsResult<String> {
    let raw = std::str::from_utf8(path.as_bytes()).map_err(|_| FsError::Forbidden)?;
    let c = clean(raw).map_err(|_| FsError::Forbidden)?;
    Ok(under(&user.base_path, &c))
}
