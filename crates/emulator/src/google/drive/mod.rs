//! Google Drive v3 with its real semantics: ids, parents, non-unique names, the `q` grammar, `fields`, paging,
//! orderBy, uploads (media, multipart, resumable with 308 + Range), Range downloads, checksums, trash, copy,
//! permissions, comments, changes, generateIds, shared drives, about and quota.
//!
//! Handlers take the state lock briefly and never across an await; file contents stream to and from the blob
//! store.

mod extra;
pub mod fields;
mod files;
pub mod query;
mod upload;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use axum::Router;
use axum::http::HeaderMap;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::blob::BlobHashes;
use crate::faults::lock;
use crate::google::api::{TokenGrant, authorize};
use crate::google::error::{GError, GResult};
use crate::hosts::Base;
use crate::{DEMO_USER, State as Emu};

/// MIME type of folders.
pub const FOLDER: &str = "application/vnd.google-apps.folder";
/// Prefix of Google Workspace types.
pub const GOOGLE_APPS: &str = "application/vnd.google-apps.";
pub(super) const API: (&str, &str) = ("drive.googleapis.com", "Google Drive API");

/// Scopes that may read.
pub const READ_SCOPES: &[&str] = &[
    "drive",
    "drive.file",
    "drive.readonly",
    "drive.metadata.readonly",
    "drive.metadata",
    "drive.appdata",
];
/// Scopes that may read content.
pub const CONTENT_SCOPES: &[&str] = &["drive", "drive.file", "drive.readonly", "drive.appdata"];
/// Scopes that may write.
pub const WRITE_SCOPES: &[&str] = &["drive", "drive.file", "drive.appdata"];

/// A permission on a file.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Permission {
    /// Id.
    pub id: String,
    /// user, group, domain, anyone.
    pub kind: String,
    /// owner, organizer, fileOrganizer, writer, commenter, reader.
    pub role: String,
    /// For user/group.
    pub email: Option<String>,
    /// For domain.
    pub domain: Option<String>,
    /// For anyone/domain.
    pub allow_discovery: Option<bool>,
}

/// A comment on a file.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Comment {
    /// Id.
    pub id: String,
    /// Text.
    pub content: String,
    /// Anchor (opaque JSON string).
    pub anchor: Option<String>,
    /// Quoted content.
    pub quoted: Option<Value>,
    /// Created.
    pub created: DateTime<Utc>,
    /// Modified.
    pub modified: DateTime<Utc>,
    /// Resolved.
    pub resolved: bool,
    /// Deleted.
    pub deleted: bool,
}

/// A file or folder.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct File {
    /// Id.
    pub id: String,
    /// Name (not unique).
    pub name: String,
    /// MIME type.
    pub mime: String,
    /// Parent ids (one in practice).
    pub parents: Vec<String>,
    /// Content blob key.
    pub blob: Option<String>,
    /// Content size.
    pub size: Option<u64>,
    /// Content hashes.
    pub hashes: Option<BlobHashes>,
    /// Created.
    pub created: DateTime<Utc>,
    /// Modified.
    pub modified: DateTime<Utc>,
    /// Trashed itself.
    pub explicitly_trashed: bool,
    /// Starred.
    pub starred: bool,
    /// Description.
    pub description: Option<String>,
    /// Public properties.
    pub properties: BTreeMap<String, String>,
    /// App properties.
    pub app_properties: BTreeMap<String, String>,
    /// Shared drive id.
    pub drive_id: Option<String>,
    /// Version counter.
    pub version: u64,
    /// Permissions (owner first).
    pub permissions: Vec<Permission>,
    /// Comments.
    pub comments: Vec<Comment>,
    /// Name at upload.
    pub original_filename: Option<String>,
    /// Flagged as malware.
    pub abusive: bool,
    /// Text of a Google Doc (for export).
    pub doc_text: Option<String>,
    /// Creation order, for stable default ordering.
    pub seq: u64,
}

