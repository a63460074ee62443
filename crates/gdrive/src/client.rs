//! Typed Drive v3 calls, one method per endpoint.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use cloudmux_core::{ByteRange, ByteStream, Error, ErrorKind, Result};
use cloudmux_http::{Api, HttpConfig, Idempotency, TokenSource, at_host, body_stream};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::error::parse_error;
use crate::model::{
    About, ChangeList, Comment, File, FileList, GeneratedIds, Permission, SharedDrive,
};

/// The fields of each file in folder listings: what an entry needs and no more (a 50,000-entry folder is
/// fifty pages; every field costs bytes on each). The SHA-256 is there because a download verifies with it
/// where the CPU hashes it faster than MD5 (see the engine); Drive leaves it out while still computing it.
pub const LIST_FIELDS: &str =
    "id,name,mimeType,size,md5Checksum,sha256Checksum,modifiedTime,shortcutDetails";

/// The file fields cloudmux asks for: MD5 always, SHA-256 when Drive has it (not the SHA-1, which nothing
/// here checks).
pub const FILE_FIELDS: &str = "id,name,mimeType,parents,size,md5Checksum,sha256Checksum,modifiedTime,createdTime,trashed,driveId,webViewLink,webContentLink,description,starred,shortcutDetails";

/// The fields of an upload's answer: what the check of the upload needs (MD5), and the SHA-256 when Drive
/// has it already (for a large file it is usually still computing it).
pub const UPLOAD_FIELDS: &str = "id,name,mimeType,parents,size,md5Checksum,sha256Checksum,modifiedTime,createdTime,trashed,driveId,shortcutDetails";

/// Where and how to reach Drive.
#[derive(Debug, Clone)]
pub struct DriveConfig {
    /// Emulator base (`http://127.0.0.1:4444`); `None` for the real Drive.
    pub endpoint: Option<String>,
    /// Page size of listings (1–1000).
    pub page_size: u32,
    /// Resumable upload chunk size (a multiple of 256 KiB).
    pub chunk_size: usize,
    /// Files up to this size go in one multipart request.
    pub multipart_max: u64,
    /// HTTP settings.
    pub http: HttpConfig,
}

impl Default for DriveConfig {
    fn default() -> Self {
        DriveConfig {
            endpoint: None,
            page_size: 1000,
            chunk_size: 8 * 1024 * 1024,
            multipart_max: 5 * 1024 * 1024,
            http: HttpConfig::default(),
        }
    }
}

/// The sustained rate of writes (creates, updates, copies, deletes) Drive allows an account: Google's
/// Drive best practices ask for no more than three a second, "a limit that cannot be raised". Writes
/// to Google's servers are paced at it from the first (see [`cloudmux_http::Pacer::published`]); other
/// requests, and every request to an [`DriveConfig::endpoint`] of one's own, are paced by what the
/// service answers.
pub const WRITES_PER_SECOND: f64 = 3.0;

/// Whether Drive counts `r` as a write: any request but `GET` and `HEAD`, except the chunks of an open
/// resumable upload (they continue the write that opened the session).
fn is_write(r: &reqwest::Request) -> bool {
    !matches!(*r.method(), reqwest::Method::GET | reqwest::Method::HEAD)
        && !r.url().query_pairs().any(|(k, _)| k == "upload_id")
}

/// Parameters of `files.list`.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// `q`.
    pub q: Option<String>,
    /// `orderBy`.
    pub order_by: Option<String>,
    /// `fields` of each file (inside `files(…)`); default [`FILE_FIELDS`].
    pub fields: Option<String>,
    /// `pageSize`.
    pub page_size: Option<u32>,
    /// `driveId` (sets `corpora=drive`).
    pub drive_id: Option<String>,
    /// `corpora=allDrives` with items from all drives.
    pub all_drives: bool,
    /// `spaces`.
    pub spaces: Option<String>,
}

/// A Drive v3 client.
#[derive(Debug, Clone)]
pub struct DriveClient {
    pub(crate) api: Api,
    pub(crate) base: String,
    pub(crate) upload_base: String,
    pub(crate) cfg: DriveConfig,
    ids: Arc<Mutex<Vec<String>>>,
    /// When the daily upload limit was met: uploads and copies fail at once, without a request, for
    /// [`UPLOAD_STOP`] after it (shared by the clones of this client).
    upload_stopped: Arc<Mutex<Option<std::time::Instant>>>,
}

