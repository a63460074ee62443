//! Typed Photos Library calls.

use std::sync::Arc;

use cloudmux_core::{ByteRange, ByteStream, Error, ErrorKind, Result};
use cloudmux_http::{Api, HttpConfig, Idempotency, TokenSource, at_host};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::model::{Album, MediaItem};

/// Where and how to reach the Photos Library API.
#[derive(Debug, Clone)]
pub struct PhotosConfig {
    /// Emulator base; `None` for the real service.
    pub endpoint: Option<String>,
    /// Files up to this size go in one raw upload (kept in memory so it can be retried); larger ones are
    /// resumable uploads in chunks of this size (rounded to the server's granularity).
    pub chunk_size: usize,
    /// HTTP settings.
    pub http: HttpConfig,
}

impl Default for PhotosConfig {
    fn default() -> Self {
        PhotosConfig {
            endpoint: None,
            chunk_size: 8 * 1024 * 1024,
            http: HttpConfig::default(),
        }
    }
}

/// Filters of `mediaItems:search` (album and filters are exclusive, as the API requires).
#[derive(Debug, Clone, Default)]
pub struct SearchFilter {
    /// Items of this album.
    pub album_id: Option<String>,
    /// Items taken in these date ranges (inclusive `(start, end)`).
    pub date_ranges: Vec<(chrono::NaiveDate, chrono::NaiveDate)>,
    /// `PHOTO`, `VIDEO` (default all).
    pub media_types: Vec<String>,
}

/// A Photos Library client.
#[derive(Debug, Clone)]
pub struct PhotosClient {
    pub(crate) api: Api,
    /// baseUrls are fetched without credentials.
    pub(crate) links: Api,
    base: String,
    pub(crate) cfg: Arc<PhotosConfig>,
}

fn date(d: chrono::NaiveDate) -> Value {
    use chrono::Datelike;
    json!({"year": d.year(), "month": d.month(), "day": d.day()})
}

impl PhotosClient {
    /// A client using `token`.
    pub fn new(mut cfg: PhotosConfig, token: Arc<dyn TokenSource>) -> Result<Self> {
        cfg.http
            .pacer
            .get_or_insert_with(|| Arc::new(cloudmux_http::Pacer::new("gphotos")));
        let client = cloudmux_http::build_client(&cfg.http)?;
        let api = Api::with_client(
            client.clone(),
            cfg.http.clone(),
            Some(token),
            crate::error::parse_error,
        )
        .named("Google Photos");
        let links = Api::with_client(client, cfg.http.clone(), None, crate::error::parse_error)
            .named("Google Photos");
        let base = at_host(
            cfg.endpoint.as_deref(),
            "photoslibrary.googleapis.com",
            "/v1",
        );
        Ok(PhotosClient {
            api,
            links,
            base,
            cfg: Arc::new(cfg),
        })
    }

    pub(crate) fn url(&self, p: &str) -> String {
        format!("{}{p}", self.base)
    }

    async fn get<T: DeserializeOwned>(&self, p: &str, q: &[(&str, String)]) -> Result<T> {
        let url = self.url(p);
        self.api
            .json(
                self.api
                    .send(|c| c.get(&url).query(q), Idempotency::Safe)
                    .await?,
            )
            .await
    }

    async fn post<T: DeserializeOwned>(
        &self,
        p: &str,
        body: &Value,
        idem: Idempotency,
    ) -> Result<T> {
        let url = self.url(p);
        self.api
            .json(self.api.send(|c| c.post(&url).json(body), idem).await?)
            .await
    }

    /// One page of the app's albums (at most 50).
    pub async fn albums(&self, page_token: Option<&str>) -> Result<(Vec<Album>, Option<String>)> {
        let mut q = vec![("pageSize", "50".to_string())];
        if let Some(t) = page_token {
            q.push(("pageToken", t.into()));
        }
        let v: Value = self.get("/albums", &q).await?;
        Ok((
            serde_json::from_value(v["albums"].clone()).unwrap_or_default(),
            v["nextPageToken"].as_str().map(str::to_string),
        ))
    }