impl File {
    /// Whether this is a folder.
    pub fn is_folder(&self) -> bool {
        self.mime == FOLDER
    }
}

/// Drive's persistent part.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct DriveSnapshot {
    root_id: String,
    files: Vec<File>,
    drives: Vec<SharedDrive>,
    next_change: u64,
    seq: u64,
}

/// A shared drive.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SharedDrive {
    /// Id (also its root folder's id).
    pub id: String,
    /// Name.
    pub name: String,
    /// Created.
    pub created: DateTime<Utc>,
    /// The request id that created it.
    pub request_id: String,
    /// Hidden.
    pub hidden: bool,
}

/// An in-progress resumable upload.
#[derive(Debug)]
pub struct Session {
    /// Metadata given at initiation.
    pub metadata: Value,
    /// For updates: the file whose content is replaced.
    pub target: Option<String>,
    /// Declared total size.
    pub total: Option<u64>,
    /// Declared media type.
    pub content_type: Option<String>,
    /// Blob key being written.
    pub blob: String,
    /// Bytes committed.
    pub committed: u64,
    /// Hashes of the committed bytes.
    pub hasher: crate::blob::Hasher,
    /// The finished file, once complete.
    pub done: Option<String>,
    /// `fields` of the initiating request.
    pub fields: Option<String>,
    /// `supportsAllDrives` of the initiating request.
    pub all_drives: bool,
    /// The user who started it (whose daily upload bytes it counts against).
    pub user: String,
}

/// All of Drive's state for the (single) emulated user.
#[derive(Debug)]
pub struct DriveState {
    /// Files by id.
    pub files: HashMap<String, File>,
    /// Children ids by parent id.
    pub children: HashMap<String, HashSet<String>>,
    /// The My Drive root folder id (`root` is an alias).
    pub root_id: String,
    /// Shared drives.
    pub drives: BTreeMap<String, SharedDrive>,
    generated: HashSet<String>,
    sessions: HashMap<String, Arc<tokio::sync::Mutex<Session>>>,
    changes: BTreeMap<u64, String>,
    change_of: HashMap<String, u64>,
    removed: HashSet<String>,
    next_change: u64,
    seq: u64,
    /// Bytes received on resumable sessions (tests measure re-sent data with it).
    pub resumable_bytes: u64,
    /// Bytes stored in My Drive (trash included), kept up to date on every insert and remove.
    used: u64,
    /// Bumped on every change; a cached listing is valid while it is unchanged.
    pub generation: u64,
    /// The last listing's sorted result (query fingerprint, generation, ids), so paging through a large
    /// folder does not filter and sort it again for every page.
    pub list_cache: Option<(String, u64, Arc<Vec<String>>)>,
    /// Where the blobs are (to find their SHA-1 and SHA-256 when asked).
    pub blob_dir: Option<std::path::PathBuf>,
}

/// A new Drive-style id.
pub fn new_id() -> String {
    const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut s = String::from("1");
    for _ in 0..32 {
        s.push(ALPHA[rand::random::<u8>() as usize % ALPHA.len()] as char);
    }
    s
}

/// RFC 3339 with milliseconds, as Drive prints times.
pub fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Default for DriveState {
    fn default() -> Self {
        Self::new()
    }
}

impl DriveState {
    /// A drive with an empty My Drive.
    pub fn new() -> Self {
        let root_id = format!("0A{}", &new_id()[1..20]);
        let now = Utc::now();
        let mut s = DriveState {
            files: HashMap::new(),
            children: HashMap::new(),
            root_id: root_id.clone(),
            drives: BTreeMap::new(),
            generated: HashSet::new(),
            sessions: HashMap::new(),
            changes: BTreeMap::new(),
            change_of: HashMap::new(),
            removed: HashSet::new(),
            next_change: 1,
            seq: 0,
            resumable_bytes: 0,
            used: 0,
            generation: 0,
            list_cache: None,
            blob_dir: None,
        };
        s.insert(File {
            id: root_id,
            name: "My Drive".into(),
            mime: FOLDER.into(),
            parents: vec![],
            blob: None,
            size: None,
            hashes: None,
            created: now,
            modified: now,
            explicitly_trashed: false,
            starred: false,
            description: None,
            properties: BTreeMap::new(),
            app_properties: BTreeMap::new(),
            drive_id: None,
            version: 1,
            permissions: vec![owner_permission()],
            comments: vec![],
            original_filename: None,
            abusive: false,
            doc_text: None,
            seq: 0,
        });
        s
    }

