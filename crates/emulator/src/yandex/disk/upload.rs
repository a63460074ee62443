//! Uploads (links on the uploader host, whole or Content-Range PUTs, upload by URL) and download links.

use super::*;

pub(super) async fn download_link(
    State(emu): State<Arc<Emu>>,
    base: Base,
    Caller(client): Caller,
    Query(q): Q,
) -> YResult<Response> {
    let path = norm(param(&q, "path")?, &client)?;
    let st = lock(&emu.disk);
    let r = st.items.get(&path).cloned().ok_or_else(YError::not_found)?;
    let Some(b) = r.blob.as_ref().filter(|_| !r.dir) else {
        return Err(YError::new(
            400,
            "DiskNotSupportedError",
            "Скачивание папок эмулятором не поддерживается.",
            "The emulator does not zip folders for download.",
        ));
    };
    let t = direct_link(
        &st,
        b,
        r.size,
        r.mime.as_deref().unwrap_or("application/octet-stream"),
    );
    let href = base.url(
        "downloader.disk.yandex.ru",
        &format!(
            "/disk/{t}?filename={}",
            url::form_urlencoded::byte_serialize(name_of(&path).as_bytes()).collect::<String>()
        ),
    );
    Ok(axum::Json(json!({"href": href, "method": "GET", "templated": false})).into_response())
}

pub(super) async fn download_get(
    State(emu): State<Arc<Emu>>,
    headers: HeaderMap,
    Path(t): Path<String>,
) -> Response {
    let found = {
        let st = lock(&emu.disk);
        lock(&st.downloads)
            .by_token
            .get(&t)
            .filter(|d| d.3 > Instant::now())
            .cloned()
    };
    match found {
        Some((blob, size, mime, _)) => {
            crate::serve::blob_response(&emu, &blob, size, &mime, None, &headers).await
        }
        None => (StatusCode::NOT_FOUND, "download link expired").into_response(),
    }
}

pub(super) async fn upload_link(
    State(emu): State<Arc<Emu>>,
    base: Base,
    Caller(client): Caller,
    Query(q): Q,
) -> YResult<Response> {
    let path = norm(param(&q, "path")?, &client)?;
    let overwrite = flag(&q, "overwrite");
    let rate = crate::quota::quotas(&emu)
        .config()
        .yandex_throttled_upload_bytes_per_second;
    let throttle = (rate > 0 && super::throttled(&path)).then_some(rate);
    let mut st = lock(&emu.disk);
    st.check_parent(&path)?;
    if let Some(r) = st.items.get(&path)
        && (r.dir || !overwrite)
    {
        return Err(YError::exists(&path));
    }
    if st.usage().0 >= emu.settings().yandex_quota {
        return Err(YError::no_space());
    }
    let t = token(16);
    let op = token(16);
    st.ops.insert(op.clone(), OpState::Fixed("in-progress"));
    st.uploads.insert(
        t.clone(),
        Arc::new(tokio::sync::Mutex::new(Upload {
            path,
            overwrite,
            expires: Instant::now() + Duration::from_secs(1800),
            blob: None,
            committed: 0,
            hasher: Hasher::default(),
            operation: op.clone(),
            throttle,
        })),
    );
    let href = base.url("uploader.disk.yandex.net", &format!("/upload-target/{t}"));
    Ok(
        axum::Json(json!({"operation_id": op, "href": href, "method": "PUT", "templated": false}))
            .into_response(),
    )
}

