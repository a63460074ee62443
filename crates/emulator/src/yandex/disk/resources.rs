//! Resources: metadata and listings, folders, deletion to the trash, custom properties, copies and moves, the flat file list and last uploads.

use super::*;

pub(super) async fn disk_info(
    State(emu): State<Arc<Emu>>,
    _: Caller,
    Query(q): Q,
) -> YResult<Response> {
    let st = lock(&emu.disk);
    let (used, trash) = st.usage();
    let total = emu.settings().yandex_quota;
    Ok(reply(
        &q,
        json!({
            "total_space": total, "used_space": used, "trash_size": trash, "max_file_size": 53687091200u64,
            "paid_max_file_size": 1099511627776u64, "is_paid": false, "revision": st.revision, "reg_time": "2020-01-01T00:00:00+00:00",
            "unlimited_autoupload_enabled": false,
            "system_folders": {"applications": "disk:/Applications", "downloads": "disk:/Downloads/", "photostream": "disk:/Camera/", "screenshots": "disk:/Screenshots/"},
            "user": {"login": "demo.user", "display_name": "Demo User", "uid": "1130000000000001", "country": "ru", "reg_time": "2020-01-01T00:00:00+00:00"},
        }),
    ))
}

/// Metadata of a resource; folders carry `_embedded` with a page of children.
pub(super) async fn meta(
    State(emu): State<Arc<Emu>>,
    base: Base,
    Caller(client): Caller,
    Query(q): Q,
) -> YResult<Response> {
    let path = norm(param(&q, "path")?, &client)?;
    let (limit, offset) = limit_offset(&q)?;
    let sort = q.get("sort").cloned().unwrap_or_default();
    let st = lock(&emu.disk);
    let res = st.items.get(&path).ok_or_else(YError::not_found)?;
    let mut v = resource_json(&st, &base, &path, res, &path);
    if res.dir {
        let mut kids: Vec<(String, Res)> = st
            .children(&path)
            .into_iter()
            .map(|(k, r)| (k.clone(), r.clone()))
            .collect();
        sort_items(&mut kids, &sort)?;
        let total = kids.len();
        let page: Vec<Value> = kids
            .iter()
            .skip(offset)
            .take(limit)
            .map(|(k, r)| resource_json(&st, &base, k, r, k))
            .collect();
        v["_embedded"] = json!({"items": page, "limit": limit, "offset": offset, "total": total, "path": path, "sort": sort});
    }
    Ok(reply(&q, v))
}

pub(super) async fn mkdir(
    State(emu): State<Arc<Emu>>,
    base: Base,
    Caller(client): Caller,
    Query(q): Q,
) -> YResult<Response> {
    let path = norm(param(&q, "path")?, &client)?;
    let mut st = lock(&emu.disk);
    if let Some(r) = st.items.get(&path) {
        return Err(if r.dir {
            YError::new(
                409,
                "DiskPathPointsToExistentDirectoryError",
                format!("По указанному пути \"{path}\" уже существует папка с таким именем."),
                format!("Specified path \"{path}\" points to existent directory."),
            )
        } else {
            YError::exists(&path)
        });
    }
    st.check_parent(&path)?;
    let rev = st.bump();
    st.items.insert(path.clone(), new_dir(rev));
    Ok((StatusCode::CREATED, axum::Json(resource_link(&base, &path))).into_response())
}

pub(super) fn trash_path(name: &str) -> String {
    format!("trash:/{name}_{}", token(20))
}