    /// What `--state-dir` keeps of Drive: files, shared drives, counters (not open upload sessions).
    pub fn snapshot(&self) -> DriveSnapshot {
        DriveSnapshot {
            root_id: self.root_id.clone(),
            files: self.files.values().cloned().collect(),
            drives: self.drives.values().cloned().collect(),
            next_change: self.next_change,
            seq: self.seq,
        }
    }

    /// Rebuilds the state (indexes, usage, change log) from a snapshot.
    pub fn from_snapshot(snap: DriveSnapshot) -> Self {
        let mut s = DriveState::new();
        s.files.clear();
        s.children.clear();
        s.changes.clear();
        s.change_of.clear();
        s.used = 0;
        s.root_id = snap.root_id;
        let mut files = snap.files;
        files.sort_by_key(|f| f.seq);
        for f in files {
            s.insert(f);
        }
        s.drives = snap.drives.into_iter().map(|d| (d.id.clone(), d)).collect();
        s.next_change = s.next_change.max(snap.next_change);
        s.seq = s.seq.max(snap.seq);
        s
    }

    /// Number of files (the root included).
    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    /// Number of open upload sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Maps the `root` alias to the real id.
    pub fn real_id<'a>(&'a self, id: &'a str) -> &'a str {
        if id == "root" { &self.root_id } else { id }
    }

    /// Inserts (or replaces) a file, keeping the children index and the change log.
    pub fn insert(&mut self, mut f: File) {
        if f.seq == 0 {
            self.seq += 1;
            f.seq = self.seq;
        }
        if let Some(old) = self.files.get(&f.id) {
            if old.drive_id.is_none() {
                self.used -= old.size.unwrap_or(0);
            }
            for p in old.parents.clone() {
                if let Some(c) = self.children.get_mut(&p) {
                    c.remove(&f.id);
                }
            }
        }
        for p in &f.parents {
            self.children
                .entry(p.clone())
                .or_default()
                .insert(f.id.clone());
        }
        self.record_change(&f.id);
        if f.drive_id.is_none() {
            self.used += f.size.unwrap_or(0);
        }
        self.files.insert(f.id.clone(), f);
    }

    /// Removes a file (not its children).
    pub fn remove(&mut self, id: &str) -> Option<File> {
        let f = self.files.remove(id)?;
        if f.drive_id.is_none() {
            self.used -= f.size.unwrap_or(0);
        }
        for p in &f.parents {
            if let Some(c) = self.children.get_mut(p) {
                c.remove(id);
            }
        }
        self.children.remove(id);
        self.record_change(id);
        self.removed.insert(id.to_string());
        Some(f)
    }

    fn record_change(&mut self, id: &str) {
        self.generation += 1;
        if let Some(old) = self.change_of.remove(id) {
            self.changes.remove(&old);
        }
        let n = self.next_change;
        self.next_change += 1;
        self.changes.insert(n, id.to_string());
        self.change_of.insert(id.to_string(), n);
        self.removed.remove(id);
    }

