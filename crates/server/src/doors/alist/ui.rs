//! An AList/OpenList web frontend served beside AList's API (`serve --alist-ui DIR`): the build the user
//! points at (OpenList's `dist`, from npm's `@openlist-frontend/openlist-frontend`; never shipped with
//! cloudmux) at the root of the AList address, so one address hosts the UI and the API it calls.
//!
//! As OpenList's own server does, the folders of the build (`assets`, `images`, `static`, `streamer`)
//! are sent as files with a long cache, and every other page address gets `index.html` with its
//! configuration filled in: the CDN (none: the files come from here), the base path (`/`), the API base
//! (`/`: the page's own origin) and the main colour; the title is cloudmux's, and the logo and icon the
//! build would fetch from OpenList's site are this server's own icon, so the page loads nothing from
//! outside.
//!
//! Every file path comes from a request: it is decoded, refused when it holds `..`, a backslash or a
//! control character, joined under the build's folder and checked, after links are followed, to still be
//! inside it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use cloudmux_core::{Error, ErrorKind, Result};

/// The folders of a build sent as files; anything else is a page of the app.
pub const FOLDERS: [&str; 4] = ["assets", "images", "static", "streamer"];

/// The largest `index.html` read.
const MAX_INDEX: u64 = 1024 * 1024;

/// A frontend build, its `index.html` filled in.
#[derive(Debug)]
pub struct Ui {
    dir: PathBuf,
    index: Bytes,
}

impl Ui {
    /// Loads the build in `dir` (its folder must hold `index.html`).
    pub fn load(dir: &Path) -> Result<Arc<Ui>> {
        let hint = "point --alist-ui at the dist folder of an OpenList frontend build: \
                    npm pack @openlist-frontend/openlist-frontend, then unpack it (README, AList's API)";
        let dir = dir.canonicalize().map_err(|e| {
            Error::new(ErrorKind::InvalidInput, format!("{}: {e}", dir.display())).with_hint(hint)
        })?;
        let index = dir.join("index.html");
        let meta = std::fs::metadata(&index).map_err(|e| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("{} has no index.html: {e}", dir.display()),
            )
            .with_hint(hint)
        })?;
        if meta.len() > MAX_INDEX {
            return Err(Error::invalid(format!(
                "{} is larger than {} KiB: not a frontend's page",
                index.display(),
                MAX_INDEX >> 10
            ))
            .with_hint(hint));
        }
        let raw = std::fs::read_to_string(&index)
            .map_err(|e| Error::invalid(format!("{}: {e}", index.display())).with_hint(hint))?;
        if !raw.contains("OPENLIST_CONFIG") && !raw.contains("ALIST_CONFIG") {
            return Err(Error::invalid(format!(
                "{} is not an AList or OpenList frontend's page (it sets no OPENLIST_CONFIG)",
                index.display()
            ))
            .with_hint(hint));
        }
        Ok(Arc::new(Ui {
            dir,
            index: Bytes::from(fill(&raw)),
        }))
    }

    /// The answer to a GET of `uri` that is not the API's: a file of the build, or the app's page.
    pub async fn answer(&self, uri: &Uri) -> Response {
        let path = uri.path();
        let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
        if path == "/manifest.json" {
            return manifest();
        }
        if path == "/favicon.ico" || path == "/cloudmux-icon.svg" {
            return (
                [
                    (header::CONTENT_TYPE, "image/svg+xml"),
                    (header::CACHE_CONTROL, "public, max-age=86400"),
                ],
                crate::doors::common::ICON,
            )
                .into_response();
        }
        if FOLDERS.contains(&first) {
            return match self.file(path).await {
                Ok(r) => r,
                Err(status) => (status, "not found").into_response(),
            };
        }
        (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            self.index.clone(),
        )
            .into_response()
    }

    /// A file of the build under one of [`FOLDERS`].
    async fn file(&self, path: &str) -> std::result::Result<Response, StatusCode> {
        let decoded = percent_encoding::percent_decode_str(path)
            .decode_utf8()
            .map_err(|_| StatusCode::BAD_REQUEST)?;
        let rel = decoded.trim_start_matches('/');
        if rel
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
            || rel.contains('\\')
            || rel.chars().any(char::is_control)
        {
            return Err(StatusCode::NOT_FOUND);
        }
        let full = self.dir.join(rel);
        let real = tokio::fs::canonicalize(&full)
            .await
            .map_err(|_| StatusCode::NOT_FOUND)?;
        if !real.starts_with(&self.dir) {
            return Err(StatusCode::NOT_FOUND);
        }
        let file = tokio::fs::File::open(&real)
            .await
            .map_err(|_| StatusCode::NOT_FOUND)?;
        let meta = file.metadata().await.map_err(|_| StatusCode::NOT_FOUND)?;
        if !meta.is_file() {
            return Err(StatusCode::NOT_FOUND);
        }
        let mut r = Response::new(Body::from_stream(chunks(file)));
        let h = r.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime_of(rel)));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(meta.len()));
        // As OpenList sends its build: kept by browsers for half a year (the names carry hashes).
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=15552000"),
        );
        Ok(r)
    }
}

