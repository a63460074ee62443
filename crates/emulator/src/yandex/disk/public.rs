//! Publishing, public resources (metadata, downloads, saving to the disk) and their pages.

use super::*;

pub(super) async fn publish(
    State(emu): State<Arc<Emu>>,
    base: Base,
    Caller(client): Caller,
    Query(q): Q,
) -> YResult<Response> {
    let path = norm(param(&q, "path")?, &client)?;
    let mut st = lock(&emu.disk);
    let r = st.items.get_mut(&path).ok_or_else(YError::not_found)?;
    if r.public_key.is_none() {
        let key = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            (0..33).map(|_| rand::random::<u8>()).collect::<Vec<_>>(),
        );
        r.public_key = Some(key.clone());
        st.public.insert(key, path.clone());
    }
    st.bump();
    Ok(axum::Json(resource_link(&base, &path)).into_response())
}

pub(super) async fn unpublish(
    State(emu): State<Arc<Emu>>,
    base: Base,
    Caller(client): Caller,
    Query(q): Q,
) -> YResult<Response> {
    let path = norm(param(&q, "path")?, &client)?;
    let mut st = lock(&emu.disk);
    let r = st.items.get_mut(&path).ok_or_else(YError::not_found)?;
    if let Some(k) = r.public_key.take() {
        st.public.remove(&k);
    }
    st.bump();
    Ok(axum::Json(resource_link(&base, &path)).into_response())
}

pub(super) async fn public_list(
    State(emu): State<Arc<Emu>>,
    base: Base,
    headers: HeaderMap,
    Query(q): Q,
) -> YResult<Response> {
    auth(&emu, &headers)?;
    let (limit, offset) = limit_offset(&q)?;
    let st = lock(&emu.disk);
    let want = q.get("type").cloned();
    let mut items: Vec<(String, Res)> = st
        .public
        .values()
        .filter_map(|p| st.items.get(p).map(|r| (p.clone(), r.clone())))
        .filter(|(_, r)| want.as_deref().is_none_or(|t| (t == "dir") == r.dir))
        .collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let page: Vec<Value> = items
        .iter()
        .skip(offset)
        .take(limit)
        .map(|(k, r)| resource_json(&st, &base, k, r, k))
        .collect();
    Ok(reply(
        &q,
        json!({"items": page, "limit": limit, "offset": offset}),
    ))
}

/// Resolves a public key (or public URL) and sub-path to a disk path.
pub(super) fn public_path(
    st: &DiskState,
    q: &HashMap<String, String>,
) -> YResult<(String, String)> {
    let key = param(q, "public_key")?;
    let root = st
        .public
        .get(key)
        .cloned()
        .or_else(|| {
            let short = key.rsplit('/').next().unwrap_or(key);
            st.public
                .iter()
                .find(|(k, _)| short_id(k) == short)
                .map(|(_, p)| p.clone())
        })
        .ok_or_else(YError::not_found)?;
    let sub = q
        .get("path")
        .map(|p| p.trim_matches('/').to_string())
        .unwrap_or_default();
    if sub.split('/').any(|c| c == "..") {
        return Err(YError::field("path", "path must not contain '..'"));
    }
    let full = if sub.is_empty() {
        root.clone()
    } else {
        format!("{}{sub}", child_prefix(&root))
    };
    Ok((
        full,
        if sub.is_empty() {
            "/".into()
        } else {
            format!("/{sub}")
        },
    ))
}

pub(super) async fn public_meta(
    State(emu): State<Arc<Emu>>,
    base: Base,
    Query(q): Q,
) -> YResult<Response> {
    let (limit, offset) = limit_offset(&q)?;
    let st = lock(&emu.disk);
    let (full, shown) = public_path(&st, &q)?;
    let res = st.items.get(&full).ok_or_else(YError::not_found)?;
    let mut v = resource_json(&st, &base, &full, res, &shown);
    if res.dir {
        let mut kids: Vec<(String, Res)> = st
            .children(&full)
            .into_iter()
            .map(|(k, r)| (k.clone(), r.clone()))
            .collect();
        sort_items(&mut kids, q.get("sort").map(String::as_str).unwrap_or(""))?;
        let total = kids.len();
        let pre = child_prefix(&full);
        let page: Vec<Value> = kids
            .iter()
            .skip(offset)
            .take(limit)
            .map(|(k, r)| {
                resource_json(
                    &st,
                    &base,
                    k,
                    r,
                    &format!("{}{}", child_prefix(&shown), &k[pre.len()..]),
                )
            })
            .collect();
        v["_embedded"] = json!({"items": page, "limit": limit, "offset": offset, "total": total, "path": shown, "public_key": q["public_key"]});
    }
    Ok(reply(&q, v))
}