    /// Ids of a folder's children.
    pub fn children_of(&self, id: &str) -> Vec<String> {
        self.children
            .get(id)
            .map(|c| c.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// All descendants of a folder (depth first, children before parents).
    pub fn descendants(&self, id: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = self.children_of(id);
        while let Some(c) = stack.pop() {
            stack.extend(self.children_of(&c));
            out.push(c);
        }
        out
    }

    /// Whether a file or any of its ancestors is trashed.
    pub fn is_trashed(&self, f: &File) -> bool {
        let mut cur = Some(f);
        let mut depth = 0;
        while let Some(x) = cur {
            if x.explicitly_trashed {
                return true;
            }
            depth += 1;
            if depth > 512 {
                return false;
            }
            cur = x.parents.first().and_then(|p| self.files.get(p));
        }
        false
    }

    /// Whether `anc` is `id` or one of its ancestors.
    pub fn is_ancestor(&self, anc: &str, id: &str) -> bool {
        let mut cur = Some(id.to_string());
        let mut depth = 0;
        while let Some(c) = cur {
            if c == anc {
                return true;
            }
            depth += 1;
            if depth > 512 {
                return false;
            }
            cur = self.files.get(&c).and_then(|f| f.parents.first().cloned());
        }
        false
    }

    /// Bytes used in My Drive (trash included), without a scan.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Bytes used in My Drive, and of those in the trash (scans every file).
    pub fn usage(&self) -> (u64, u64) {
        let mut used = 0;
        let mut trash = 0;
        for f in self.files.values().filter(|f| f.drive_id.is_none()) {
            let s = f.size.unwrap_or(0);
            used += s;
            if s > 0 && self.is_trashed(f) {
                trash += s;
            }
        }
        (used, trash)
    }

    /// A file visible to the caller (shared-drive items need `supportsAllDrives`), or 404.
    pub fn get(&self, id: &str, all_drives: bool) -> GResult<&File> {
        let real = self.real_id(id);
        match self.files.get(real) {
            Some(f) if f.drive_id.is_none() || all_drives => Ok(f),
            _ => Err(GError::file_not_found(id)),
        }
    }
}

/// The owner's permission.
pub fn owner_permission() -> Permission {
    Permission {
        id: "00000000000000000001".into(),
        kind: "user".into(),
        role: "owner".into(),
        email: Some(DEMO_USER.into()),
        domain: None,
        allow_discovery: None,
    }
}

/// A permission as JSON.
pub fn permission_json(p: &Permission) -> Value {
    let mut v = json!({"kind": "drive#permission", "id": p.id, "type": p.kind, "role": p.role});
    if let Some(e) = &p.email {
        v["emailAddress"] = json!(e);
        v["displayName"] = json!(if e == DEMO_USER {
            "Demo User"
        } else {
            e.as_str()
        });
    }
    if let Some(d) = &p.domain {
        v["domain"] = json!(d);
    }
    if let Some(a) = p.allow_discovery {
        v["allowFileDiscovery"] = json!(a);
    }
    v
}

fn user_json() -> Value {
    json!({"kind": "drive#user", "displayName": "Demo User", "me": true, "permissionId": "00000000000000000001", "emailAddress": DEMO_USER})
}

/// Export formats per Google type.
pub fn export_formats() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        (
            "application/vnd.google-apps.document",
            vec![
                "text/plain",
                "text/markdown",
                "text/html",
                "application/rtf",
                "application/pdf",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                "application/vnd.oasis.opendocument.text",
                "application/zip",
                "application/epub+zip",
            ],
        ),
        (
            "application/vnd.google-apps.spreadsheet",
            vec![
                "text/csv",
                "text/tab-separated-values",
                "application/pdf",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "application/x-vnd.oasis.opendocument.spreadsheet",
                "application/vnd.oasis.opendocument.spreadsheet",
                "application/zip",
            ],
        ),
        (
            "application/vnd.google-apps.presentation",
            vec![
                "text/plain",
                "application/pdf",
                "application/vnd.openxmlformats-officedocument.presentationml.presentation",
                "application/vnd.oasis.opendocument.presentation",
                "image/jpeg",
                "image/png",
                "image/svg+xml",
            ],
        ),
        (
            "application/vnd.google-apps.drawing",
            vec![
                "application/pdf",
                "image/jpeg",
                "image/png",
                "image/svg+xml",
            ],
        ),
        (
            "application/vnd.google-apps.script",
            vec!["application/vnd.google-apps.script+json"],
        ),
    ]
}

