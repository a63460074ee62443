//! The web page at `/` (and at `/s/ID`, a share link opened by anyone): one HTML page, a script, a style
//! sheet and a table of strings per language, compiled into the binary (no other server, nothing fetched
//! at run time). The page talks to the JSON API with the bearer token in a header (no cookies, so no
//! cross-site request can act for the user) and puts every name on the page as text.

use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AppState;

const INDEX: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("app.js");
const STYLE: &str = include_str!("app.css");
/// The page's strings, one table per language (the same keys in each: a test checks).
const STRINGS: &[(&str, &str)] = &[
    ("en", include_str!("strings/en.json")),
    ("ru", include_str!("strings/ru.json")),
];

/// What the page may load: only itself (images also from `blob:`).
const CSP: &str = "default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The page's icon: a cloud over a stack (inline SVG, no request to anyone else).
use crate::doors::common::ICON;

/// How long a browser keeps an asset whose name carries its hash: a year, never asked again (a new
/// version has a new name).
const FOREVER: &str = "public, max-age=31536000, immutable";
/// What the page itself and the unhashed files get: kept, but asked again each time (an `ETag` makes
/// that a 304).
const REVALIDATE: &str = "no-cache";

/// A file of the page as served: its type, its bytes and the same gzipped (made once), its `ETag`.
struct Asset {
    ctype: &'static str,
    body: &'static [u8],
    /// Shared by every answer (a clone is a reference count, not a copy).
    gzip: bytes::Bytes,
    etag: String,
    cache: &'static str,
}

impl Asset {
    fn new(ctype: &'static str, body: &'static [u8], cache: &'static str) -> Self {
        use std::io::Write;
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let gzip = match z.write_all(body).and_then(|_| z.finish()) {
            Ok(g) if g.len() < body.len() => bytes::Bytes::from(g),
            _ => bytes::Bytes::new(),
        };
        Asset {
            ctype,
            body,
            gzip,
            etag: format!("\"{}\"", &hash(body)[..16]),
            cache,
        }
    }

    /// The answer to a request with `headers`: 304 when the browser holds this version, the gzipped
    /// bytes when it takes gzip.
    fn answer(&self, headers: &HeaderMap) -> Response {
        let mut h = HeaderMap::new();
        let set = |h: &mut HeaderMap, k: header::HeaderName, v: &str| {
            if let Ok(v) = HeaderValue::from_str(v) {
                h.insert(k, v);
            }
        };
        set(&mut h, header::CONTENT_TYPE, self.ctype);
        set(&mut h, header::CONTENT_SECURITY_POLICY, CSP);
        set(&mut h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
        set(&mut h, header::REFERRER_POLICY, "no-referrer");
        set(&mut h, header::CACHE_CONTROL, self.cache);
        set(&mut h, header::ETAG, &self.etag);
        set(&mut h, header::VARY, "Accept-Encoding");
        let held = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(',')
                    .any(|t| t.trim() == self.etag || t.trim() == "*")
            });
        if held {
            return (StatusCode::NOT_MODIFIED, h).into_response();
        }
        if !self.gzip.is_empty() && takes_gzip(headers) {
            set(&mut h, header::CONTENT_ENCODING, "gzip");
            return (h, self.gzip.clone()).into_response();
        }
        (h, self.body).into_response()
    }
}

/// Whether `Accept-Encoding` lists gzip with a weight above zero.
fn takes_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let mut parts = t.split(';');
            let name = parts.next().unwrap_or("").trim();
            let zero = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !zero
        })
}

