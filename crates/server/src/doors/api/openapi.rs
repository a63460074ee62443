//! The OpenAPI document of the JSON API, served at `/api/openapi.json`.

/// The document (OpenAPI 3.1, JSON).
pub const DOCUMENT: &str = include_str!("openapi.json");

#[cfg(test)]
mod tests {
    /// The `/api/…` paths of a file's `routes()` function.
    fn routes_in(src: &str) -> Vec<String> {
        let start = src.find("fn routes()").expect("routes()");
        let body = &src[start..start + src[start..].find("\n}\n").expect("end of routes()")];
        body.split('"')
            .filter(|s| s.starts_with("/api/"))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn the_document_describes_every_route() {
        let v: serde_json::Value = serde_json::from_str(super::DOCUMENT).unwrap();
        let paths = v["paths"].as_object().unwrap();
        let routes: Vec<String> = [
            include_str!("mod.rs"),
            include_str!("auth.rs"),
            include_str!("fs.rs"),
            include_str!("tickets.rs"),
            include_str!("search.rs"),
            include_str!("tasks.rs"),
            include_str!("shares.rs"),
            include_str!("../share/mod.rs"),
            include_str!("admin.rs"),
            include_str!("signin.rs"),
        ]
        .iter()
        .flat_map(|s| routes_in(s))
        .collect();
        assert!(routes.len() > 20, "{routes:?}");
        for r in &routes {
            assert!(paths.contains_key(r), "{r} is served but not described");
        }
        for p in paths.keys() {
            assert!(routes.contains(p), "{p} is described but not served");
        }
    }
}