/// How long uploads stay stopped after Drive's daily upload limit was met, before one is tried again
/// (Drive does not say when the limit lifts; it is within 24 hours).
pub const UPLOAD_STOP: std::time::Duration = std::time::Duration::from_secs(3600);

/// One page of a Drive list answer: the items under `key` and the next page token.
fn page_items<T: DeserializeOwned>(mut v: Value, key: &str) -> Result<(Vec<T>, Option<String>)> {
    let items = serde_json::from_value(
        v.get_mut(key)
            .map(Value::take)
            .unwrap_or(Value::Array(vec![])),
    )
    .map_err(|e| {
        Error::new(
            ErrorKind::Other,
            format!("Drive answered unexpected JSON: {e}"),
        )
    })?;
    let next = v
        .get("nextPageToken")
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok((items, next))
}

impl DriveClient {
    /// GETs every page of a list endpoint (`params` plus `pageToken`) and collects the items under `key`.
    async fn all_pages<T: DeserializeOwned>(
        &self,
        url: &str,
        params: &[(&str, String)],
        key: &str,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut p: Vec<(&str, String)> = params.to_vec();
            if let Some(t) = &token {
                p.push(("pageToken", t.clone()));
            }
            let v: Value = self
                .api
                .json(
                    self.api
                        .send(|c| c.get(url).query(&p), Idempotency::Safe)
                        .await?,
                )
                .await?;
            let (items, next) = page_items(v, key)?;
            out.extend(items);
            match next {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// A client using `token` for credentials.
    pub fn new(mut cfg: DriveConfig, token: Arc<dyn TokenSource>) -> Result<Self> {
        cfg.http
            .pacer
            .get_or_insert_with(|| Arc::new(cloudmux_http::Pacer::new("gdrive")));
        // Google's figure is Google's: a service at an endpoint of one's own (an emulator, a gateway) is
        // paced only by what it answers.
        if cfg.http.write_pacer.is_none() && cfg.endpoint.is_none() {
            let name = cfg.http.pacer.as_ref().map_or("gdrive", |p| p.name());
            cfg.http.write_pacer = Some(Arc::new(cloudmux_http::Pacer::published(
                format!("{name} writes"),
                WRITES_PER_SECOND,
            )));
        }
        let api = Api::new(cfg.http.clone(), Some(token), parse_error)?
            .named("Drive")
            .writes_are(is_write);
        let ep = cfg.endpoint.as_deref();
        let base = at_host(ep, "www.googleapis.com", "/drive/v3");
        let upload_base = at_host(ep, "www.googleapis.com", "/upload/drive/v3");
        Ok(DriveClient {
            api,
            base,
            upload_base,
            cfg,
            ids: Arc::new(Mutex::new(Vec::new())),
            upload_stopped: Default::default(),
        })
    }

    /// Fails at once while uploads are stopped by the daily upload limit (see [`UPLOAD_STOP`]).
    pub(crate) fn upload_gate(&self) -> Result<()> {
        let at = *self
            .upload_stopped
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match at {
            Some(t) if t.elapsed() < UPLOAD_STOP => Err(Error::new(
                ErrorKind::UploadLimit,
                "Drive's daily upload limit is reached: not uploading",
            )
            .with_hint(cloudmux_http::google::UPLOAD_LIMIT_HINT)),
            _ => Ok(()),
        }
    }

    /// An upload's or a copy's final error, the daily upload limit told (see
    /// [`cloudmux_http::google::upload_limit`]), which stops the others.
    pub(crate) fn upload_failed(&self, e: Error) -> Error {
        let e = cloudmux_http::google::upload_limit(e);
        if e.kind() == ErrorKind::UploadLimit {
            let mut at = self
                .upload_stopped
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if at.is_none_or(|t| t.elapsed() >= UPLOAD_STOP) {
                tracing::warn!(
                    "Drive's daily upload limit is reached: no more uploads or copies to this remote for now"
                );
            }
            *at = Some(std::time::Instant::now());
        }
        e
    }

    /// The configuration.
    pub fn config(&self) -> &DriveConfig {
        &self.cfg
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    /// `files.list`: one page.
    pub async fn list_page(&self, q: &ListQuery, page_token: Option<&str>) -> Result<FileList> {
        let fields = format!(
            "nextPageToken,incompleteSearch,files({})",
            q.fields.as_deref().unwrap_or(FILE_FIELDS)
        );
        let mut params: Vec<(&str, String)> = vec![
            ("fields", fields),
            (
                "pageSize",
                q.page_size.unwrap_or(self.cfg.page_size).to_string(),
            ),
            ("supportsAllDrives", "true".into()),
        ];
        if let Some(x) = &q.q {
            params.push(("q", x.clone()));
        }
        if let Some(x) = &q.order_by {
            params.push(("orderBy", x.clone()));
        }
        if let Some(x) = &q.spaces {
            params.push(("spaces", x.clone()));
        }
        if let Some(d) = &q.drive_id {
            params.extend([
                ("corpora", "drive".to_string()),
                ("driveId", d.clone()),
                ("includeItemsFromAllDrives", "true".into()),
            ]);
        } else if q.all_drives {
            params.extend([
                ("corpora", "allDrives".to_string()),
                ("includeItemsFromAllDrives", "true".into()),
            ]);
        }
        if let Some(t) = page_token {
            params.push(("pageToken", t.to_string()));
        }
        let url = self.url("files");
        let resp = self
            .api
            .send(|c| c.get(&url).query(&params), Idempotency::Safe)
            .await?;
        self.api.json(resp).await
    }

    /// `files.get` (metadata).
    pub async fn get(&self, id: &str) -> Result<File> {
        let url = self.url(&format!("files/{}", enc(id)));
        let resp = self
            .api
            .send(
                |c| {
                    c.get(&url)
                        .query(&[("fields", FILE_FIELDS), ("supportsAllDrives", "true")])
                },
                Idempotency::Safe,
            )
            .await
            .map_err(|e| e.context(format!("file {id}")))?;
        self.api.json(resp).await
    }

    /// Downloads content (`alt=media`) with an optional range. A file Google flagged as abusive is fetched
    /// again with `acknowledgeAbuse=true` (allowed for its owner), with a warning. A range starting at or past
    /// the end gives an empty stream.
    pub async fn download(&self, id: &str, range: ByteRange) -> Result<ByteStream> {
        match self.download_once(id, range, false).await {
            Err(e) if e.reason() == Some("cannotDownloadAbusiveFile") => {
                tracing::warn!(
                    "file {id} is flagged as malware or spam by Google; downloading it as its owner acknowledged"
                );
                self.download_once(id, range, true).await
            }
            r => r,
        }
    }

    async fn download_once(&self, id: &str, range: ByteRange, ack: bool) -> Result<ByteStream> {
        let url = self.url(&format!("files/{}", enc(id)));
        let mut params = vec![("alt", "media"), ("supportsAllDrives", "true")];
        if ack {
            params.push(("acknowledgeAbuse", "true"));
        }
        self.api
            .get_range(|c| c.get(&url).query(&params), range)
            .await
    }

    /// `files.export`: a Google Doc in another format (at most 10 MB, Google's limit).
    pub async fn export(&self, id: &str, mime: &str) -> Result<ByteStream> {
        let url = self.url(&format!("files/{}/export", enc(id)));
        let resp = self
            .api
            .send(
                |c| c.get(&url).query(&[("mimeType", mime)]),
                Idempotency::Safe,
            )
            .await?;
        Ok(body_stream(resp))
    }

    /// Takes an id from the pool of generated ids (refilled 100 at a time).
    pub async fn generated_id(&self) -> Result<String> {
        if let Some(id) = self.ids.lock().unwrap().pop() {
            return Ok(id);
        }
        let mut ids = self.generate_ids(100).await?;
        let id = ids
            .pop()
            .ok_or_else(|| Error::new(ErrorKind::Other, "generateIds returned no id"))?;
        self.ids.lock().unwrap().extend(ids);
        Ok(id)
    }

    /// `files.generateIds`.
    pub async fn generate_ids(&self, count: u32) -> Result<Vec<String>> {
        let url = self.url("files/generateIds");
        let resp = self
            .api
            .send(
                |c| {
                    c.get(&url).query(&[
                        ("count", count.to_string()),
                        ("space", "drive".into()),
                        ("type", "files".into()),
                    ])
                },
                Idempotency::Safe,
            )
            .await?;
        Ok(self.api.json::<GeneratedIds>(resp).await?.ids)
    }

    /// `files.create` of metadata only (folders, shortcuts, empty files). `metadata.id` must come from
    /// [`DriveClient::generated_id`]: a retry that meets "already exists" returns the file the first attempt
    /// made, so no duplicate is created.
    pub async fn create(&self, metadata: &Value) -> Result<File> {
        let url = self.url("files");
        let r = self
            .api
            .send(
                |c| {
                    c.post(&url)
                        .query(&[("fields", FILE_FIELDS), ("supportsAllDrives", "true")])
                        .json(metadata)
                },
                Idempotency::Safe,
            )
            .await;
        match r {
            Ok(resp) => self.api.json(resp).await,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => match metadata["id"].as_str() {
                Some(id) => self.get(id).await,
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// Creates a folder.
    pub async fn create_folder(&self, parent: &str, name: &str) -> Result<File> {
        let id = self.generated_id().await?;
        self.create(
            &json!({"id": id, "name": name, "mimeType": crate::FOLDER_MIME, "parents": [parent]}),
        )
        .await
    }

    /// `files.update` with a metadata patch and optional parent changes.
    pub async fn update(
        &self,
        id: &str,
        patch: &Value,
        add_parents: &[String],
        remove_parents: &[String],
    ) -> Result<File> {
        let url = self.url(&format!("files/{}", enc(id)));
        let mut params = vec![
            ("fields", FILE_FIELDS.to_string()),
            ("supportsAllDrives", "true".into()),
        ];
        if !add_parents.is_empty() {
            params.push(("addParents", add_parents.join(",")));
        }
        if !remove_parents.is_empty() {
            params.push(("removeParents", remove_parents.join(",")));
        }
        let resp = self
            .api
            .send(
                |c| c.patch(&url).query(&params).json(patch),
                Idempotency::Safe,
            )
            .await?;
        self.api.json(resp).await
    }

    /// Renames a file.
    pub async fn rename(&self, id: &str, name: &str) -> Result<File> {
        self.update(id, &json!({"name": name}), &[], &[]).await
    }

    /// Moves a file to `new_parent` (and optionally renames it), removing it from its real current parents —
    /// read from the file itself, so it works on shared drives where a file has exactly one parent.
    pub async fn move_to(
        &self,
        id: &str,
        new_parent: &str,
        new_name: Option<&str>,
    ) -> Result<File> {
        let cur = self.get(id).await?;
        let remove: Vec<String> = cur
            .parents
            .iter()
            .filter(|p| p.as_str() != new_parent)
            .cloned()
            .collect();
        let add: Vec<String> = if cur.parents.iter().any(|p| p == new_parent) {
            vec![]
        } else {
            vec![new_parent.to_string()]
        };
        let patch = match new_name {
            Some(n) => json!({"name": n}),
            None => json!({}),
        };
        self.update(id, &patch, &add, &remove).await
    }

    /// `files.copy`.
    pub async fn copy(&self, id: &str, parent: &str, name: &str) -> Result<File> {
        self.upload_gate()?;
        self.copy_once(id, parent, name)
            .await
            .map_err(|e| self.upload_failed(e))
    }

    async fn copy_once(&self, id: &str, parent: &str, name: &str) -> Result<File> {
        let url = self.url(&format!("files/{}/copy", enc(id)));
        // A generated id makes the copy safe to send again: a second one is refused as a duplicate.
        let new_id = self.generated_id().await?;
        let body = json!({"id": new_id, "name": name, "parents": [parent]});
        let resp = self
            .api
            .send(
                |c| {
                    c.post(&url)
                        .query(&[("fields", FILE_FIELDS), ("supportsAllDrives", "true")])
                        .json(&body)
                },
                Idempotency::Safe,
            )
            .await;
        match resp {
            Ok(r) => self.api.json(r).await,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => self.get(&new_id).await,
            Err(e) => Err(e),
        }
    }

    /// Moves to the trash.
    pub async fn trash(&self, id: &str) -> Result<File> {
        self.update(id, &json!({"trashed": true}), &[], &[]).await
    }

    /// Restores from the trash.
    pub async fn untrash(&self, id: &str) -> Result<File> {
        self.update(id, &json!({"trashed": false}), &[], &[]).await
    }

    /// Deletes for good (no trash).
    pub async fn delete(&self, id: &str) -> Result<()> {
        let url = self.url(&format!("files/{}", enc(id)));
        match self
            .api
            .send(
                |c| c.delete(&url).query(&[("supportsAllDrives", "true")]),
                Idempotency::Safe,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Empties the trash (of My Drive, or of a shared drive).
    pub async fn empty_trash(&self, drive_id: Option<&str>) -> Result<()> {
        let url = self.url("files/trash");
        let params: Vec<(&str, &str)> = drive_id.map(|d| vec![("driveId", d)]).unwrap_or_default();
        self.api
            .send(|c| c.delete(&url).query(&params), Idempotency::Safe)
            .await?;
        Ok(())
    }

    /// `about.get` with user, quota, export formats and upload limit.
    pub async fn about(&self) -> Result<About> {
        let url = self.url("about");
        let resp = self
            .api
            .send(
                |c| {
                    c.get(&url)
                        .query(&[("fields", "user,storageQuota,exportFormats,maxUploadSize")])
                },
                Idempotency::Safe,
            )
            .await?;
        self.api.json(resp).await
    }

    /// `permissions.create`.
    pub async fn permission_create(&self, id: &str, p: &Permission) -> Result<Permission> {
        let url = self.url(&format!("files/{}/permissions", enc(id)));
        let resp = self
            .api
            .send(
                |c| {
                    c.post(&url)
                        .query(&[
                            ("supportsAllDrives", "true"),
                            ("fields", "id,type,role,emailAddress,domain"),
                        ])
                        .json(p)
                },
                Idempotency::Safe,
            )
            .await?;
        self.api.json(resp).await
    }

    /// `permissions.list`.
    pub async fn permission_list(&self, id: &str) -> Result<Vec<Permission>> {
        #[derive(serde::Deserialize)]
        struct L {
            #[serde(default)]
            permissions: Vec<Permission>,
        }
        let url = self.url(&format!("files/{}/permissions", enc(id)));
        let resp = self
            .api
            .send(
                |c| {
                    c.get(&url).query(&[
                        ("supportsAllDrives", "true"),
                        ("fields", "permissions(id,type,role,emailAddress,domain)"),
                    ])
                },
                Idempotency::Safe,
            )
            .await?;
        Ok(self.api.json::<L>(resp).await?.permissions)
    }

    /// `permissions.delete`.
    pub async fn permission_delete(&self, id: &str, permission_id: &str) -> Result<()> {
        let url = self.url(&format!(
            "files/{}/permissions/{}",
            enc(id),
            enc(permission_id)
        ));
        self.api
            .send(
                |c| c.delete(&url).query(&[("supportsAllDrives", "true")]),
                Idempotency::Safe,
            )
            .await?;
        Ok(())
    }

    /// Makes a file readable by anyone with the link and returns the link.
    pub async fn share_link(&self, id: &str) -> Result<String> {
        let p = Permission {
            kind: "anyone".into(),
            role: "reader".into(),
            ..Default::default()
        };
        self.permission_create(id, &p).await?;
        let f = self.get(id).await?;
        f.web_view_link
            .ok_or_else(|| Error::new(ErrorKind::Other, "Drive returned no webViewLink"))
    }

    const COMMENT_FIELDS: &'static str =
        "id,content,author(displayName,emailAddress),createdTime,modifiedTime,resolved,deleted";

    /// `comments.list` (all pages).
    pub async fn comments(&self, id: &str) -> Result<Vec<Comment>> {
        let url = self.url(&format!("files/{}/comments", enc(id)));
        let params = [
            (
                "fields",
                format!("nextPageToken,comments({})", Self::COMMENT_FIELDS),
            ),
            ("pageSize", "100".into()),
        ];
        self.all_pages(&url, &params, "comments").await
    }

    /// `comments.create`.
    pub async fn comment_create(&self, id: &str, content: &str) -> Result<Comment> {
        let url = self.url(&format!("files/{}/comments", enc(id)));
        let body = json!({"content": content});
        let resp = self
            .api
            .send(
                |c| {
                    c.post(&url)
                        .query(&[("fields", Self::COMMENT_FIELDS)])
                        .json(&body)
                },
                Idempotency::Unsafe,
            )
            .await?;
        self.api.json(resp).await
    }

    /// `comments.get`.
    pub async fn comment_get(&self, id: &str, comment: &str) -> Result<Comment> {
        let url = self.url(&format!("files/{}/comments/{}", enc(id), enc(comment)));
        self.api
            .json(
                self.api
                    .send(
                        |c| c.get(&url).query(&[("fields", Self::COMMENT_FIELDS)]),
                        Idempotency::Safe,
                    )
                    .await?,
            )
            .await
    }

    /// `comments.update` (content and/or resolved).
    pub async fn comment_update(&self, id: &str, comment: &str, patch: &Value) -> Result<Comment> {
        let url = self.url(&format!("files/{}/comments/{}", enc(id), enc(comment)));
        self.api
            .json(
                self.api
                    .send(
                        |c| {
                            c.patch(&url)
                                .query(&[("fields", Self::COMMENT_FIELDS)])
                                .json(patch)
                        },
                        Idempotency::Safe,
                    )
                    .await?,
            )
            .await
    }

    /// `comments.delete`.
    pub async fn comment_delete(&self, id: &str, comment: &str) -> Result<()> {
        let url = self.url(&format!("files/{}/comments/{}", enc(id), enc(comment)));
        self.api.send(|c| c.delete(&url), Idempotency::Safe).await?;
        Ok(())
    }

    /// `changes.getStartPageToken`.
    pub async fn changes_start(&self) -> Result<String> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct T {
            start_page_token: String,
        }
        let url = self.url("changes/startPageToken");
        let t: T = self
            .api
            .json(
                self.api
                    .send(
                        |c| c.get(&url).query(&[("supportsAllDrives", "true")]),
                        Idempotency::Safe,
                    )
                    .await?,
            )
            .await?;
        Ok(t.start_page_token)
    }

    /// `changes.list`: one page from `token`.
    pub async fn changes(&self, token: &str) -> Result<ChangeList> {
        let url = self.url("changes");
        let fields = format!(
            "nextPageToken,newStartPageToken,changes(fileId,removed,time,file({FILE_FIELDS}))"
        );
        let params = [
            ("pageToken", token.to_string()),
            ("pageSize", "1000".into()),
            ("fields", fields),
            ("supportsAllDrives", "true".into()),
            ("includeItemsFromAllDrives", "true".into()),
        ];
        self.api
            .json(
                self.api
                    .send(|c| c.get(&url).query(&params), Idempotency::Safe)
                    .await?,
            )
            .await
    }

    /// `drives.list` (all pages).
    pub async fn drives(&self) -> Result<Vec<SharedDrive>> {
        let params = [
            ("pageSize", "100".to_string()),
            ("fields", "nextPageToken,drives(id,name,createdTime)".into()),
        ];
        self.all_pages(&self.url("drives"), &params, "drives").await
    }

    /// `drives.create`; `request_id` makes it idempotent.
    pub async fn drive_create(&self, name: &str, request_id: &str) -> Result<SharedDrive> {
        let url = self.url("drives");
        let body = json!({"name": name});
        self.api
            .json(
                self.api
                    .send(
                        |c| {
                            c.post(&url)
                                .query(&[
                                    ("requestId", request_id),
                                    ("fields", "id,name,createdTime"),
                                ])
                                .json(&body)
                        },
                        Idempotency::Safe,
                    )
                    .await?,
            )
            .await
    }

    /// `drives.delete` (must be empty).
    pub async fn drive_delete(&self, id: &str) -> Result<()> {
        let url = self.url(&format!("drives/{}", enc(id)));
        self.api.send(|c| c.delete(&url), Idempotency::Safe).await?;
        Ok(())
    }

    /// Sends raw bytes (small bodies) — used by multipart uploads.
    pub(crate) async fn send_multipart(
        &self,
        url: &str,
        method: reqwest::Method,
        body: Bytes,
        boundary: &str,
    ) -> Result<File> {
        let ct = format!("multipart/related; boundary={boundary}");
        let resp = self
            .api
            .send(
                |c| {
                    c.request(method.clone(), url)
                        .query(&[
                            ("uploadType", "multipart"),
                            ("fields", UPLOAD_FIELDS),
                            ("supportsAllDrives", "true"),
                        ])
                        .header(reqwest::header::CONTENT_TYPE, &ct)
                        .body(body.clone())
                },
                Idempotency::Safe,
            )
            .await;
        match resp {
            Ok(r) => self.api.json(r).await,
            Err(e) => Err(e),
        }
    }
}

/// Percent-encodes an id for a path segment.
pub(crate) fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
