//! The web page at `/` (and at `/s/ID`, a share link opened by anyone): one HTML page, a script, a style
//! sheet and a table of strings per language, compiled into the binary (no other server, nothing fetched
//! at run time). The page talks to the JSON API with the bearer token in a header (no cookies, so no
//! cross-site request can act for the user) and puts every name on the page as text.

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
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

fn asset(ctype: &'static str, body: &'static str) -> axum::response::Response {
    (
        [
            (header::CONTENT_TYPE, ctype),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response()
}

async fn strings(
    axum::extract::Path(file): axum::extract::Path<String>,
) -> axum::response::Response {
    match STRINGS
        .iter()
        .find(|(lang, _)| file.strip_suffix(".json") == Some(*lang))
    {
        Some((_, body)) => asset("application/json", body),
        None => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}

/// The routes.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX) }),
        )
        // A share link: the same page, which reads the id from its address.
        .route(
            "/s/{id}",
            get(|| async { asset("text/html; charset=utf-8", INDEX) }),
        )
        .route("/assets/strings/{file}", get(strings))
        .route(
            "/assets/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/assets/app.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

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
