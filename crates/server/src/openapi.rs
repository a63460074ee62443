//! The OpenAPI document of the JSON API, served at `/api/openapi.json`.

/// The document (OpenAPI 3.1, JSON).
pub const DOCUMENT: &str = include_str!("openapi.json");

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_is_json_and_names_every_route() {
        let v: serde_json::Value = serde_json::from_str(super::DOCUMENT).unwrap();
        let paths = v["paths"].as_object().unwrap();
        for p in [
            "/api/auth/login",
            "/api/fs/list",
            "/api/fs/download",
            "/api/fs/upload",
            "/api/tasks/{id}",
        ] {
            assert!(paths.contains_key(p), "{p}");
        }
    }
}
