//! The Photos Picker API: how an app reaches a user's existing library since 2025-03-31. Create a session,
//! show its `pickerUri` to the person, poll at the session's interval until `mediaItemsSet`, list the picked
//! items, download them (the Picker's baseUrls want the bearer token), delete the session.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cloudmux_core::{ByteRange, ByteStream, Error, ErrorKind, Result};
use cloudmux_http::{Api, HttpConfig, Idempotency, TokenSource, body_stream};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A picking session.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PickingSession {
    /// Id.
    pub id: String,
    /// The page the person picks on (append `/autoclose` to close the tab when done).
    pub picker_uri: String,
    /// Whether the person has finished picking.
    pub media_items_set: bool,
    /// How to poll (present until items are set).
    pub polling_config: Option<PollingConfig>,
    /// When the session ends.
    pub expire_time: Option<String>,
}

/// `pollingConfig`: durations as Google writes them (`"5s"`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PollingConfig {
    /// Wait between polls.
    pub poll_interval: Option<String>,
    /// Give up after.
    pub timeout_in: Option<String>,
}

/// A picked item.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PickedItem {
    /// Id.
    pub id: String,
    /// When it was taken.
    pub create_time: Option<String>,
    /// `PHOTO` or `VIDEO`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The file.
    pub media_file: MediaFile,
}

/// A picked item's file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MediaFile {
    /// Base URL of the bytes.
    pub base_url: String,
    /// MIME type.
    pub mime_type: String,
    /// File name.
    pub filename: String,
}

/// Parses a Google duration (`"1.5s"`).
pub fn duration(s: &str) -> Option<Duration> {
    s.strip_suffix('s')?
        .parse::<f64>()
        .ok()
        .map(Duration::from_secs_f64)
}

/// A Picker API client.
#[derive(Debug, Clone)]
pub struct PickerClient {
    api: Api,
    base: String,
}

impl PickerClient {
    /// A client using `token` (scope `photospicker.mediaitems.readonly`).
    pub fn new(
        endpoint: Option<&str>,
        http: HttpConfig,
        token: Arc<dyn TokenSource>,
    ) -> Result<Self> {
        let api =
            Api::new(http, Some(token), crate::error::parse_error)?.named("Google Photos Picker");
        let base = cloudmux_http::at_host(endpoint, "photospicker.googleapis.com", "/v1");
        Ok(PickerClient { api, base })
    }

    async fn json<T: serde::de::DeserializeOwned>(resp: reqwest::Response) -> Result<T> {
        let b = resp.bytes().await.map_err(cloudmux_http::transport_error)?;
        serde_json::from_slice(&b).map_err(|e| {
            Error::new(
                ErrorKind::Other,
                format!("the Picker answered unexpected JSON: {e}"),
            )
        })
    }

    /// Creates a session (at most `max_items` may be picked).
    pub async fn create(&self, max_items: Option<u64>) -> Result<PickingSession> {
        let mut body = json!({});
        if let Some(m) = max_items {
            body["pickingConfig"] = json!({"maxItemCount": m.to_string()});
        }
        let url = format!("{}/sessions", self.base);
        Self::json(
            self.api
                .send(|c| c.post(&url).json(&body), Idempotency::Unsafe)
                .await?,
        )
        .await
    }

    /// The session's state.
    pub async fn session(&self, id: &str) -> Result<PickingSession> {
        let url = format!("{}/sessions/{id}", self.base);
        Self::json(self.api.send(|c| c.get(&url), Idempotency::Safe).await?).await
    }

    /// Polls at the session's interval until the person is done or the session's timeout passes.
    pub async fn wait(
        &self,
        s: &PickingSession,
        mut on_poll: impl FnMut(),
    ) -> Result<PickingSession> {
        let pc = s.polling_config.clone().unwrap_or_default();
        let interval = pc
            .poll_interval
            .as_deref()
            .and_then(duration)
            .unwrap_or(Duration::from_secs(5))
            .max(Duration::from_millis(200));
        let deadline = Instant::now()
            + pc.timeout_in
                .as_deref()
                .and_then(duration)
                .unwrap_or(Duration::from_secs(1800));
        loop {
            let cur = self.session(&s.id).await?;
            if cur.media_items_set {
                return Ok(cur);
            }
            on_poll();
            if Instant::now() + interval > deadline {
                return Err(Error::new(
                    ErrorKind::Transient,
                    "the picking session timed out before anything was picked",
                )
                .with_hint("run the command again and pick the photos on the printed page"));
            }
            tokio::time::sleep(interval).await;
        }
    }

    /// Every picked item (pages of up to 100).
    pub async fn items(&self, session: &str) -> Result<Vec<PickedItem>> {
        let url = format!("{}/mediaItems", self.base);
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut q = vec![
                ("sessionId", session.to_string()),
                ("pageSize", "100".to_string()),
            ];
            if let Some(t) = &token {
                q.push(("pageToken", t.clone()));
            }
            let v: Value = Self::json(
                self.api
                    .send(|c| c.get(&url).query(&q), Idempotency::Safe)
                    .await?,
            )
            .await?;
            out.extend(
                serde_json::from_value::<Vec<PickedItem>>(v["mediaItems"].clone())
                    .unwrap_or_default(),
            );
            match v["nextPageToken"].as_str() {
                Some(t) => token = Some(t.to_string()),
                None => return Ok(out),
            }
        }
    }

    /// The original bytes of a picked item (`=d` photos, `=dv` videos), with the bearer token.
    pub async fn download(&self, item: &PickedItem, range: ByteRange) -> Result<ByteStream> {
        let url = format!(
            "{}={}",
            item.media_file.base_url,
            if item.kind == "VIDEO" { "dv" } else { "d" }
        );
        let header = range.to_header();
        let resp = self
            .api
            .send(
                |c| match &header {
                    Some(h) => c.get(&url).header(reqwest::header::RANGE, h),
                    None => c.get(&url),
                },
                Idempotency::Safe,
            )
            .await?;
        Ok(body_stream(resp))
    }

    /// Deletes a session (recommended once its items are fetched).
    pub async fn delete(&self, id: &str) -> Result<()> {
        let url = format!("{}/sessions/{id}", self.base);
        self.api.send(|c| c.delete(&url), Idempotency::Safe).await?;
        Ok(())
    }
}
