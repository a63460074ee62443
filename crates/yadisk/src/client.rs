//! Typed Yandex Disk REST calls, one method per endpoint.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cloudmux_core::{ByteRange, ByteStream, Error, ErrorKind, Result};
use cloudmux_http::{Api, HttpConfig, Idempotency, TokenSource, at_host};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::parse_error;
use crate::model::{DiskInfo, ItemList, Link, Resource};

/// Where and how to reach Yandex Disk.
#[derive(Debug, Clone)]
pub struct YadiskConfig {
    /// Emulator base (`http://127.0.0.1:4444`); `None` for the real service.
    pub endpoint: Option<String>,
    /// Items per listing page.
    pub page_limit: u64,
    /// Files larger than this (or of unknown size) are uploaded in Content-Range chunks of this size.
    pub chunk_size: usize,
    /// HTTP settings (the `OAuth` scheme is set by the client).
    pub http: HttpConfig,
}

impl Default for YadiskConfig {
    fn default() -> Self {
        YadiskConfig {
            endpoint: None,
            page_limit: 1000,
            chunk_size: 8 * 1024 * 1024,
            http: HttpConfig::default(),
        }
    }
}

/// The fields of a resource cloudmux reads (not the SHA-256, which it never uses: MD5 is what it compares).
pub const RESOURCE_FIELDS: &str = "name,path,type,size,md5,modified,created,mime_type,media_type,resource_id,custom_properties,public_key,public_url";

/// A Yandex Disk client.
#[derive(Debug, Clone)]
pub struct YadiskClient {
    pub(crate) api: Api,
    /// For upload and download links: no credentials (the token goes only to the API host).
    pub(crate) links: Api,
    base: String,
    pub(crate) cfg: Arc<YadiskConfig>,
}

fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl YadiskClient {
    /// A client using `token`.
    pub fn new(mut cfg: YadiskConfig, token: Arc<dyn TokenSource>) -> Result<Self> {
        cfg.http
            .pacer
            .get_or_insert_with(|| Arc::new(cloudmux_http::Pacer::new("yadisk")));
        let mut http = cfg.http.clone();
        http.auth_scheme = "OAuth";
        let client = cloudmux_http::build_client(&http)?;
        let api = Api::with_client(client.clone(), http.clone(), Some(token), parse_error)
            .named("Yandex Disk");
        // The quota the pacer learns is the REST API's; the upload and download hosts are not under it.
        let links = Api::with_client(client, http, None, parse_error)
            .named("Yandex Disk")
            .unpaced();
        let base = at_host(cfg.endpoint.as_deref(), "cloud-api.yandex.net", "/v1/disk");
        Ok(YadiskClient {
            api,
            links,
            base,
            cfg: Arc::new(cfg),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &YadiskConfig {
        &self.cfg
    }

    fn url(&self, p: &str) -> String {
        format!("{}{p}", self.base)
    }

    async fn get<T: DeserializeOwned>(&self, p: &str, params: Vec<(String, String)>) -> Result<T> {
        let url = self.url(p);
        self.api
            .json(
                self.api
                    .send(|c| c.get(&url).query(&params), Idempotency::Safe)
                    .await?,
            )
            .await
    }

    /// `GET /v1/disk`: quota, trash size, user, system folders.
    pub async fn disk_info(&self) -> Result<DiskInfo> {
        self.get("", vec![]).await
    }

    /// `GET /resources`: metadata, with a page of children for folders.
    pub async fn meta(
        &self,
        path: &str,
        limit: Option<u64>,
        offset: u64,
        sort: Option<&str>,
        fields: Option<&str>,
    ) -> Result<Resource> {
        let mut p = q(&[("path", path)]);
        if let Some(l) = limit {
            p.push(("limit".into(), l.to_string()));
        }
        if offset > 0 {
            p.push(("offset".into(), offset.to_string()));
        }
        if let Some(s) = sort {
            p.push(("sort".into(), s.into()));
        }
        if let Some(f) = fields {
            p.push(("fields".into(), f.into()));
        }
        self.get("/resources", p).await.map_err(|e| e.context(path))
    }

    /// One page of a folder's children (`limit` items from `offset`), and the folder's total.
    pub async fn list_page(
        &self,
        path: &str,
        offset: u64,
        sort: Option<&str>,
    ) -> Result<(Vec<Resource>, u64)> {
        let mut fields: Vec<String> = RESOURCE_FIELDS
            .split(',')
            .map(|f| format!("_embedded.items.{f}"))
            .collect();
        fields.extend(
            [
                "type",
                "path",
                "_embedded.total",
                "_embedded.offset",
                "_embedded.limit",
            ]
            .map(String::from),
        );
        let r = self
            .meta(
                path,
                Some(self.cfg.page_limit),
                offset,
                sort,
                Some(&fields.join(",")),
            )
            .await?;
        if !r.is_dir() {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!("{path}: not a folder"),
            ));
        }
        let e = r.embedded.unwrap_or_default();
        let total = e.total.unwrap_or(e.offset + e.items.len() as u64);
        Ok((e.items, total))
    }

    /// `GET /resources/files`: every file, flat, optionally of some media types.
    pub async fn files(
        &self,
        limit: u64,
        offset: u64,
        media_type: Option<&str>,
    ) -> Result<ItemList> {
        let mut p = vec![
            ("limit".to_string(), limit.to_string()),
            ("offset".to_string(), offset.to_string()),
        ];
        if let Some(m) = media_type {
            p.push(("media_type".into(), m.into()));
        }
        self.get("/resources/files", p).await
    }

    /// `GET /resources/last-uploaded`.
    pub async fn last_uploaded(&self, limit: u64, media_type: Option<&str>) -> Result<ItemList> {
        let mut p = vec![("limit".to_string(), limit.to_string())];
        if let Some(m) = media_type {
            p.push(("media_type".into(), m.into()));
        }
        self.get("/resources/last-uploaded", p).await
    }

    /// Follows a 201/202 answer: a 202's operation is polled until it ends.
    async fn settle(&self, resp: reqwest::Response) -> Result<()> {
        if resp.status() == StatusCode::ACCEPTED {
            let link: Link = self.api.json(resp).await?;
            return self.wait_operation(&link.href).await;
        }
        Ok(())
    }

    /// Polls an operation (by link or id) until `success` (Ok) or `failed` (an error), with backoff.
    pub async fn wait_operation(&self, href_or_id: &str) -> Result<()> {
        let id = href_or_id
            .rsplit('/')
            .next()
            .unwrap_or(href_or_id)
            .to_string();
        let start = Instant::now();
        let mut delay = Duration::from_millis(100);
        loop {
            let v: Value = self.get(&format!("/operations/{id}"), vec![]).await?;
            match v["status"].as_str() {
                Some("success") => return Ok(()),
                Some("failed") => {
                    return Err(Error::new(
                        ErrorKind::Other,
                        format!("Yandex Disk operation {id} failed"),
                    )
                    .with_hint("run the command again"));
                }
                _ => {}
            }
            if start.elapsed() > Duration::from_secs(3600) {
                return Err(Error::new(
                    ErrorKind::Transient,
                    format!("operation {id} still in progress after an hour"),
                ));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    /// The status of an operation.
    pub async fn operation_status(&self, id: &str) -> Result<String> {
        let v: Value = self.get(&format!("/operations/{id}"), vec![]).await?;
        Ok(v["status"].as_str().unwrap_or("unknown").to_string())
    }

    /// `PUT /resources`: creates a folder (its parent must exist).
    pub async fn mkdir(&self, path: &str) -> Result<()> {
        let url = self.url("/resources");
        let p = q(&[("path", path)]);
        self.api
            .send(|c| c.put(&url).query(&p), Idempotency::Safe)
            .await
            .map_err(|e| e.context(path))?;
        Ok(())
    }

    /// `DELETE /resources`: to the trash, or for good; waits for the operation of a folder.
    pub async fn delete(&self, path: &str, permanently: bool) -> Result<()> {
        let url = self.url("/resources");
        let p = q(&[
            ("path", path),
            ("permanently", if permanently { "true" } else { "false" }),
        ]);
        let r = self
            .api
            .send(|c| c.delete(&url).query(&p), Idempotency::Safe)
            .await
            .map_err(|e| e.context(path))?;
        self.settle(r).await
    }

    async fn transfer(&self, op: &str, from: &str, to: &str, overwrite: bool) -> Result<()> {
        let url = self.url(&format!("/resources/{op}"));
        let p = q(&[
            ("from", from),
            ("path", to),
            ("overwrite", if overwrite { "true" } else { "false" }),
        ]);
        let r = self
            .api
            .send(|c| c.post(&url).query(&p), Idempotency::Unsafe)
            .await
            .map_err(|e| e.context(format!("{from} -> {to}")))?;
        self.settle(r).await
    }

    /// `POST /resources/copy`.
    pub async fn copy(&self, from: &str, to: &str, overwrite: bool) -> Result<()> {
        self.transfer("copy", from, to, overwrite).await
    }

    /// `POST /resources/move` (rename too).
    pub async fn move_to(&self, from: &str, to: &str, overwrite: bool) -> Result<()> {
        self.transfer("move", from, to, overwrite).await
    }

    /// `PATCH /resources`: sets (or with `null`, removes) custom properties.
    pub async fn set_properties(&self, path: &str, props: &Value) -> Result<Resource> {
        let url = self.url("/resources");
        let p = q(&[("path", path), ("fields", RESOURCE_FIELDS)]);
        let body = serde_json::json!({"custom_properties": props});
        self.api
            .json(
                self.api
                    .send(|c| c.patch(&url).query(&p).json(&body), Idempotency::Safe)
                    .await?,
            )
            .await
    }

    /// The download link of a file.
    pub async fn download_link(&self, path: &str) -> Result<String> {
        let l: Link = self
            .get("/resources/download", q(&[("path", path)]))
            .await
            .map_err(|e| e.context(path))?;
        Ok(l.href)
    }

    /// Bytes of `href` (a download link) in `range`; an empty stream past the end.
    pub async fn fetch_link(&self, href: &str, range: ByteRange) -> Result<ByteStream> {
        self.links.get_range(|c| c.get(href), range).await
    }

    /// The upload link for `path`.
    pub async fn upload_link(&self, path: &str, overwrite: bool) -> Result<Link> {
        self.get(
            "/resources/upload",
            q(&[
                ("path", path),
                ("overwrite", if overwrite { "true" } else { "false" }),
            ]),
        )
        .await
        .map_err(|e| e.context(path))
    }

    /// `POST /resources/upload`: Yandex fetches `url` into `path`; waits for the operation.
    pub async fn upload_url(&self, url_to_fetch: &str, path: &str) -> Result<()> {
        let url = self.url("/resources/upload");
        let p = q(&[("url", url_to_fetch), ("path", path)]);
        let r = self
            .api
            .send(|c| c.post(&url).query(&p), Idempotency::Unsafe)
            .await?;
        self.settle(r).await
    }

    /// Publishes a resource; returns it with `public_key` and `public_url`.
    pub async fn publish(&self, path: &str) -> Result<Resource> {
        let url = self.url("/resources/publish");
        let p = q(&[("path", path)]);
        self.api
            .send(|c| c.put(&url).query(&p), Idempotency::Safe)
            .await
            .map_err(|e| e.context(path))?;
        self.meta(path, Some(0), 0, None, Some(RESOURCE_FIELDS))
            .await
    }

    /// Unpublishes a resource.
    pub async fn unpublish(&self, path: &str) -> Result<()> {
        let url = self.url("/resources/unpublish");
        let p = q(&[("path", path)]);
        self.api
            .send(|c| c.put(&url).query(&p), Idempotency::Safe)
            .await
            .map_err(|e| e.context(path))?;
        Ok(())
    }

    /// `GET /resources/public`: published resources.
    pub async fn published(&self, limit: u64, offset: u64) -> Result<ItemList> {
        self.get(
            "/resources/public",
            vec![
                ("limit".into(), limit.to_string()),
                ("offset".into(), offset.to_string()),
            ],
        )
        .await
    }

    /// `GET /public/resources`: a public resource (and a page of its children).
    pub async fn public_meta(
        &self,
        key: &str,
        path: Option<&str>,
        limit: u64,
        offset: u64,
    ) -> Result<Resource> {
        let mut p = vec![
            ("public_key".to_string(), key.to_string()),
            ("limit".into(), limit.to_string()),
            ("offset".into(), offset.to_string()),
        ];
        if let Some(x) = path {
            p.push(("path".into(), x.into()));
        }
        self.get("/public/resources", p).await
    }

    /// The download link of a public resource.
    pub async fn public_download_link(&self, key: &str, path: Option<&str>) -> Result<String> {
        let mut p = vec![("public_key".to_string(), key.to_string())];
        if let Some(x) = path {
            p.push(("path".into(), x.into()));
        }
        let l: Link = self.get("/public/resources/download", p).await?;
        Ok(l.href)
    }

    /// `POST /public/resources/save-to-disk`; waits for the operation.
    pub async fn save_public(
        &self,
        key: &str,
        name: Option<&str>,
        save_path: Option<&str>,
    ) -> Result<()> {
        let url = self.url("/public/resources/save-to-disk");
        let mut p = vec![("public_key".to_string(), key.to_string())];
        if let Some(n) = name {
            p.push(("name".into(), n.into()));
        }
        if let Some(s) = save_path {
            p.push(("save_path".into(), s.into()));
        }
        let r = self
            .api
            .send(|c| c.post(&url).query(&p), Idempotency::Unsafe)
            .await?;
        self.settle(r).await
    }

    /// `GET /trash/resources`: the trash (its root lists what was deleted).
    pub async fn trash(&self, path: Option<&str>, limit: u64, offset: u64) -> Result<Resource> {
        let mut p = vec![
            ("limit".to_string(), limit.to_string()),
            ("offset".into(), offset.to_string()),
        ];
        if let Some(x) = path {
            p.push(("path".into(), x.into()));
        }
        self.get("/trash/resources", p).await
    }

    /// `PUT /trash/resources/restore`; waits for the operation.
    pub async fn restore(
        &self,
        trash_path: &str,
        name: Option<&str>,
        overwrite: bool,
    ) -> Result<()> {
        let url = self.url("/trash/resources/restore");
        let mut p = vec![
            ("path".to_string(), trash_path.to_string()),
            ("overwrite".into(), overwrite.to_string()),
        ];
        if let Some(n) = name {
            p.push(("name".into(), n.into()));
        }
        let r = self
            .api
            .send(|c| c.put(&url).query(&p), Idempotency::Unsafe)
            .await?;
        self.settle(r).await
    }

    /// `DELETE /trash/resources`: one item, or the whole trash; waits for the operation.
    pub async fn empty_trash(&self, trash_path: Option<&str>) -> Result<()> {
        let url = self.url("/trash/resources");
        let p: Vec<(String, String)> = trash_path
            .map(|t| vec![("path".to_string(), t.to_string())])
            .unwrap_or_default();
        let r = self
            .api
            .send(|c| c.delete(&url).query(&p), Idempotency::Safe)
            .await?;
        self.settle(r).await
    }
}