    /// Every album of the app.
    pub async fn all_albums(&self) -> Result<Vec<Album>> {
        let mut out = Vec::new();
        let mut tok: Option<String> = None;
        loop {
            let (a, next) = self.albums(tok.as_deref()).await?;
            out.extend(a);
            match next {
                Some(t) => tok = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// `albums.get`.
    pub async fn album(&self, id: &str) -> Result<Album> {
        self.get(&format!("/albums/{id}"), &[]).await
    }

    /// `albums.create`.
    pub async fn create_album(&self, title: &str) -> Result<Album> {
        self.post(
            "/albums",
            &json!({"album": {"title": title}}),
            Idempotency::Unsafe,
        )
        .await
    }

    /// `albums.patch` of the title.
    pub async fn rename_album(&self, id: &str, title: &str) -> Result<Album> {
        let url = self.url(&format!("/albums/{id}"));
        let body = json!({"title": title});
        self.api
            .json(
                self.api
                    .send(
                        |c| c.patch(&url).query(&[("updateMask", "title")]).json(&body),
                        Idempotency::Safe,
                    )
                    .await?,
            )
            .await
    }

    /// `albums.batchAddMediaItems` / `batchRemoveMediaItems`, 50 ids at a time.
    pub async fn album_items(&self, album: &str, ids: &[String], add: bool) -> Result<()> {
        let method = if add {
            "batchAddMediaItems"
        } else {
            "batchRemoveMediaItems"
        };
        for batch in ids.chunks(50) {
            let _: Value = self
                .post(
                    &format!("/albums/{album}:{method}"),
                    &json!({"mediaItemIds": batch}),
                    Idempotency::Safe,
                )
                .await?;
        }
        Ok(())
    }

    /// One page of the app's media items (newest first; at most 100).
    pub async fn media(
        &self,
        page_token: Option<&str>,
    ) -> Result<(Vec<MediaItem>, Option<String>)> {
        let mut q = vec![("pageSize", "100".to_string())];
        if let Some(t) = page_token {
            q.push(("pageToken", t.into()));
        }
        let v: Value = self.get("/mediaItems", &q).await?;
        Ok((
            serde_json::from_value(v["mediaItems"].clone()).unwrap_or_default(),
            v["nextPageToken"].as_str().map(str::to_string),
        ))
    }

    /// One page of `mediaItems:search`.
    pub async fn search(
        &self,
        f: &SearchFilter,
        page_token: Option<&str>,
    ) -> Result<(Vec<MediaItem>, Option<String>)> {
        let mut body = json!({"pageSize": 100});
        if let Some(a) = &f.album_id {
            body["albumId"] = json!(a);
        } else {
            let mut filters = json!({});
            if !f.date_ranges.is_empty() {
                filters["dateFilter"] = json!({"ranges": f.date_ranges.iter().map(|(s, e)| json!({"startDate": date(*s), "endDate": date(*e)})).collect::<Vec<_>>()});
            }
            if !f.media_types.is_empty() {
                filters["mediaTypeFilter"] = json!({"mediaTypes": f.media_types});
            }
            body["filters"] = filters;
        }
        if let Some(t) = page_token {
            body["pageToken"] = json!(t);
        }
        let v: Value = self
            .post("/mediaItems:search", &body, Idempotency::Safe)
            .await?;
        Ok((
            serde_json::from_value(v["mediaItems"].clone()).unwrap_or_default(),
            v["nextPageToken"].as_str().map(str::to_string),
        ))
    }

    /// `mediaItems.get` (also: a fresh baseUrl).
    pub async fn media_item(&self, id: &str) -> Result<MediaItem> {
        self.get(&format!("/mediaItems/{id}"), &[]).await
    }

    /// `mediaItems.batchGet` (at most 50 ids): found items, missing ones skipped.
    pub async fn media_items(&self, ids: &[String]) -> Result<Vec<MediaItem>> {
        let q: Vec<(&str, String)> = ids.iter().map(|i| ("mediaItemIds", i.clone())).collect();
        let v: Value = self.get("/mediaItems:batchGet", &q).await?;
        Ok(v["mediaItemResults"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| serde_json::from_value(r["mediaItem"].clone()).ok())
            .collect())
    }

    /// `mediaItems:batchCreate` for `(upload token, file name)` pairs, 50 per call; one result per item, in
    /// order: the created item, or the error Google reported for it.
    pub async fn batch_create(
        &self,
        items: &[(String, String)],
        album: Option<&str>,
    ) -> Result<Vec<Result<MediaItem>>> {
        let mut out = Vec::new();
        for batch in items.chunks(50) {
            let mut body = json!({"newMediaItems": batch.iter().map(|(t, n)| json!({"simpleMediaItem": {"uploadToken": t, "fileName": n}})).collect::<Vec<_>>()});
            if let Some(a) = album {
                body["albumId"] = json!(a);
            }
            let url = self.url("/mediaItems:batchCreate");
            let resp = self
                .api
                .send_accepting(
                    |c| c.post(&url).json(&body),
                    Idempotency::Safe,
                    |s| s.is_success() || s == StatusCode::MULTI_STATUS,
                )
                .await?;
            let v: Value = self.api.json(resp).await?;
            for (r, (_, name)) in v["newMediaItemResults"]
                .as_array()
                .into_iter()
                .flatten()
                .zip(batch)
            {
                let code = r["status"]["code"].as_i64().unwrap_or(0);
                if code == 0 && r.get("mediaItem").is_some() {
                    out.push(
                        serde_json::from_value(r["mediaItem"].clone())
                            .map_err(|e| Error::new(ErrorKind::Other, e.to_string())),
                    );
                } else {
                    let msg = r["status"]["message"]
                        .as_str()
                        .unwrap_or("failed")
                        .to_string();
                    out.push(Err(Error::new(ErrorKind::InvalidInput, format!("{name}: {msg}")).with_hint("the upload token may have expired (they live a day) or been used; upload the file again")));
                }
            }
        }
        Ok(out)
    }

    /// The bytes of an item (`=d` images, `=dv` videos); an expired baseUrl is fetched again.
    pub async fn download(&self, item: &MediaItem, range: ByteRange) -> Result<ByteStream> {
        match self.fetch(item, range).await {
            Err(e) if matches!(e.status(), Some(403) | Some(404) | Some(410)) => {
                let fresh = self.media_item(&item.id).await?;
                self.fetch(&fresh, range).await
            }
            r => r,
        }
    }

    /// The address of an item's original bytes (`=d` images, `=dv` videos); it needs no credentials and
    /// lives as long as the item's baseUrl (an hour).
    pub fn download_url(item: &MediaItem) -> String {
        format!(
            "{}={}",
            item.base_url,
            if item.is_video() { "dv" } else { "d" }
        )
    }

    async fn fetch(&self, item: &MediaItem, range: ByteRange) -> Result<ByteStream> {
        let url = Self::download_url(item);
        self.links.get_range(|c| c.get(&url), range).await
    }

    /// The size of an item's original bytes (a HEAD on its baseUrl; the API itself does not report sizes).
    pub async fn size_of(&self, item: &MediaItem) -> Result<Option<u64>> {
        let url = Self::download_url(item);
        let resp = self.links.send(|c| c.head(&url), Idempotency::Safe).await?;
        Ok(resp
            .headers()
            .get(reqwest::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok()))
    }
}