/// SHA-256 of `b`, hex.
fn hash(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

/// The page's files: the script and the style sheet under names that carry their hash, the page itself
/// pointing at those names, the icon and the string tables.
struct Assets {
    page: Asset,
    /// (name under `/assets/`, the file)
    files: Vec<(String, Asset)>,
}

static ASSETS: std::sync::LazyLock<Assets> = std::sync::LazyLock::new(|| {
    let hashed = |stem: &str, ext: &str, body: &str| {
        format!("{stem}.{}.{ext}", &hash(body.as_bytes())[..12])
    };
    let script = hashed("app", "js", SCRIPT);
    let style = hashed("app", "css", STYLE);
    let page: &'static str = Box::leak(
        INDEX
            .replace("/assets/app.js", &format!("/assets/{script}"))
            .replace("/assets/app.css", &format!("/assets/{style}"))
            .into_boxed_str(),
    );
    let mut files = vec![
        (
            script,
            Asset::new("text/javascript; charset=utf-8", SCRIPT.as_bytes(), FOREVER),
        ),
        (
            style,
            Asset::new("text/css; charset=utf-8", STYLE.as_bytes(), FOREVER),
        ),
        // The unhashed names still answer (a page cached before an upgrade), asked again each time.
        (
            "app.js".into(),
            Asset::new(
                "text/javascript; charset=utf-8",
                SCRIPT.as_bytes(),
                REVALIDATE,
            ),
        ),
        (
            "app.css".into(),
            Asset::new("text/css; charset=utf-8", STYLE.as_bytes(), REVALIDATE),
        ),
        (
            "icon.svg".into(),
            Asset::new("image/svg+xml", ICON.as_bytes(), REVALIDATE),
        ),
    ];
    for (lang, body) in STRINGS {
        files.push((
            format!("strings/{lang}.json"),
            Asset::new("application/json", body.as_bytes(), REVALIDATE),
        ));
    }
    Assets {
        page: Asset::new("text/html; charset=utf-8", page.as_bytes(), REVALIDATE),
        files,
    }
});

async fn page(headers: HeaderMap) -> Response {
    ASSETS.page.answer(&headers)
}

