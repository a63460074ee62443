//! Download tickets: links that need no header, for the browser's own downloads and media elements.

use super::*;

/// The routes.
pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/fs/ticket", post(ticket))
        .route("/api/fs/dl/{ticket}/{name}", get(ticket_download))
}

/// A download link that needs no header (for the browser's own downloads and `<img>`, `<video>` and
/// `<audio>` elements): the ticket names one file (or a folder, then downloaded as a streamed ZIP), is
/// bound to this session and is not the user's token ([`crate::house::tickets`]).
async fn ticket(
    State(st): State<Arc<AppState>>,
    a: Authed,
    Json(b): Json<PathQ>,
) -> ApiResult<Json<Value>> {
    let full = a.path(&b.path)?;
    let e = st.tree.stat(&full).await?;
    if e.is_dir && st.tree.locate(&full).is_err() {
        return Err(
            Error::invalid(format!("{} holds only mount points", a.shown(&full)))
                .with_hint("download a mounted folder or files inside one")
                .into(),
        );
    }
    let t = st
        .tickets
        .issue(&a.0, &crate::house::users::token_hash(&a.1), &full)
        .await?;
    let shown_name = if e.is_dir {
        format!("{}.zip", e.name)
    } else {
        e.name.clone()
    };
    let name: String =
        percent_encoding::utf8_percent_encode(&shown_name, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    Ok(Json(json!({
        "url": format!("/api/fs/dl/{t}/{name}"),
        "expires_in": crate::house::tickets::IDLE.as_secs(),
    })))
}

#[derive(Deserialize)]
struct DlQ {
    #[serde(default)]
    inline: bool,
    /// A thumbnail no wider or higher than this many pixels (images only; rounded up to one of
    /// [`crate::house::thumbs::EDGES`]).
    #[serde(default)]
    thumb: Option<u32>,
    /// Subtitles (`.srt`, `.vtt`) as WebVTT, for the player's `<track>`.
    #[serde(default)]
    vtt: bool,
}

async fn ticket_download(
    State(st): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    Path((t, _name)): Path<(String, String)>,
    Query(q): Query<DlQ>,
) -> ApiResult<Response> {
    let full = st.tickets.redeem(&st.users, &t).await?;
    let shown = full.rsplit('/').next().unwrap_or_default().to_string();
    if let Some(edge) = q.thumb {
        let e = st.tree.stat(&full).await?;
        let jpeg = st.thumbs.get(&st.tree, &full, &e, edge).await?;
        let mut r = ([(header::CACHE_CONTROL, "private, max-age=300")], jpeg).into_response();
        crate::doors::common::body::set_headers(r.headers_mut(), &shown, "image/jpeg", true);
        return Ok(r);
    }
    if q.vtt {
        return files::subtitles_of(&st, &full).await;
    }
    if method == Method::GET && st.tree.stat_for_read(&full).await?.is_dir {
        let (top, items) = files::zip_plan(&st, &full).await?;
        return Ok(files::zip_body(&st, &top, items));
    }
    files::send_file(&st, &full, &shown, &method, &headers, q.inline).await
}