/// The full JSON of a file (before `fields` selection).
pub fn file_json(st: &DriveState, f: &File, base: &Base) -> Value {
    file_json_with(st, f, base, &|_| true)
}

/// The JSON of a file with only the top-level fields `want` accepts computed (the rest is skipped, which
/// keeps large listings cheap).
pub fn file_json_with(
    st: &DriveState,
    f: &File,
    base: &Base,
    want: &dyn Fn(&str) -> bool,
) -> Value {
    let mut m = serde_json::Map::new();
    macro_rules! put {
        ($k:literal, $v:expr) => {
            if want($k) {
                m.insert($k.to_string(), json!($v));
            }
        };
    }
    let folder = f.is_folder();
    put!("kind", "drive#file");
    put!("id", f.id);
    put!("name", f.name);
    put!("mimeType", f.mime);
    put!("parents", f.parents);
    put!("createdTime", ts(&f.created));
    put!("modifiedTime", ts(&f.modified));
    put!("modifiedByMeTime", ts(&f.modified));
    put!("viewedByMeTime", ts(&f.modified));
    put!("trashed", st.is_trashed(f));
    put!("explicitlyTrashed", f.explicitly_trashed);
    put!("starred", f.starred);
    put!("version", f.version.to_string());
    put!("spaces", ["drive"]);
    put!("ownedByMe", f.drive_id.is_none());
    put!(
        "owners",
        if f.drive_id.is_none() {
            json!([user_json()])
        } else {
            json!([])
        }
    );
    put!("lastModifyingUser", user_json());
    put!("shared", f.permissions.len() > 1);
    put!("viewersCanCopyContent", true);
    put!("copyRequiresWriterPermission", false);
    put!("writersCanShare", true);
    put!("hasThumbnail", false);
    put!("isAppAuthorized", true);
    put!(
        "permissionIds",
        f.permissions
            .iter()
            .map(|p| p.id.clone())
            .collect::<Vec<_>>()
    );
    put!("properties", f.properties);
    put!("appProperties", f.app_properties);
    put!("quotaBytesUsed", f.size.unwrap_or(0).to_string());
    put!("headRevisionId", format!("0B{}", f.version));
    put!(
        "iconLink",
        format!(
            "https://drive-thirdparty.googleusercontent.com/16/type/{}",
            f.mime
        )
    );
    put!(
        "capabilities",
        json!({
            "canAddChildren": folder, "canCopy": !folder, "canDelete": true, "canDownload": !folder,
            "canEdit": true, "canListChildren": folder, "canModifyContent": true, "canRename": true, "canShare": true,
            "canTrash": true, "canUntrash": true, "canComment": true, "canReadRevisions": !folder,
            "canMoveItemWithinDrive": true, "canRemoveChildren": folder,
        })
    );
    put!(
        "webViewLink",
        if folder {
            base.url("drive.google.com", &format!("/drive/folders/{}", f.id))
        } else if f.mime.starts_with(GOOGLE_APPS) {
            base.url(
                "docs.google.com",
                &format!("/document/d/{}/edit?usp=drivesdk", f.id),
            )
        } else {
            base.url(
                "drive.google.com",
                &format!("/file/d/{}/view?usp=drivesdk", f.id),
            )
        }
    );
    if let (Some(size), Some(h)) = (f.size, &f.hashes) {
        put!("size", size.to_string());
        put!("md5Checksum", h.md5);
        if want("sha1Checksum") || want("sha256Checksum") {
            let extra = if h.sha256.is_empty() {
                f.blob
                    .as_ref()
                    .zip(st.blob_dir.as_ref())
                    .and_then(|(k, d)| crate::blob::extra_hashes(&d.join(k)))
            } else {
                Some((h.sha1.clone(), h.sha256.clone()))
            };
            if let Some((sha1, sha256)) = extra {
                put!("sha1Checksum", sha1);
                put!("sha256Checksum", sha256);
            }
        }
        put!(
            "webContentLink",
            base.url(
                "drive.google.com",
                &format!("/uc?id={}&export=download", f.id)
            )
        );
        if let Some((_, ext)) = f.name.rsplit_once('.') {
            put!("fileExtension", ext);
            put!("fullFileExtension", ext);
        }
        put!(
            "originalFilename",
            f.original_filename
                .clone()
                .unwrap_or_else(|| f.name.clone())
        );
    }
    if let Some(d) = &f.description {
        put!("description", d);
    }
    if let Some(d) = &f.drive_id {
        put!("driveId", d);
        put!("teamDriveId", d);
    }
    if want("exportLinks")
        && f.mime.starts_with(GOOGLE_APPS)
        && !folder
        && let Some((_, fmts)) = export_formats().into_iter().find(|(k, _)| *k == f.mime)
    {
        let links: serde_json::Map<String, Value> = fmts
            .iter()
            .map(|m| {
                (
                    m.to_string(),
                    json!(base.url(
                        "docs.google.com",
                        &format!(
                            "/feeds/download/documents/export/Export?id={}&exportFormat={m}",
                            f.id
                        )
                    )),
                )
            })
            .collect();
        m.insert("exportLinks".into(), Value::Object(links));
    }
    Value::Object(m)
}