pub(super) async fn public_download(
    State(emu): State<Arc<Emu>>,
    base: Base,
    Query(q): Q,
) -> YResult<Response> {
    let st = lock(&emu.disk);
    let (full, _) = public_path(&st, &q)?;
    let r = st.items.get(&full).cloned().ok_or_else(YError::not_found)?;
    let b = r.blob.as_ref().ok_or_else(|| {
        YError::new(
            400,
            "DiskNotSupportedError",
            "Скачивание папок эмулятором не поддерживается.",
            "The emulator does not zip folders for download.",
        )
    })?;
    let t = direct_link(
        &st,
        b,
        r.size,
        r.mime.as_deref().unwrap_or("application/octet-stream"),
    );
    Ok(axum::Json(json!({"href": base.url("downloader.disk.yandex.ru", &format!("/disk/{t}")), "method": "GET", "templated": false})).into_response())
}

pub(super) async fn public_save(
    State(emu): State<Arc<Emu>>,
    base: Base,
    Caller(client): Caller,
    Query(q): Q,
) -> Response {
    let (full, name, dest) = match (|| -> YResult<(String, String, String)> {
        let st = lock(&emu.disk);
        let (full, _) = public_path(&st, &q)?;
        st.items.get(&full).ok_or_else(YError::not_found)?;
        let name = q.get("name").cloned().unwrap_or_else(|| name_of(&full));
        let dir = norm(
            q.get("save_path")
                .map(String::as_str)
                .unwrap_or("disk:/Downloads"),
            &client,
        )?;
        Ok((full, name, dir))
    })() {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let mut st = lock(&emu.disk);
    if !st.items.contains_key(&dest) {
        let rev = st.bump();
        st.items.insert(dest.clone(), new_dir(rev));
    }
    let target = format!("{}{name}", child_prefix(&dest));
    if st.items.contains_key(&target) {
        return YError::exists(&target).into_response();
    }
    let pre = child_prefix(&full);
    let mut m = BTreeMap::new();
    for k in st.subtree(&full) {
        let mut r = st.items[&k].clone();
        r.public_key = None;
        r.resource_id = rid();
        if let Some(b) = &r.blob {
            let new = emu.blobs.new_key();
            if std::fs::copy(emu.blobs.path(b), emu.blobs.path(&new)).is_err() {
                return YError::new(500, "InternalServerError", "copy failed", "copy failed")
                    .into_response();
            }
            r.blob = Some(new);
        }
        m.insert(
            if k == full {
                String::new()
            } else {
                k[pre.len()..].to_string()
            },
            r,
        );
    }
    st.put_tree(&target, m);
    (
        StatusCode::CREATED,
        axum::Json(resource_link(&base, &target)),
    )
        .into_response()
}

/// The public URL of a published file serves its bytes; of a folder, a JSON listing of its first page.
pub(super) async fn public_page(
    State(emu): State<Arc<Emu>>,
    base: Base,
    headers: HeaderMap,
    Path(short): Path<String>,
) -> Response {
    let q: HashMap<String, String> = [("public_key".to_string(), short)].into();
    let found = {
        let st = lock(&emu.disk);
        public_path(&st, &q)
            .ok()
            .and_then(|(full, _)| st.items.get(&full).cloned().map(|r| (full, r)))
    };
    match found {
        Some((_, r)) if !r.dir => match &r.blob {
            Some(b) => {
                crate::serve::blob_response(
                    &emu,
                    b,
                    r.size,
                    r.mime.as_deref().unwrap_or("application/octet-stream"),
                    None,
                    &headers,
                )
                .await
            }
            None => YError::not_found().into_response(),
        },
        Some(_) => public_meta(State(emu), base, Query(q))
            .await
            .unwrap_or_else(IntoResponse::into_response),
        None => YError::not_found().into_response(),
    }
}
