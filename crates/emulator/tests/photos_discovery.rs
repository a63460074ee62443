//! The Photos Library discovery document the emulator serves (and the interop tests build their client
//! from) names only methods the emulator answers, and points clients back at the emulator.

use cloudmux_emulator::{Config, Emulator};

#[tokio::test]
async fn every_method_of_the_discovery_document_is_served() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let e = Emulator::start(Config::default()).await.unwrap();
    let token = e.google_token(&[
        "photoslibrary.appendonly",
        "photoslibrary.readonly.appcreateddata",
        "photoslibrary.edit.appcreateddata",
    ]);
    let c = reqwest::Client::new();
    let doc: serde_json::Value = c
        .get(format!(
            "{}/photoslibrary.googleapis.com/$discovery/rest?version=v1",
            e.base_url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let root = doc["rootUrl"].as_str().unwrap().to_string();
    assert_eq!(
        root,
        format!("{}/photoslibrary.googleapis.com/", e.base_url())
    );
    let mut methods = 0;
    for (rname, r) in doc["resources"].as_object().unwrap() {
        for (mname, m) in r["methods"].as_object().unwrap() {
            methods += 1;
            let mut path = m["path"].as_str().unwrap().to_string();
            for p in m["parameterOrder"].as_array().unwrap() {
                path = path.replace(&format!("{{+{}}}", p.as_str().unwrap()), "unknown-id");
            }
            assert!(!path.contains('{'), "{rname}.{mname}: {path}");
            let method =
                reqwest::Method::from_bytes(m["httpMethod"].as_str().unwrap().as_bytes()).unwrap();
            let mut req = c
                .request(method.clone(), format!("{root}{path}"))
                .bearer_auth(&token);
            if method != reqwest::Method::GET {
                req = req.json(&serde_json::json!({}));
            }
            let resp = req.send().await.unwrap();
            let status = resp.status();
            let body = resp.bytes().await.unwrap();
            // An unrouted path answers with an empty body; every handler answers JSON (a result or
            // Google's error body).
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_else(|_| {
                panic!(
                    "{rname}.{mname} ({method} {path}): {status} {:?}",
                    String::from_utf8_lossy(&body)
                )
            });
            if !status.is_success() {
                assert!(v["error"]["code"].is_number(), "{rname}.{mname}: {v}");
            }
        }
    }
    assert_eq!(
        methods, 19,
        "the document names the 19 methods of Photos Library v1"
    );
}
