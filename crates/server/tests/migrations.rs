//! The schema's migrations on SQLite and PostgreSQL: a fresh database gets them all once; a database
//! made before migrations began keeps its rows and gains the columns added since; a migration changed
//! after it ran is refused with a clear error rather than run again.

mod common;

use cloudmux_server::house::db::Db;
use sqlx::{Connection, Executor};

async fn applied(url: &str) -> Vec<(i64, bool)> {
    let mut c = sqlx::AnyConnection::connect(url).await.unwrap();
    // A boolean column is read through a CASE: sqlx's Any driver reads no SQLite BOOLEAN.
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT version, CASE WHEN success THEN 1 ELSE 0 END FROM _sqlx_migrations ORDER BY version",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    rows.into_iter().map(|(v, ok)| (v, ok == 1)).collect()
}

#[tokio::test]
async fn a_fresh_database_gets_every_migration_once() {
    let dir = tempfile::tempdir().unwrap();
    for url in common::databases(dir.path()).await {
        let db = Db::open(&url).await.unwrap();
        assert!(db.users().await.unwrap().is_empty());
        assert_eq!(applied(&url).await, [(1, true), (2, true)], "{url}");
        drop(db);
        Db::open(&url).await.expect("opening again");
        assert_eq!(applied(&url).await, [(1, true), (2, true)], "{url}");
    }
}

#[tokio::test]
async fn a_database_from_before_migrations_keeps_its_rows_and_gains_columns() {
    let dir = tempfile::tempdir().unwrap();
    for url in common::databases(dir.path()).await {
        {
            sqlx::any::install_default_drivers();
            // The tables as the first releases made them: no migrations table, and mounts, users
            // and tasks without the columns added later.
            let file = url
                .strip_prefix("sqlite://")
                .map(|f| format!("sqlite://{f}?mode=rwc"));
            let mut c = sqlx::AnyConnection::connect(file.as_deref().unwrap_or(&url))
                .await
                .unwrap();
            for ddl in [
                "CREATE TABLE users (name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, \
                 base_path TEXT NOT NULL, can_write BIGINT NOT NULL, is_admin BIGINT NOT NULL, \
                 created BIGINT NOT NULL)",
                "CREATE TABLE mounts (path TEXT PRIMARY KEY, remote TEXT NOT NULL, \
                 root TEXT NOT NULL, read_only BIGINT NOT NULL)",
                "CREATE TABLE tasks (id TEXT PRIMARY KEY, user_name TEXT NOT NULL, kind TEXT NOT NULL, \
                 src TEXT NOT NULL, dst TEXT NOT NULL, shown_from TEXT NOT NULL, \
                 shown_to TEXT NOT NULL, state TEXT NOT NULL, progress TEXT NOT NULL, \
                 errors TEXT NOT NULL, sessions TEXT NOT NULL, owner TEXT NOT NULL, \
                 lease_until BIGINT NOT NULL, runs BIGINT NOT NULL, created BIGINT NOT NULL, \
                 ended BIGINT NOT NULL)",
                "INSERT INTO users VALUES ('ann', 'h', '/', 1, 0, 7)",
                "INSERT INTO mounts VALUES ('/old', 'gd', '', 1)",
            ] {
                c.execute(ddl).await.unwrap();
            }
            c.close().await.unwrap();
        }
        let db = Db::open(&url).await.unwrap();
        let m = db.mounts().await.unwrap();
        assert_eq!(m.len(), 1, "{url}");
        assert!(m[0].read_only && !m[0].direct_links && !m[0].guest);
        let ann = db.get_user("ann").await.unwrap().expect("ann kept");
        assert!(ann.can_write && !ann.is_admin && ann.static_hash.is_empty());
        assert_eq!(ann.created, 7);
        assert!(db.tasks_of("ann").await.unwrap().is_empty());
        assert_eq!(applied(&url).await, [(1, true), (2, true)], "{url}");
        let again = Db::open(&url).await.unwrap();
        assert_eq!(
            again.mounts().await.unwrap(),
            m,
            "opening again changes nothing"
        );
    }
}

#[tokio::test]
async fn a_migration_changed_after_it_ran_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for url in common::databases(dir.path()).await {
        Db::open(&url).await.unwrap();
        let mut c = sqlx::AnyConnection::connect(&url).await.unwrap();
        c.execute("UPDATE _sqlx_migrations SET checksum = checksum || checksum WHERE version = 1")
            .await
            .unwrap();
        c.close().await.unwrap();
        let e = Db::open(&url).await.expect_err("a changed migration");
        assert!(e.to_string().contains("migrat"), "{url}: {e}");
    }
}