pub(super) fn parse_content_range(h: &HeaderMap) -> Result<Option<(u64, u64, Option<u64>)>, ()> {
    let Some(v) = h.get(header::CONTENT_RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let spec = v.trim().strip_prefix("bytes ").ok_or(())?;
    let (r, t) = spec.split_once('/').ok_or(())?;
    let total = if t == "*" {
        None
    } else {
        Some(t.parse().map_err(|_| ())?)
    };
    let (a, b) = r.split_once('-').ok_or(())?;
    Ok(Some((
        a.parse().map_err(|_| ())?,
        b.parse().map_err(|_| ())?,
        total,
    )))
}

/// The upload host: the whole file in one PUT (201), or Content-Range chunks (202 until the last, then 201).
pub(super) async fn upload_put(
    State(emu): State<Arc<Emu>>,
    headers: HeaderMap,
    Path(t): Path<String>,
    body: Body,
) -> Response {
    let Some(up) = lock(&emu.disk).uploads.get(&t).cloned() else {
        return (StatusCode::NOT_FOUND, "upload link not found or expired").into_response();
    };
    let mut up = up.lock().await;
    if up.expires <= Instant::now() {
        return (StatusCode::GONE, "upload link expired").into_response();
    }
    let range = match parse_content_range(&headers) {
        Ok(r) => r,
        Err(()) => return (StatusCode::PRECONDITION_FAILED, "bad Content-Range").into_response(),
    };
    let (start, total) = match range {
        None => {
            up.committed = 0;
            up.hasher = Hasher::default();
            (0, None)
        }
        Some((a, _b, total)) => (a, total),
    };
    if start > up.committed {
        return (
            StatusCode::PRECONDITION_FAILED,
            format!(
                "Content-Range starts at {start}, {} bytes received so far",
                up.committed
            ),
        )
            .into_response();
    }
    let key = match &up.blob {
        Some(k) => k.clone(),
        None => {
            let k = emu.blobs.new_key();
            up.blob = Some(k.clone());
            k
        }
    };
    let path = emu.blobs.path(&key);
    let drop_after = lock(&emu.faults).take_upload_drop();
    let mut skip = up.committed - start;
    let mut seen = 0u64;
    let mut broken = false;
    let r = async {
        let mut f = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&path)
            .await?;
        f.set_len(up.committed).await?;
        f.seek(std::io::SeekFrom::Start(up.committed)).await?;
        let mut f = tokio::io::BufWriter::with_capacity(1 << 20, f);
        let mut s = body.into_data_stream();
        let started = Instant::now();
        while let Some(c) = s.next().await {
            if let Some(rate) = up.throttle {
                // What has come so far may not have come faster than the throttle lets it.
                let due = Duration::from_secs_f64(seen as f64 / rate as f64);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    tokio::time::sleep(wait).await;
                }
            }
            let Ok(mut c) = c else {
                broken = true;
                break;
            };
            if let Some(l) = drop_after {
                if seen >= l {
                    broken = true;
                    break;
                }
                c = c.slice(..((l - seen) as usize).min(c.len()));
            }
            seen += c.len() as u64;
            lock(&emu.disk).upload_bytes += c.len() as u64;
            if skip > 0 {
                let n = skip.min(c.len() as u64) as usize;
                skip -= n as u64;
                c = c.slice(n..);
            }
            f.write_all(&c).await?;
            up.hasher.update(&c);
            up.committed += c.len() as u64;
        }
        if drop_after.is_some_and(|l| seen >= l) {
            broken = true;
        }
        f.flush().await?;
        Ok::<_, std::io::Error>(())
    }
    .await;
    if let Err(e) = r {
        return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
    }
    if broken {
        return broken_response();
    }
    // A chunk of a file whose total is not known yet (`bytes a-b/*`), or short of the total: accepted, not done.
    if range.is_some() && total.is_none_or(|t| up.committed < t) {
        return StatusCode::ACCEPTED.into_response();
    }
    // Complete: store it.
    let size = up.committed;
    let hashes = std::mem::take(&mut up.hasher).finish();
    let stored = store_upload(&emu, &up, key, size, hashes, &t);
    match stored {
        Ok(old_blob) => {
            if let Some(b) = old_blob {
                emu.blobs.remove(&b).await;
            }
            StatusCode::CREATED.into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// Puts a completed upload in place; returns the replaced file's blob.
pub(super) fn store_upload(
    emu: &Emu,
    up: &Upload,
    key: String,
    size: u64,
    hashes: BlobHashes,
    token: &str,
) -> YResult<Option<String>> {
    let mut st = lock(&emu.disk);
    if st.usage().0 + size > emu.settings().yandex_quota {
        return Err(YError::no_space());
    }
    st.check_parent(&up.path)?;
    let old = st.items.get(&up.path).cloned();
    if old.as_ref().is_some_and(|o| o.dir || !up.overwrite) {
        return Err(YError::exists(&up.path));
    }
    let rev = st.bump();
    let t0 = now();
    let res = Res {
        dir: false,
        blob: Some(key),
        size,
        hashes: Some(hashes),
        mime: Some(cloudmux_mime(&up.path)),
        created: old.as_ref().map(|o| o.created).unwrap_or(t0),
        modified: t0,
        resource_id: old
            .as_ref()
            .map(|o| o.resource_id.clone())
            .unwrap_or_else(rid),
        revision: rev,
        custom: old.as_ref().map(|o| o.custom.clone()).unwrap_or_default(),
        public_key: old.as_ref().and_then(|o| o.public_key.clone()),
    };
    st.items.insert(up.path.clone(), res);
    st.ops
        .insert(up.operation.clone(), OpState::Fixed("success"));
    st.uploads.remove(token);
    Ok(old.and_then(|o| o.blob))
}

pub(super) fn cloudmux_mime(path: &str) -> String {
    let n = name_of(path).to_ascii_lowercase();
    let ext = n.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext {
        "txt" => "text/plain",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "pdf" => "application/pdf",
        "json" => "application/json",
        "mp4" => "video/mp4",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
    .to_string()
}

pub(super) async fn upload_url(
    State(emu): State<Arc<Emu>>,
    base: Base,
    Caller(client): Caller,
    Query(q): Q,
) -> Response {
    let prep = (|| -> YResult<(String, String)> {
        let path = norm(param(&q, "path")?, &client)?;
        let url = param(&q, "url")?.clone();
        let st = lock(&emu.disk);
        st.check_parent(&path)?;
        if st.items.contains_key(&path) {
            return Err(YError::exists(&path));
        }
        Ok((path, url))
    })();
    let (path, url) = match prep {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let op = token(16);
    lock(&emu.disk)
        .ops
        .insert(op.clone(), OpState::Fixed("in-progress"));
    let emu2 = emu.clone();
    let op2 = op.clone();
    tokio::spawn(async move {
        let status = fetch_into(&emu2, &url, &path).await;
        lock(&emu2.disk).ops.insert(
            op2,
            OpState::Fixed(if status { "success" } else { "failed" }),
        );
    });
    (
        StatusCode::ACCEPTED,
        axum::Json(link(&base, &format!("/v1/disk/operations/{op}"))),
    )
        .into_response()
}

/// Downloads `url` into `path` (the emulator's own public links work; the machine may have no other network).
pub(super) async fn fetch_into(emu: &Emu, url: &str, path: &str) -> bool {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Ok(client) = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()
    else {
        return false;
    };
    let Ok(resp) = client.get(url).send().await else {
        return false;
    };
    if !resp.status().is_success() {
        return false;
    }
    let Ok((key, size, hashes)) = emu.blobs.store(resp.bytes_stream(), u64::MAX).await else {
        return false;
    };
    let mut st = lock(&emu.disk);
    let rev = st.bump();
    let t = now();
    st.items.insert(
        path.to_string(),
        Res {
            dir: false,
            blob: Some(key),
            size,
            hashes: Some(hashes),
            mime: Some(cloudmux_mime(path)),
            created: t,
            modified: t,
            resource_id: rid(),
            revision: rev,
            custom: BTreeMap::new(),
            public_key: None,
        },
    );
    true
}