async fn file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.files.iter().find(|(n, _)| *n == name) {
        Some((_, a)) => a.answer(&headers),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn icon(headers: HeaderMap) -> Response {
    file(Path("icon.svg".into()), headers).await
}

/// The routes.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(page))
        // A share link: the same page, which reads the id from its address.
        .route("/s/{id}", get(page))
        .route("/favicon.ico", get(icon))
        .route("/assets/{*name}", get(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_its_files_by_their_hash_and_they_are_kept_for_good() {
        let page = std::str::from_utf8(ASSETS.page.body).unwrap();
        let named: Vec<&str> = ASSETS
            .files
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| n.starts_with("app.") && n.matches('.').count() == 2)
            .collect();
        assert_eq!(named.len(), 2, "{named:?}");
        for n in named {
            assert!(page.contains(&format!("/assets/{n}")), "the page loads {n}");
            let (_, a) = ASSETS.files.iter().find(|(f, _)| f == n).unwrap();
            assert_eq!(a.cache, FOREVER);
        }
        assert!(!page.contains("/assets/app.js\"") && !page.contains("/assets/app.css\""));
        assert_eq!(ASSETS.page.cache, REVALIDATE);
    }

    #[test]
    fn files_go_gzipped_to_who_takes_gzip_and_not_again_to_who_holds_them() {
        use std::io::Read;
        let a = Asset::new("text/javascript", SCRIPT.as_bytes(), FOREVER);
        let ask = |pairs: &[(&str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.append(
                    header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                );
            }
            a.answer(&h)
        };
        let r = ask(&[("accept-encoding", "br, gzip;q=0.8")]);
        assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(r.headers()[header::CACHE_CONTROL], FOREVER);
        let mut unzipped = String::new();
        flate2::read::GzDecoder::new(&a.gzip[..])
            .read_to_string(&mut unzipped)
            .unwrap();
        assert_eq!(unzipped, SCRIPT);
        assert!(
            a.gzip.len() * 2 < SCRIPT.len(),
            "{} of {}",
            a.gzip.len(),
            SCRIPT.len()
        );
        for refused in ["identity", "gzip;q=0", "deflate, br"] {
            let r = ask(&[("accept-encoding", refused)]);
            assert!(
                r.headers().get(header::CONTENT_ENCODING).is_none(),
                "{refused}"
            );
        }
        let etag = r.headers()[header::ETAG].to_str().unwrap().to_string();
        assert_eq!(
            ask(&[("if-none-match", &etag)]).status(),
            StatusCode::NOT_MODIFIED
        );
        assert_eq!(
            ask(&[("if-none-match", "\"other\"")]).status(),
            StatusCode::OK
        );
    }

    #[test]
    fn names_never_become_html() {
        // Server data reaches the page through textContent only.
        assert!(!SCRIPT.contains("innerHTML"));
        assert!(!SCRIPT.contains("outerHTML"));
        assert!(!SCRIPT.contains("insertAdjacentHTML"));
        assert!(!SCRIPT.contains("document.write"));
        assert!(INDEX.contains("/assets/app.js") && INDEX.contains("/assets/app.css"));
    }

    fn table(lang: &str) -> serde_json::Map<String, serde_json::Value> {
        let (_, body) = STRINGS.iter().find(|(l, _)| *l == lang).unwrap();
        match serde_json::from_str(body) {
            Ok(serde_json::Value::Object(m)) => m,
            other => panic!("{lang}.json is not an object of strings: {other:?}"),
        }
    }

    #[test]
    fn every_language_has_every_string() {
        let en = table("en");
        assert!(en.len() > 50, "{} strings", en.len());
        for (lang, _) in STRINGS {
            let t = table(lang);
            let missing: Vec<_> = en.keys().filter(|k| !t.contains_key(*k)).collect();
            let extra: Vec<_> = t.keys().filter(|k| !en.contains_key(*k)).collect();
            assert!(missing.is_empty(), "{lang}.json lacks {missing:?}");
            assert!(
                extra.is_empty(),
                "{lang}.json has keys en.json lacks: {extra:?}"
            );
            for (k, v) in &t {
                let v = v
                    .as_str()
                    .unwrap_or_else(|| panic!("{lang}.{k} is not a string"));
                assert!(!v.trim().is_empty(), "{lang}.{k} is empty");
                // The same {placeholders} in every language.
                let holes = |s: &str| {
                    let mut h: Vec<String> = s
                        .split('{')
                        .skip(1)
                        .filter_map(|p| p.split_once('}').map(|(n, _)| n.to_string()))
                        .collect();
                    h.sort();
                    h
                };
                assert_eq!(holes(v), holes(en[k].as_str().unwrap()), "{lang}.{k}");
            }
        }
    }

    #[test]
    fn every_string_the_page_uses_is_in_the_tables() {
        // t("key") in the script, data-i18n="key" (and -label, -placeholder, -title) in the page.
        let en = table("en");
        let mut used = Vec::new();
        for (at, _) in SCRIPT.match_indices("t(\"") {
            // `t(` itself, not `get(`, `split(` or `x.t(`.
            let before = SCRIPT[..at].chars().next_back().unwrap_or(' ');
            if before.is_alphanumeric() || "_$.".contains(before) {
                continue;
            }
            if let Some((k, _)) = SCRIPT[at + 3..].split_once('"') {
                used.push(k.to_string());
            }
        }
        for attr in [
            "data-i18n=\"",
            "data-i18n-label=\"",
            "data-i18n-placeholder=\"",
            "data-i18n-title=\"",
        ] {
            for part in INDEX.split(attr).skip(1) {
                if let Some((k, _)) = part.split_once('"') {
                    used.push(k.to_string());
                }
            }
        }
        assert!(used.len() > 50, "{} uses found", used.len());
        let missing: Vec<_> = used
            .iter()
            .filter(|k| !en.contains_key(k.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "strings used but not in en.json: {missing:?}"
        );
    }
}
