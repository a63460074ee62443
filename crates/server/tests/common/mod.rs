//! The databases the server tests run on: SQLite always; PostgreSQL too when `CLOUDMUX_TEST_POSTGRES`
//! names a server (`./scripts/test.sh` starts a throw-away one), each test in a database of its own.
#![allow(dead_code)]

use std::path::Path;

/// SQLite in `dir`, and a fresh PostgreSQL database when one is configured. Under `CI=true` a missing
/// PostgreSQL is an error, so CI never passes on SQLite alone.
pub async fn databases(dir: &Path) -> Vec<String> {
    let mut out = vec![format!("sqlite://{}", dir.join("server.db").display())];
    match std::env::var("CLOUDMUX_TEST_POSTGRES") {
        Ok(base) if !base.is_empty() => out.push(fresh_postgres(&base).await),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI must test PostgreSQL too: run ./scripts/test.sh (it starts one)"
            );
            eprintln!("note: CLOUDMUX_TEST_POSTGRES unset; PostgreSQL is not tested in this run");
        }
    }
    out
}

/// Creates a database with a random name on the server of `base` (a `postgres://…/DB` URL) and returns
/// its URL.
pub async fn fresh_postgres(base: &str) -> String {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let name = format!(
        "cmx_{}",
        cloudmux_auth::oauth::random_token(10).to_lowercase()
    );
    let name: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let mut c = sqlx::AnyConnection::connect(base)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {base}: {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut c)
        .await
        .unwrap();
    let (head, _) = base.rsplit_once('/').expect("a postgres://…/DB URL");
    format!("{head}/{name}")
}