/// Checks the caller's token for a Drive method.
pub fn auth(
    emu: &Emu,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
    method: &str,
    scopes: &[&str],
) -> GResult<TokenGrant> {
    authorize(
        emu,
        headers,
        q.get("access_token").map(String::as_str),
        API,
        method,
        scopes,
    )
}

/// Whether the caller supports shared drives (`supportsAllDrives`, or the older `supportsTeamDrives`).
pub fn all_drives(q: &HashMap<String, String>) -> bool {
    qbool(q, "supportsAllDrives") || qbool(q, "supportsTeamDrives")
}

/// A JSON request body; empty means `{}`.
pub fn json_body(body: &[u8]) -> GResult<Value> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body)
        .map_err(|e| GError::bad_request(format!("Invalid JSON payload received. {e}")))
}

/// A boolean query parameter.
pub fn qbool(q: &HashMap<String, String>, k: &str) -> bool {
    q.get(k).is_some_and(|v| v == "true" || v == "1")
}

/// All Drive routes.
pub fn routes() -> Router<Arc<Emu>> {
    files::routes()
        .merge(upload::routes())
        .merge(extra::routes())
}

/// Google Drive v3 as an emulated service.
pub struct Drive;

impl crate::service::Service for Drive {
    fn key(&self) -> &'static str {
        "drive"
    }
    fn title(&self) -> &'static str {
        "Google Drive v3"
    }
    fn hosts(&self) -> &'static [(&'static str, crate::service::Family)] {
        use crate::service::Family::{GoogleApi, Plain};
        &[
            ("www.googleapis.com", GoogleApi),
            ("drive.google.com", Plain),
            ("docs.google.com", Plain),
        ]
    }
    fn entry_points(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("API", "www.googleapis.com/drive/v3/"),
            ("uploads", "www.googleapis.com/upload/drive/v3/files"),
        ]
    }
    fn routes(&self) -> Router<Arc<Emu>> {
        routes()
    }
    fn snapshot(&self, st: &Emu) -> Option<Value> {
        crate::service::to_value(&lock(&st.drive).snapshot())
    }
    fn restore(&self, st: &Emu, saved: Value) -> Result<(), String> {
        let snap: DriveSnapshot = crate::service::from_value(saved)?;
        let mut d = lock(&st.drive);
        let blob_dir = d.blob_dir.take();
        *d = DriveState::from_snapshot(snap);
        d.blob_dir = blob_dir;
        Ok(())
    }
    fn change_mark(&self, st: &Emu) -> u64 {
        lock(&st.drive).generation
    }
}