/// The file's bytes as a stream of chunks.
fn chunks(file: tokio::fs::File) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> {
    use tokio::io::AsyncReadExt;
    futures_util::stream::try_unfold(file, |mut f| async move {
        let mut buf = vec![0u8; 64 * 1024];
        let n = f.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n);
        Ok(Some((Bytes::from(buf), f)))
    })
}

/// The content type of a build's file, by its extension.
fn mime_of(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("html") => "text/html; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        Some("gif") => "image/gif",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        Some("ttf") => "font/ttf",
        Some("wasm") => "application/wasm",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// `index.html` with its configuration filled in, as OpenList's server fills it (the CDN, the base
/// path) and the API base, the main colour, the title, the icons and the customisation marks.
pub fn fill(raw: &str) -> String {
    let mut out = raw.to_string();
    for (from, to) in [
        ("cdn: undefined", "cdn: ''"),
        ("base_path: undefined", "base_path: '/'"),
        ("api: undefined", "api: '/'"),
        ("main_color: undefined", "main_color: '#2559b8'"),
        ("Loading...", "cloudmux"),
        ("https://res.oplist.org/logo/logo.svg", "/cloudmux-icon.svg"),
        ("https://res.oplist.org/logo/logo.png", "/cloudmux-icon.svg"),
        ("<!-- customize head -->", ""),
        ("<!-- customize body -->", ""),
    ] {
        out = out.replacen(from, to, 1);
    }
    // The icons may appear more than once (the touch icon and the shortcut icon).
    out.replace("https://res.oplist.org/logo/logo.png", "/cloudmux-icon.svg")
        .replace("https://res.oplist.org/logo/logo.svg", "/cloudmux-icon.svg")
}

/// The web app manifest OpenList's server makes.
fn manifest() -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        serde_json::json!({
            "display": "standalone",
            "scope": "/",
            "start_url": "/",
            "name": "cloudmux",
            "icons": [{"src": "/cloudmux-icon.svg", "sizes": "any", "type": "image/svg+xml"}],
        })
        .to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "<title>Loading...</title><link href=\"https://res.oplist.org/logo/logo.png\">\
        <script>window.OPENLIST_CONFIG = { cdn: undefined, base_path: undefined, api: undefined, \
        main_color: undefined }</script><!-- customize head -->";

    fn build() -> (tempfile::TempDir, Arc<Ui>) {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("index.html"), PAGE).unwrap();
        std::fs::create_dir_all(d.path().join("assets")).unwrap();
        std::fs::write(d.path().join("assets/app-1.js"), "console.log(1)").unwrap();
        std::fs::write(d.path().join("secret.txt"), "not for the web").unwrap();
        let ui = Ui::load(d.path()).unwrap();
        (d, ui)
    }

    async fn get(ui: &Ui, path: &str) -> (StatusCode, String, String) {
        let r = ui.answer(&path.parse().unwrap()).await;
        let status = r.status();
        let ty = r
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        (status, ty, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn the_page_is_filled_and_files_come_from_the_build_only() {
        let (_d, ui) = build();
        let (s, ty, page) = get(&ui, "/local/some/folder").await;
        assert_eq!(
            (s, ty.as_str()),
            (StatusCode::OK, "text/html; charset=utf-8")
        );
        for want in [
            "cdn: ''",
            "base_path: '/'",
            "api: '/'",
            "<title>cloudmux</title>",
        ] {
            assert!(page.contains(want), "{want}: {page}");
        }
        assert!(
            !page.contains("res.oplist.org") && !page.contains("customize"),
            "{page}"
        );
        let (s, ty, js) = get(&ui, "/assets/app-1.js").await;
        assert_eq!(
            (s, ty.as_str(), js.as_str()),
            (
                StatusCode::OK,
                "text/javascript; charset=utf-8",
                "console.log(1)"
            )
        );
        for bad in [
            "/assets/../secret.txt",
            "/assets/%2e%2e/secret.txt",
            "/assets/..%2fsecret.txt",
            "/assets/..%5csecret.txt",
            "/assets//etc/passwd",
            "/assets/missing.js",
            "/assets",
        ] {
            let (s, _, body) = get(&ui, bad).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{bad}");
            assert!(!body.contains("not for the web"), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_link_out_of_the_build_is_not_followed() {
        let (d, ui) = build();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("x.js"), "outside").unwrap();
        std::os::unix::fs::symlink(outside.path().join("x.js"), d.path().join("assets/x.js"))
            .unwrap();
        let (s, _, body) = get(&ui, "/assets/x.js").await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert!(!body.contains("outside"));
    }

    #[test]
    fn a_folder_that_is_not_a_build_is_refused_with_a_hint() {
        let d = tempfile::tempdir().unwrap();
        let e = Ui::load(d.path()).unwrap_err();
        assert!(e.message().contains("index.html"), "{e}");
        assert!(e.hint().unwrap().contains("npm"));
        std::fs::write(d.path().join("index.html"), "<html>hello</html>").unwrap();
        let e = Ui::load(d.path()).unwrap_err();
        assert!(e.message().contains("OPENLIST_CONFIG"), "{e}");
    }
}