pub(super) async fn remove(
    State(emu): State<Arc<Emu>>,
    base: Base,
    Caller(client): Caller,
    Query(q): Q,
) -> YResult<Response> {
    let path = norm(param(&q, "path")?, &client)?;
    if path == "disk:/" {
        return Err(YError::parent_missing(&path));
    }
    let mut st = lock(&emu.disk);
    let r = st.items.get(&path).ok_or_else(YError::not_found)?.clone();
    if let Some(md5) = q.get("md5")
        && r.hashes.as_ref().map(|h| &h.md5) != Some(md5)
    {
        return Err(YError::new(
            409,
            "MD5DifferError",
            "MD5 не совпадает.",
            "MD5 checksum of the resource differs.",
        ));
    }
    let is_async = r.dir && !st.children(&path).is_empty() || flag(&q, "force_async");
    let items = st.remove_tree(&path);
    if flag(&q, "permanently") {
        let blobs: Vec<String> = items.values().filter_map(|r| r.blob.clone()).collect();
        drop(st);
        let emu2 = emu.clone();
        tokio::spawn(async move {
            for b in blobs {
                emu2.blobs.remove(&b).await;
            }
        });
        st = lock(&emu.disk);
    } else {
        st.trash.insert(
            trash_path(&name_of(&path)),
            Trashed {
                origin: path.clone(),
                deleted: now(),
                items,
            },
        );
    }
    st.bump();
    if is_async {
        return Ok(op_link(&mut st, &base, true));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn patch_props(
    State(emu): State<Arc<Emu>>,
    base: Base,
    Caller(client): Caller,
    Query(q): Q,
    body: Bytes,
) -> YResult<Response> {
    let path = norm(param(&q, "path")?, &client)?;
    let b: Value =
        serde_json::from_slice(&body).map_err(|_| YError::field("body", "Invalid JSON."))?;
    let props = b
        .get("custom_properties")
        .and_then(Value::as_object)
        .ok_or_else(|| YError::field("custom_properties", "This field is required."))?;
    let mut st = lock(&emu.disk);
    let rev = st.bump();
    let r = st.items.get_mut(&path).ok_or_else(YError::not_found)?;
    for (k, v) in props {
        if v.is_null() {
            r.custom.remove(k);
        } else {
            r.custom.insert(k.clone(), v.clone());
        }
    }
    r.revision = rev;
    let r = r.clone();
    Ok(reply(&q, resource_json(&st, &base, &path, &r, &path)))
}

pub(super) async fn transfer(
    emu: Arc<Emu>,
    base: Base,
    Caller(client): Caller,
    q: HashMap<String, String>,
    keep_source: bool,
) -> YResult<Response> {
    let from = norm(param(&q, "from")?, &client)?;
    let to = norm(param(&q, "path")?, &client)?;
    let overwrite = flag(&q, "overwrite");
    let mut st = lock(&emu.disk);
    let src = st.items.get(&from).ok_or_else(YError::not_found)?.clone();
    if from == to || to.starts_with(&child_prefix(&from)) {
        return Err(YError::new(
            409,
            "DiskCannotMoveToItselfError",
            "Нельзя переместить ресурс в самого себя.",
            "Cannot move or copy a resource into itself.",
        ));
    }
    st.check_parent(&to)?;
    if st.items.contains_key(&to) {
        if !overwrite {
            return Err(YError::exists(&to));
        }
        st.remove_tree(&to);
    }
    let is_async = src.dir && !st.children(&from).is_empty() || flag(&q, "force_async");
    let items = if keep_source {
        let pre = child_prefix(&from);
        let mut m = BTreeMap::new();
        for k in st.subtree(&from) {
            let mut r = st.items[&k].clone();
            r.resource_id = rid();
            r.public_key = None;
            m.insert(
                if k == from {
                    String::new()
                } else {
                    k[pre.len()..].to_string()
                },
                r,
            );
        }
        m
    } else {
        st.remove_tree(&from)
    };
    let copied_blobs: Vec<(String, String)> = if keep_source {
        items
            .iter()
            .filter_map(|(rel, r)| r.blob.clone().map(|b| (rel.clone(), b)))
            .collect()
    } else {
        vec![]
    };
    st.put_tree(&to, items);
    // Copies get their own blobs (files are shared until then); written synchronously (small in tests).
    for (rel, b) in copied_blobs {
        let path = if rel.is_empty() {
            to.clone()
        } else {
            format!("{}{rel}", child_prefix(&to))
        };
        let new = emu.blobs.new_key();
        std::fs::copy(emu.blobs.path(&b), emu.blobs.path(&new))
            .map_err(|e| YError::new(500, "InternalServerError", e.to_string(), e.to_string()))?;
        if let Some(r) = st.items.get_mut(&path) {
            r.blob = Some(new);
        }
    }
    if is_async {
        return Ok(op_link(&mut st, &base, true));
    }
    Ok((StatusCode::CREATED, axum::Json(resource_link(&base, &to))).into_response())
}

pub(super) async fn copy(
    State(emu): State<Arc<Emu>>,
    base: Base,
    caller: Caller,
    Query(q): Q,
) -> YResult<Response> {
    transfer(emu, base, caller, q, true).await
}

pub(super) async fn move_(
    State(emu): State<Arc<Emu>>,
    base: Base,
    caller: Caller,
    Query(q): Q,
) -> YResult<Response> {
    transfer(emu, base, caller, q, false).await
}

pub(super) async fn flat_files(
    State(emu): State<Arc<Emu>>,
    base: Base,
    headers: HeaderMap,
    Query(q): Q,
) -> YResult<Response> {
    auth(&emu, &headers)?;
    let (limit, offset) = limit_offset(&q)?;
    let types: Option<Vec<String>> = q
        .get("media_type")
        .map(|m| m.split(',').map(|s| s.trim().to_string()).collect());
    let st = lock(&emu.disk);
    let mut files: Vec<(String, Res)> = st
        .items
        .iter()
        .filter(|(k, r)| {
            !r.dir
                && types
                    .as_ref()
                    .is_none_or(|t| t.iter().any(|x| x == media_type(&name_of(k))))
        })
        .map(|(k, r)| (k.clone(), r.clone()))
        .collect();
    sort_items(
        &mut files,
        q.get("sort").map(String::as_str).unwrap_or("name"),
    )?;
    let items: Vec<Value> = files
        .iter()
        .skip(offset)
        .take(limit)
        .map(|(k, r)| resource_json(&st, &base, k, r, k))
        .collect();
    Ok(reply(
        &q,
        json!({"items": items, "limit": limit, "offset": offset}),
    ))
}

pub(super) async fn last_uploaded(
    State(emu): State<Arc<Emu>>,
    base: Base,
    headers: HeaderMap,
    Query(q): Q,
) -> YResult<Response> {
    auth(&emu, &headers)?;
    let (limit, _) = limit_offset(&q)?;
    let st = lock(&emu.disk);
    let mut files: Vec<(String, Res)> = st
        .items
        .iter()
        .filter(|(_, r)| !r.dir)
        .map(|(k, r)| (k.clone(), r.clone()))
        .collect();
    files.sort_by(|a, b| {
        b.1.created
            .cmp(&a.1.created)
            .then(b.1.revision.cmp(&a.1.revision))
    });
    let items: Vec<Value> = files
        .iter()
        .take(limit)
        .map(|(k, r)| resource_json(&st, &base, k, r, k))
        .collect();
    Ok(reply(&q, json!({"items": items, "limit": limit})))
}
