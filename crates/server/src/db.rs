//! The database: users, sessions and API tokens, mounts. SQLite by default (a file in the data directory),
//! PostgreSQL with a `postgres://` URL so several server processes share one state. The SQL is the common
//! subset of both (text keys, BIGINT times and flags, `$N` placeholders in order).

use cloudmux_core::{Error, ErrorKind, Result};
use sqlx::AnyPool;
use sqlx::Row;
use sqlx::any::AnyPoolOptions;

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS users (
        name TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        base_path TEXT NOT NULL,
        can_write BIGINT NOT NULL,
        is_admin BIGINT NOT NULL,
        created BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS tokens (
        token_hash TEXT PRIMARY KEY,
        user_name TEXT NOT NULL,
        kind TEXT NOT NULL,
        label TEXT NOT NULL,
        created BIGINT NOT NULL,
        expires BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS props (
        path TEXT NOT NULL,
        ns TEXT NOT NULL,
        name TEXT NOT NULL,
        prefix TEXT NOT NULL,
        xml TEXT NOT NULL,
        PRIMARY KEY (path, ns, name))",
    "CREATE TABLE IF NOT EXISTS mounts (
        path TEXT PRIMARY KEY,
        remote TEXT NOT NULL,
        root TEXT NOT NULL,
        read_only BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS tasks (
        id TEXT PRIMARY KEY,
        user_name TEXT NOT NULL,
        kind TEXT NOT NULL,
        src TEXT NOT NULL,
        dst TEXT NOT NULL,
        shown_from TEXT NOT NULL,
        shown_to TEXT NOT NULL,
        state TEXT NOT NULL,
        progress TEXT NOT NULL,
        errors TEXT NOT NULL,
        sessions TEXT NOT NULL,
        owner TEXT NOT NULL,
        lease_until BIGINT NOT NULL,
        runs BIGINT NOT NULL,
        created BIGINT NOT NULL,
        ended BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS tasks_by_state ON tasks (state, lease_until)",
    "CREATE TABLE IF NOT EXISTS shares (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        path TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        expires BIGINT NOT NULL,
        max_downloads BIGINT NOT NULL,
        downloads BIGINT NOT NULL,
        created BIGINT NOT NULL,
        revoked BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS shares_by_owner ON shares (owner)",
    "CREATE TABLE IF NOT EXISTS throttle (
        key TEXT PRIMARY KEY,
        n BIGINT NOT NULL,
        since BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS tickets (
        ticket_hash TEXT PRIMARY KEY,
        user_name TEXT NOT NULL,
        session TEXT NOT NULL,
        path TEXT NOT NULL,
        made BIGINT NOT NULL,
        used BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS dav_locks (
        token TEXT PRIMARY KEY,
        at TEXT NOT NULL,
        dav_path TEXT NOT NULL,
        user_name TEXT NOT NULL,
        owner_xml TEXT NOT NULL,
        expires BIGINT NOT NULL,
        timeout_ms BIGINT NOT NULL,
        shared BIGINT NOT NULL,
        deep BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS tasks_by_user ON tasks (user_name, state)",
];

/// Changes read at once; past that, a process drops its whole cache instead.
const CHANGES_READ: i64 = 1000;

/// Throttle counters kept at most in the database.
const THROTTLE_ROWS: i64 = 100_000;

/// Columns added to existing tables: (table, column, type and default).
const COLUMNS: &[(&str, &str, &str)] = &[
    ("mounts", "direct_links", "BIGINT NOT NULL DEFAULT 0"),
    ("mounts", "guest", "BIGINT NOT NULL DEFAULT 0"),
    ("users", "static_hash", "TEXT NOT NULL DEFAULT ''"),
    ("tasks", "pair", "TEXT NOT NULL DEFAULT ''"),
];

fn prop_row(r: &sqlx::any::AnyRow) -> Result<PropRow> {
    Ok(PropRow {
        path: r.try_get("path").map_err(db_err)?,
        ns: r.try_get("ns").map_err(db_err)?,
        name: r.try_get("name").map_err(db_err)?,
        prefix: r.try_get("prefix").map_err(db_err)?,
        xml: r.try_get("xml").map_err(db_err)?,
    })
}

fn db_err(e: sqlx::Error) -> Error {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            Error::new(ErrorKind::AlreadyExists, "it exists already")
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => Error::new(
            ErrorKind::Transient,
            format!("the database is unreachable: {e}"),
        ),
        _ => Error::new(ErrorKind::Other, format!("database: {e}")),
    }
}

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UserRow {
    /// Login name.
    pub name: String,
    /// The folder of the tree this user sees as `/`.
    pub base_path: String,
    /// May change files.
    pub can_write: bool,
    /// May manage users, mounts and remotes.
    pub is_admin: bool,
    /// Created, seconds since the epoch.
    pub created: i64,
    /// The argon2 PHC string (never serialised).
    #[serde(skip)]
    pub password_hash: String,
    /// The argon2 PHC string of the password as AList clients send it pre-hashed (SHA-256 of the
    /// password and AList's fixed suffix; see [`crate::alist`]); empty until the password was set or used
    /// in full once. Never serialised.
    #[serde(skip)]
    pub static_hash: String,
}

/// A token as stored (only its SHA-256 is kept).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenRow {
    /// SHA-256 of the token, hex (also its id in the API).
    pub token_hash: String,
    /// Whose.
    pub user_name: String,
    /// `session` or `api`.
    pub kind: String,
    /// What the user called it.
    pub label: String,
    /// Created, seconds since the epoch.
    pub created: i64,
    /// Expiry, seconds since the epoch (0: never).
    pub expires: i64,
}

/// A WebDAV dead property as stored (by tree path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropRow {
    /// The tree path it belongs to.
    pub path: String,
    /// XML namespace (empty: none).
    pub ns: String,
    /// Local name.
    pub name: String,
    /// The prefix the client used.
    pub prefix: String,
    /// The whole element as XML.
    pub xml: String,
}

/// A mount as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MountRow {
    /// Where in the tree.
    pub path: String,
    /// The remote's name.
    pub remote: String,
    /// The folder of the remote that is mounted (empty: its root).
    #[serde(default)]
    pub root: String,
    /// Writes refused.
    #[serde(default)]
    pub read_only: bool,
    /// Downloads answered with a redirect to the service's own short-lived link where it has one
    /// ([`crate::tree::Mount::direct_links`]).
    #[serde(default)]
    pub direct_links: bool,
    /// Readable without signing in ([`crate::tree::Mount::guest`]).
    #[serde(default)]
    pub guest: bool,
}

/// The connection pool.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    postgres: bool,
}

/// A background transfer as stored ([`crate::tasks`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRow {
    /// Random id.
    pub id: String,
    /// Whose.
    pub user_name: String,
    /// `copy` or `move`.
    pub kind: String,
    /// Tree path of the source.
    pub src: String,
    /// Tree path of the destination.
    pub dst: String,
    /// The source as the user wrote it.
    pub shown_from: String,
    /// The destination as the user wrote it.
    pub shown_to: String,
    /// `running` (wanted: someone runs it or will), `done`, `failed`, `cancelled`.
    pub state: String,
    /// Progress, JSON.
    pub progress: String,
    /// Failures, JSON `[{path, error}]`.
    pub errors: String,
    /// Sessions of the resumable uploads in flight, JSON object (key → session).
    pub sessions: String,
    /// The server process running it (empty: none).
    pub owner: String,
    /// Until when the owner holds it, milliseconds since the epoch; any process may take it after.
    pub lease_until: i64,
    /// How many times a process started it.
    pub runs: i64,
    /// Created, milliseconds since the epoch.
    pub created: i64,
    /// Ended, milliseconds since the epoch (0 while running).
    pub ended: i64,
    /// A two-way sync's settings and the state of its pair, JSON (empty for copies and moves).
    pub pair: String,
}

/// A share link as stored ([`crate::shares`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareRow {
    /// The random id in `/s/ID`.
    pub id: String,
    /// The user who shared.
    pub owner: String,
    /// The tree path shared (a file or a folder).
    pub path: String,
    /// argon2 PHC of its password (empty: none).
    pub password_hash: String,
    /// When it expires, seconds since the epoch (0: never).
    pub expires: i64,
    /// Downloads allowed (0: no limit).
    pub max_downloads: i64,
    /// Downloads made.
    pub downloads: i64,
    /// Made, seconds since the epoch.
    pub created: i64,
    /// Revoked at, seconds since the epoch (0: not revoked).
    pub revoked: i64,
}

fn share_row(r: &sqlx::any::AnyRow) -> Result<ShareRow> {
    let s = |c: &str| r.try_get::<String, _>(c).map_err(db_err);
    let n = |c: &str| r.try_get::<i64, _>(c).map_err(db_err);
    Ok(ShareRow {
        id: s("id")?,
        owner: s("owner")?,
        path: s("path")?,
        password_hash: s("password_hash")?,
        expires: n("expires")?,
        max_downloads: n("max_downloads")?,
        downloads: n("downloads")?,
        created: n("created")?,
        revoked: n("revoked")?,
    })
}

/// A WebDAV lock as stored when several processes share the database ([`crate::locks`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockRow {
    /// The lock token.
    pub token: String,
    /// The tree path it locks.
    pub at: String,
    /// The path the owner locked, URL-encoded, with the WebDAV prefix.
    pub dav_path: String,
    /// Whose.
    pub user_name: String,
    /// The owner element, XML (empty: none).
    pub owner_xml: String,
    /// When it times out, milliseconds since the epoch.
    pub expires: i64,
    /// Its timeout, milliseconds.
    pub timeout_ms: i64,
    /// Shared (else exclusive).
    pub shared: bool,
    /// Covers everything below.
    pub deep: bool,
}

fn task_row(r: &sqlx::any::AnyRow) -> Result<TaskRow> {
    let s = |c: &str| r.try_get::<String, _>(c).map_err(db_err);
    let n = |c: &str| r.try_get::<i64, _>(c).map_err(db_err);
    Ok(TaskRow {
        id: s("id")?,
        user_name: s("user_name")?,
        kind: s("kind")?,
        src: s("src")?,
        dst: s("dst")?,
        shown_from: s("shown_from")?,
        shown_to: s("shown_to")?,
        state: s("state")?,
        progress: s("progress")?,
        errors: s("errors")?,
        sessions: s("sessions")?,
        owner: s("owner")?,
        lease_until: n("lease_until")?,
        runs: n("runs")?,
        created: n("created")?,
        ended: n("ended")?,
        pair: s("pair")?,
    })
}

impl Db {
    /// Opens (and creates the schema of) `url`: `sqlite://PATH` or `postgres://…`.
    pub async fn open(url: &str) -> Result<Db> {
        sqlx::any::install_default_drivers();
        let url = if let Some(p) = url.strip_prefix("sqlite://") {
            // Password and token hashes: the file is the owner's alone, created so before SQLite opens it.
            let file = p.split('?').next().unwrap_or(p);
            if !file.is_empty() && file != ":memory:" {
                use std::os::unix::fs::OpenOptionsExt;
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(file)
                    .map_err(|e| Error::from(e).context(format!("database {file}")))?;
            }
            if p.contains('?') {
                url.to_string()
            } else {
                format!("sqlite://{p}?mode=rwc")
            }
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            url.to_string()
        } else {
            return Err(
                Error::invalid(format!("unknown database URL {url:?}")).with_hint(
                    "use sqlite:///path/to/cloudmux.db or postgres://user:password@host/db",
                ),
            );
        };
        let postgres = url.starts_with("postgres");
        let pool = AnyPoolOptions::new()
            .max_connections(if url.starts_with("sqlite") { 1 } else { 8 })
            .connect(&url)
            .await
            .map_err(|e| {
                Error::new(ErrorKind::Other, format!("cannot open the database: {e}"))
                    .with_hint("check --db (and that PostgreSQL is running, for postgres:// URLs)")
            })?;
        for s in SCHEMA {
            sqlx::query(s).execute(&pool).await.map_err(db_err)?;
        }
        // Columns added after a table was first made (SQLite has no ADD COLUMN IF NOT EXISTS).
        for (table, column, ddl) in COLUMNS {
            let probe = format!("SELECT {column} FROM {table} WHERE 1 = 0");
            if sqlx::query(&probe).fetch_all(&pool).await.is_err() {
                sqlx::query(&format!("ALTER TABLE {table} ADD COLUMN {column} {ddl}"))
                    .execute(&pool)
                    .await
                    .map_err(db_err)?;
            }
        }
        if postgres {
            // Only several processes need to hear each other's changes (`Tree`'s peers). Each write
            // forgets the old ones by time: the index keeps that from reading the whole table.
            for ddl in [
                "CREATE TABLE IF NOT EXISTS tree_changes (\
                 seq BIGSERIAL PRIMARY KEY, path TEXT NOT NULL, at BIGINT NOT NULL)",
                "CREATE INDEX IF NOT EXISTS tree_changes_by_time ON tree_changes (at)",
            ] {
                sqlx::query(ddl).execute(&pool).await.map_err(db_err)?;
            }
        }
        Ok(Db { pool, postgres })
    }

    fn user(r: &sqlx::any::AnyRow) -> Result<UserRow> {
        Ok(UserRow {
            name: r.try_get("name").map_err(db_err)?,
            password_hash: r.try_get("password_hash").map_err(db_err)?,
            base_path: r.try_get("base_path").map_err(db_err)?,
            can_write: r.try_get::<i64, _>("can_write").map_err(db_err)? != 0,
            is_admin: r.try_get::<i64, _>("is_admin").map_err(db_err)? != 0,
            created: r.try_get("created").map_err(db_err)?,
            static_hash: r.try_get("static_hash").map_err(db_err)?,
        })
    }

    /// Adds a user (AlreadyExists when the name is taken).
    pub async fn add_user(&self, u: &UserRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO users (name, password_hash, base_path, can_write, is_admin, created, static_hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&u.name)
        .bind(&u.password_hash)
        .bind(&u.base_path)
        .bind(u.can_write as i64)
        .bind(u.is_admin as i64)
        .bind(u.created)
        .bind(&u.static_hash)
        .execute(&self.pool)
        .await
        .map_err(|e| db_err(e).context(format!("user {}", u.name)))?;
        Ok(())
    }

    /// Replaces a user's fields (NotFound when absent).
    pub async fn update_user(&self, u: &UserRow) -> Result<()> {
        let r = sqlx::query(
            "UPDATE users SET password_hash = $1, base_path = $2, can_write = $3, is_admin = $4,
             static_hash = $5 WHERE name = $6",
        )
        .bind(&u.password_hash)
        .bind(&u.base_path)
        .bind(u.can_write as i64)
        .bind(u.is_admin as i64)
        .bind(&u.static_hash)
        .bind(&u.name)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        if r.rows_affected() == 0 {
            return Err(Error::not_found(format!("user {}", u.name)));
        }
        Ok(())
    }

    /// Records a user's [`UserRow::static_hash`] where it is still empty and the password is still
    /// `password_hash` (a password changed meanwhile wins).
    pub async fn set_static_hash(
        &self,
        name: &str,
        password_hash: &str,
        static_hash: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE users SET static_hash = $1 WHERE name = $2 AND password_hash = $3 AND static_hash = ''",
        )
        .bind(static_hash)
        .bind(name)
        .bind(password_hash)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    /// A value kept for the whole installation under `name` (every server process on the database reads
    /// the same one): the stored one, or `fresh` stored now if there was none.
    pub async fn secret(&self, name: &str, fresh: &str) -> Result<String> {
        sqlx::query(
            "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(fresh)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        let r = sqlx::query("SELECT value FROM secrets WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        r.try_get("value").map_err(db_err)
    }

    /// A user by name.
    pub async fn get_user(&self, name: &str) -> Result<Option<UserRow>> {
        let r = sqlx::query("SELECT * FROM users WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        r.as_ref().map(Self::user).transpose()
    }

    /// Every user, by name.
    pub async fn users(&self) -> Result<Vec<UserRow>> {
        let rows = sqlx::query("SELECT * FROM users ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(Self::user).collect()
    }

    /// Removes a user and their tokens; whether it existed.
    pub async fn remove_user(&self, name: &str) -> Result<bool> {
        sqlx::query("DELETE FROM tokens WHERE user_name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        let r = sqlx::query("DELETE FROM users WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }

    /// Stores a token (by hash).
    pub async fn add_token(&self, t: &TokenRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO tokens (token_hash, user_name, kind, label, created, expires)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&t.token_hash)
        .bind(&t.user_name)
        .bind(&t.kind)
        .bind(&t.label)
        .bind(t.created)
        .bind(t.expires)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    fn token(r: &sqlx::any::AnyRow) -> Result<TokenRow> {
        Ok(TokenRow {
            token_hash: r.try_get("token_hash").map_err(db_err)?,
            user_name: r.try_get("user_name").map_err(db_err)?,
            kind: r.try_get("kind").map_err(db_err)?,
            label: r.try_get("label").map_err(db_err)?,
            created: r.try_get("created").map_err(db_err)?,
            expires: r.try_get("expires").map_err(db_err)?,
        })
    }

    /// A token by its hash.
    pub async fn get_token(&self, hash: &str) -> Result<Option<TokenRow>> {
        let r = sqlx::query("SELECT * FROM tokens WHERE token_hash = $1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        r.as_ref().map(Self::token).transpose()
    }

    /// A user's tokens of one kind.
    pub async fn tokens_of(&self, user: &str, kind: &str) -> Result<Vec<TokenRow>> {
        let rows =
            sqlx::query("SELECT * FROM tokens WHERE user_name = $1 AND kind = $2 ORDER BY created")
                .bind(user)
                .bind(kind)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
        rows.iter().map(Self::token).collect()
    }

    /// Removes a token of `user`; whether it existed.
    pub async fn remove_token(&self, user: &str, hash: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM tokens WHERE user_name = $1 AND token_hash = $2")
            .bind(user)
            .bind(hash)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }

    /// Removes every token of one kind of `user`.
    pub async fn remove_tokens(&self, user: &str, kind: &str) -> Result<u64> {
        let r = sqlx::query("DELETE FROM tokens WHERE user_name = $1 AND kind = $2")
            .bind(user)
            .bind(kind)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected())
    }

    /// Drops expired tokens.
    pub async fn purge_expired(&self, now: i64) -> Result<u64> {
        let r = sqlx::query("DELETE FROM tokens WHERE expires > 0 AND expires < $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected())
    }

    /// Sets (replaces) a WebDAV dead property of a tree path.
    pub async fn set_prop(&self, p: &PropRow) -> Result<()> {
        sqlx::query("DELETE FROM props WHERE path = $1 AND ns = $2 AND name = $3")
            .bind(&p.path)
            .bind(&p.ns)
            .bind(&p.name)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        sqlx::query("INSERT INTO props (path, ns, name, prefix, xml) VALUES ($1, $2, $3, $4, $5)")
            .bind(&p.path)
            .bind(&p.ns)
            .bind(&p.name)
            .bind(&p.prefix)
            .bind(&p.xml)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Removes one dead property (nothing happens when absent).
    pub async fn remove_prop(&self, path: &str, ns: &str, name: &str) -> Result<()> {
        sqlx::query("DELETE FROM props WHERE path = $1 AND ns = $2 AND name = $3")
            .bind(path)
            .bind(ns)
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// The dead properties of a tree path.
    pub async fn props(&self, path: &str) -> Result<Vec<PropRow>> {
        let rows = sqlx::query("SELECT * FROM props WHERE path = $1 ORDER BY ns, name")
            .bind(path)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(prop_row).collect()
    }

    /// The dead properties of the direct children of the folder `path`, in one query (a `PROPFIND` of a
    /// folder reads them all at once) — `None` when they hold more than `budget` bytes of XML, which
    /// are then better read one resource at a time than held together.
    pub async fn child_props(&self, path: &str, budget: usize) -> Result<Option<Vec<PropRow>>> {
        use futures_util::TryStreamExt;
        let below = if path.ends_with('/') {
            path.to_string()
        } else {
            format!("{path}/")
        };
        // A prefix test, not LIKE on the path: `_` and `%` are ordinary characters in file names.
        let n = below.chars().count() as i64;
        let mut rows = sqlx::query(
            "SELECT * FROM props WHERE substr(path, 1, CAST($1 AS INTEGER)) = $2 \
             AND substr(path, CAST($3 AS INTEGER)) NOT LIKE '%/%' ORDER BY path, ns, name",
        )
        .bind(n)
        .bind(&below)
        .bind(n + 1)
        .fetch(&self.pool);
        let (mut out, mut bytes) = (Vec::new(), 0usize);
        while let Some(r) = rows.try_next().await.map_err(db_err)? {
            let p = prop_row(&r)?;
            bytes += p.xml.len() + p.path.len();
            if bytes > budget {
                return Ok(None);
            }
            out.push(p);
        }
        Ok(Some(out))
    }

    /// Moves the properties of `from` and everything below it to `to` (after a rename), or copies them
    /// (`keep` true, after a copy); any properties already at the destination go first.
    pub async fn move_props(&self, from: &str, to: &str, keep: bool) -> Result<()> {
        self.drop_props(to).await?;
        // A prefix test, not LIKE: `_` and `%` are ordinary characters in file names.
        let below = format!("{from}/");
        let rows = sqlx::query(
            "SELECT * FROM props WHERE path = $1 OR substr(path, 1, CAST($2 AS INTEGER)) = $3",
        )
        .bind(from)
        .bind(below.chars().count() as i64)
        .bind(&below)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        for r in &rows {
            let path: String = r.try_get("path").map_err(db_err)?;
            let moved = PropRow {
                path: format!("{to}{}", &path[from.len()..]),
                ns: r.try_get("ns").map_err(db_err)?,
                name: r.try_get("name").map_err(db_err)?,
                prefix: r.try_get("prefix").map_err(db_err)?,
                xml: r.try_get("xml").map_err(db_err)?,
            };
            self.set_prop(&moved).await?;
        }
        if !keep {
            self.drop_props(from).await?;
        }
        Ok(())
    }

    /// Forgets the properties of a path and everything below it (after a delete).
    pub async fn drop_props(&self, path: &str) -> Result<()> {
        let below = format!("{path}/");
        sqlx::query(
            "DELETE FROM props WHERE path = $1 OR substr(path, 1, CAST($2 AS INTEGER)) = $3",
        )
        .bind(path)
        .bind(below.chars().count() as i64)
        .bind(&below)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    /// Closes the pool: every later query fails (tests of what happens when the database is gone).
    #[cfg(test)]
    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }

    /// Records that `paths` of the tree changed at `now` (ms), for the other processes on this database;
    /// changes older than [`crate::tree::CHANGES_KEPT`] are forgotten (a process that has not asked
    /// for that long drops its whole cache instead).
    pub async fn publish_changes(&self, paths: &[String], now: i64) -> Result<()> {
        for p in paths {
            sqlx::query("INSERT INTO tree_changes (path, at) VALUES ($1, $2)")
                .bind(p)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
        }
        sqlx::query("DELETE FROM tree_changes WHERE at < $1")
            .bind(now - crate::tree::CHANGES_KEPT.as_millis() as i64)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// The changes recorded after number `seen` (below zero: none, only the latest number), at most
    /// a thousand: the latest number, their paths, and whether there were more.
    pub async fn changes_since(&self, seen: i64) -> Result<(i64, Vec<String>, bool)> {
        if seen < 0 {
            let r = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS last FROM tree_changes")
                .fetch_one(&self.pool)
                .await
                .map_err(db_err)?;
            return Ok((r.try_get("last").map_err(db_err)?, Vec::new(), false));
        }
        let rows =
            sqlx::query("SELECT seq, path FROM tree_changes WHERE seq > $1 ORDER BY seq LIMIT $2")
                .bind(seen)
                .bind(CHANGES_READ + 1)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
        let more = rows.len() as i64 > CHANGES_READ;
        let mut last = seen;
        let mut paths = Vec::with_capacity(rows.len());
        for r in rows.iter().take(CHANGES_READ as usize) {
            last = last.max(r.try_get("seq").map_err(db_err)?);
            paths.push(r.try_get("path").map_err(db_err)?);
        }
        Ok((last, paths, more))
    }

    /// Whether this is PostgreSQL (several server processes may share it).
    pub fn is_postgres(&self) -> bool {
        self.postgres
    }

    /// Runs `f` over every WebDAV lock that has not expired at `now` (ms) and stores what it changed, in
    /// one transaction. With `write`, lock changes of every process are serialised (a PostgreSQL advisory
    /// lock held to the end of the transaction), so two processes never grant conflicting locks.
    pub async fn with_locks<R>(
        &self,
        write: bool,
        now: i64,
        f: impl FnOnce(&mut Vec<LockRow>) -> R,
    ) -> Result<R> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        if write && self.postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(727300101)")
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        if write {
            sqlx::query("DELETE FROM dav_locks WHERE expires <= $1")
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        let rows = sqlx::query("SELECT * FROM dav_locks WHERE expires > $1")
            .bind(now)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        let before = rows
            .iter()
            .map(|r| {
                let s = |c: &str| r.try_get::<String, _>(c).map_err(db_err);
                let n = |c: &str| r.try_get::<i64, _>(c).map_err(db_err);
                Ok(LockRow {
                    token: s("token")?,
                    at: s("at")?,
                    dav_path: s("dav_path")?,
                    user_name: s("user_name")?,
                    owner_xml: s("owner_xml")?,
                    expires: n("expires")?,
                    timeout_ms: n("timeout_ms")?,
                    shared: n("shared")? != 0,
                    deep: n("deep")? != 0,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut after = before.clone();
        let out = f(&mut after);
        if !write {
            return Ok(out);
        }
        for gone in before.iter().filter(|b| !after.contains(b)) {
            sqlx::query("DELETE FROM dav_locks WHERE token = $1")
                .bind(&gone.token)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        for new in after.iter().filter(|a| !before.contains(a)) {
            sqlx::query(
                "INSERT INTO dav_locks (token, at, dav_path, user_name, owner_xml, expires, \
                 timeout_ms, shared, deep) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&new.token)
            .bind(&new.at)
            .bind(&new.dav_path)
            .bind(&new.user_name)
            .bind(&new.owner_xml)
            .bind(new.expires)
            .bind(new.timeout_ms)
            .bind(new.shared as i64)
            .bind(new.deep as i64)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(out)
    }

    /// How long (ms) the throttle counter `key` must still wait at `now` (ms), when it reached `limit`
    /// within `window` (ms).
    pub async fn throttle_wait(
        &self,
        key: &str,
        limit: u32,
        now: i64,
        window: i64,
    ) -> Result<Option<i64>> {
        let r = sqlx::query("SELECT n, since FROM throttle WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        let Some(r) = r else { return Ok(None) };
        let (n, since): (i64, i64) = (
            r.try_get("n").map_err(db_err)?,
            r.try_get("since").map_err(db_err)?,
        );
        Ok((n >= limit as i64 && now - since < window).then(|| window - (now - since)))
    }

    /// Counts one attempt against each `(key, limit)`, unless one is at its limit (then how long it must
    /// wait, ms); one transaction, serialised across processes, so concurrent guesses get no more tries.
    pub async fn throttle_reserve(
        &self,
        keys: &[(String, u32)],
        now: i64,
        window: i64,
    ) -> Result<std::result::Result<(), i64>> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        if self.postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(727300102)")
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        sqlx::query("DELETE FROM throttle WHERE since < $1")
            .bind(now - window)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        // Counters are bounded like the in-memory ones: the oldest go first when full.
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM throttle")
            .fetch_one(&mut *tx)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(db_err)?;
        if n >= THROTTLE_ROWS {
            sqlx::query(
                "DELETE FROM throttle WHERE key IN \
                 (SELECT key FROM throttle ORDER BY since LIMIT 1000)",
            )
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        let mut counts = Vec::new();
        let mut wait = None::<i64>;
        for (key, limit) in keys {
            let r = sqlx::query("SELECT n, since FROM throttle WHERE key = $1")
                .bind(key)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
            let (n, since) = match r {
                Some(r) => (
                    r.try_get::<i64, _>("n").map_err(db_err)?,
                    r.try_get::<i64, _>("since").map_err(db_err)?,
                ),
                None => (0, now),
            };
            if n >= *limit as i64 && now - since < window {
                let w = window - (now - since);
                wait = Some(wait.map_or(w, |x| x.max(w)));
            }
            counts.push((key, n, since));
        }
        if let Some(w) = wait {
            return Ok(Err(w));
        }
        for (key, n, since) in counts {
            let (n, since) = if now - since >= window {
                (1, now)
            } else {
                (n + 1, since)
            };
            sqlx::query("DELETE FROM throttle WHERE key = $1")
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            sqlx::query("INSERT INTO throttle (key, n, since) VALUES ($1, $2, $3)")
                .bind(key)
                .bind(n)
                .bind(since)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(Ok(()))
    }

    /// Gives back one reserved attempt of each key.
    pub async fn throttle_release(&self, keys: &[String]) -> Result<()> {
        for key in keys {
            sqlx::query("UPDATE throttle SET n = n - 1 WHERE key = $1 AND n > 0")
                .bind(key)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }

    /// Stores a download ticket (by the SHA-256 of its value) unless `user` holds `per_user` live ones
    /// or there are `total` in all; tickets idle since before `idle_before` or made before `made_before`
    /// (ms) are forgotten first. Whether it was stored.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_ticket(
        &self,
        hash: &str,
        user: &str,
        session: &str,
        path: &str,
        now: i64,
        idle_before: i64,
        made_before: i64,
        (per_user, total): (usize, usize),
    ) -> Result<bool> {
        sqlx::query("DELETE FROM tickets WHERE used < $1 OR made < $2")
            .bind(idle_before)
            .bind(made_before)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        let r = sqlx::query(
            "SELECT COUNT(*) AS total, \
             COALESCE(SUM(CASE WHEN user_name = $1 THEN 1 ELSE 0 END), 0) AS mine FROM tickets",
        )
        .bind(user)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        let mine: i64 = r.try_get("mine").map_err(db_err)?;
        let all: i64 = r.try_get("total").map_err(db_err)?;
        if mine as usize >= per_user || all as usize >= total {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO tickets (ticket_hash, user_name, session, path, made, used) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(hash)
        .bind(user)
        .bind(session)
        .bind(path)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(true)
    }

    /// A ticket by hash: (user, session, path, made, used).
    pub async fn ticket(&self, hash: &str) -> Result<Option<(String, String, String, i64, i64)>> {
        let r = sqlx::query("SELECT * FROM tickets WHERE ticket_hash = $1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        r.map(|r| {
            Ok((
                r.try_get("user_name").map_err(db_err)?,
                r.try_get("session").map_err(db_err)?,
                r.try_get("path").map_err(db_err)?,
                r.try_get("made").map_err(db_err)?,
                r.try_get("used").map_err(db_err)?,
            ))
        })
        .transpose()
    }

    /// Marks a ticket used at `now` (ms).
    pub async fn touch_ticket(&self, hash: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE tickets SET used = $1 WHERE ticket_hash = $2")
            .bind(now)
            .bind(hash)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Forgets a ticket (`Some`) or every ticket of a user.
    pub async fn drop_tickets(&self, hash: Option<&str>, user: Option<&str>) -> Result<()> {
        let (q, v) = match (hash, user) {
            (Some(h), _) => ("DELETE FROM tickets WHERE ticket_hash = $1", h),
            (None, Some(u)) => ("DELETE FROM tickets WHERE user_name = $1", u),
            (None, None) => return Ok(()),
        };
        sqlx::query(q)
            .bind(v)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Stores a new share.
    pub async fn insert_share(&self, s: &ShareRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO shares (id, owner, path, password_hash, expires, max_downloads, downloads, \
             created, revoked) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&s.id)
        .bind(&s.owner)
        .bind(&s.path)
        .bind(&s.password_hash)
        .bind(s.expires)
        .bind(s.max_downloads)
        .bind(s.downloads)
        .bind(s.created)
        .bind(s.revoked)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    /// A share by id.
    pub async fn share(&self, id: &str) -> Result<Option<ShareRow>> {
        let r = sqlx::query("SELECT * FROM shares WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        r.as_ref().map(share_row).transpose()
    }

    /// The shares of `owner` (every share when `None`), newest first.
    pub async fn shares(&self, owner: Option<&str>) -> Result<Vec<ShareRow>> {
        let rows = match owner {
            Some(o) => {
                sqlx::query("SELECT * FROM shares WHERE owner = $1 ORDER BY created DESC")
                    .bind(o)
                    .fetch_all(&self.pool)
                    .await
            }
            None => {
                sqlx::query("SELECT * FROM shares ORDER BY created DESC")
                    .fetch_all(&self.pool)
                    .await
            }
        }
        .map_err(db_err)?;
        rows.iter().map(share_row).collect()
    }

    /// Revokes a share at `now` (seconds); whether it was live.
    pub async fn revoke_share(&self, id: &str, now: i64) -> Result<bool> {
        let r = sqlx::query("UPDATE shares SET revoked = $1 WHERE id = $2 AND revoked = 0")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    /// Counts one download of a share unless its limit is reached; whether it was counted (one
    /// statement, so concurrent downloads never pass the limit).
    pub async fn count_share_download(&self, id: &str) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE shares SET downloads = downloads + 1 \
             WHERE id = $1 AND (max_downloads = 0 OR downloads < max_downloads)",
        )
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    /// Forgets one share.
    pub async fn delete_share(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM shares WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Forgets the shares of a removed user.
    pub async fn drop_shares_of(&self, owner: &str) -> Result<()> {
        sqlx::query("DELETE FROM shares WHERE owner = $1")
            .bind(owner)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Stores a new task.
    pub async fn insert_task(&self, t: &TaskRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO tasks (id, user_name, kind, src, dst, shown_from, shown_to, state, progress, \
             errors, sessions, owner, lease_until, runs, created, ended, pair) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        )
        .bind(&t.id)
        .bind(&t.user_name)
        .bind(&t.kind)
        .bind(&t.src)
        .bind(&t.dst)
        .bind(&t.shown_from)
        .bind(&t.shown_to)
        .bind(&t.state)
        .bind(&t.progress)
        .bind(&t.errors)
        .bind(&t.sessions)
        .bind(&t.owner)
        .bind(t.lease_until)
        .bind(t.runs)
        .bind(t.created)
        .bind(t.ended)
        .bind(&t.pair)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    /// A task of `user` (any user's when `None`).
    pub async fn task(&self, id: &str, user: Option<&str>) -> Result<Option<TaskRow>> {
        let r = sqlx::query("SELECT * FROM tasks WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(r.as_ref()
            .map(task_row)
            .transpose()?
            .filter(|t| user.is_none_or(|u| t.user_name == u)))
    }

    /// Every task of `user`, newest first.
    pub async fn tasks_of(&self, user: &str) -> Result<Vec<TaskRow>> {
        let rows = sqlx::query("SELECT * FROM tasks WHERE user_name = $1 ORDER BY created DESC")
            .bind(user)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(task_row).collect()
    }

    /// Forgets finished tasks that ended before `before` (ms), and a user's finished ones beyond the
    /// newest `keep`; returns how many tasks of `user` are still running.
    pub async fn prune_tasks(&self, user: &str, before: i64, keep: usize) -> Result<usize> {
        sqlx::query("DELETE FROM tasks WHERE state <> 'running' AND ended < $1")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        let finished = sqlx::query(
            "SELECT id FROM tasks WHERE user_name = $1 AND state <> 'running' ORDER BY ended DESC",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        for r in finished.iter().skip(keep) {
            let id: String = r.try_get("id").map_err(db_err)?;
            sqlx::query("DELETE FROM tasks WHERE id = $1")
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
        }
        let running =
            sqlx::query("SELECT id FROM tasks WHERE user_name = $1 AND state = 'running'")
                .bind(user)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(running.len())
    }

    /// Takes one running task whose lease ended before `now` (ms) for the process `owner`, leased until
    /// `until`. On PostgreSQL the row is chosen with `FOR UPDATE SKIP LOCKED`, so processes claiming at
    /// once take different tasks; on SQLite (one process) a compare-and-set on the lease does the same.
    pub async fn claim_task(&self, owner: &str, now: i64, until: i64) -> Result<Option<TaskRow>> {
        if self.postgres {
            let r = sqlx::query(
                "UPDATE tasks SET owner = $1, lease_until = $2, runs = runs + 1 WHERE id = \
                 (SELECT id FROM tasks WHERE state = 'running' AND lease_until < $3 \
                  ORDER BY created LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING *",
            )
            .bind(owner)
            .bind(until)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
            return r.as_ref().map(task_row).transpose();
        }
        let Some(r) = sqlx::query(
            "SELECT * FROM tasks WHERE state = 'running' AND lease_until < $1 \
             ORDER BY created LIMIT 1",
        )
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        else {
            return Ok(None);
        };
        let t = task_row(&r)?;
        let taken = sqlx::query(
            "UPDATE tasks SET owner = $1, lease_until = $2, runs = runs + 1 \
             WHERE id = $3 AND state = 'running' AND lease_until = $4",
        )
        .bind(owner)
        .bind(until)
        .bind(&t.id)
        .bind(t.lease_until)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok((taken.rows_affected() == 1).then(|| TaskRow {
            owner: owner.to_string(),
            lease_until: until,
            runs: t.runs + 1,
            ..t
        }))
    }

    /// Extends `owner`'s lease of a running task and saves its progress and sessions; false when the
    /// task is no longer `owner`'s to run (cancelled, or taken over after the lease ran out).
    pub async fn renew_task(
        &self,
        id: &str,
        owner: &str,
        until: i64,
        progress: &str,
        sessions: &str,
    ) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE tasks SET lease_until = $1, progress = $2, sessions = $3 \
             WHERE id = $4 AND owner = $5 AND state = 'running'",
        )
        .bind(until)
        .bind(progress)
        .bind(sessions)
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    /// Saves a two-way sync's settings and state (`pair`, JSON) while `owner` runs it; false when the task
    /// is no longer theirs.
    pub async fn save_pair(&self, id: &str, owner: &str, pair: &str) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE tasks SET pair = $1 WHERE id = $2 AND owner = $3 AND state = 'running'",
        )
        .bind(pair)
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    /// Records how `owner`'s run of a task ended (nothing changes if it is no longer theirs).
    pub async fn finish_task(
        &self,
        id: &str,
        owner: &str,
        state: &str,
        progress: &str,
        errors: &str,
        ended: i64,
    ) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE tasks SET state = $1, progress = $2, errors = $3, ended = $4, sessions = '{}', \
             lease_until = 0 WHERE id = $5 AND owner = $6 AND state = 'running'",
        )
        .bind(state)
        .bind(progress)
        .bind(errors)
        .bind(ended)
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    /// Cancels every running task of `user`; the ids cancelled.
    pub async fn cancel_tasks_of(&self, user: &str, ended: i64) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT id FROM tasks WHERE user_name = $1 AND state = 'running'")
            .bind(user)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        let mut ids = Vec::new();
        for r in &rows {
            let id: String = r.try_get("id").map_err(db_err)?;
            self.cancel_task(&id, user, ended).await?;
            ids.push(id);
        }
        Ok(ids)
    }

    /// Cancels a running task of `user`; whether the task exists (running or not).
    pub async fn cancel_task(&self, id: &str, user: &str, ended: i64) -> Result<bool> {
        sqlx::query(
            "UPDATE tasks SET state = 'cancelled', ended = $1, sessions = '{}' \
             WHERE id = $2 AND user_name = $3 AND state = 'running'",
        )
        .bind(ended)
        .bind(id)
        .bind(user)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(self.task(id, Some(user)).await?.is_some())
    }

    /// Adds or replaces a mount.
    pub async fn put_mount(&self, m: &MountRow) -> Result<()> {
        sqlx::query("DELETE FROM mounts WHERE path = $1")
            .bind(&m.path)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        sqlx::query(
            "INSERT INTO mounts (path, remote, root, read_only, direct_links, guest) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&m.path)
        .bind(&m.remote)
        .bind(&m.root)
        .bind(m.read_only as i64)
        .bind(m.direct_links as i64)
        .bind(m.guest as i64)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    /// Every mount.
    pub async fn mounts(&self) -> Result<Vec<MountRow>> {
        let rows = sqlx::query("SELECT * FROM mounts ORDER BY path")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(MountRow {
                    path: r.try_get("path").map_err(db_err)?,
                    remote: r.try_get("remote").map_err(db_err)?,
                    root: r.try_get("root").map_err(db_err)?,
                    read_only: r.try_get::<i64, _>("read_only").map_err(db_err)? != 0,
                    direct_links: r.try_get::<i64, _>("direct_links").map_err(db_err)? != 0,
                    guest: r.try_get::<i64, _>("guest").map_err(db_err)? != 0,
                })
            })
            .collect()
    }

    /// Removes a mount; whether it existed.
    pub async fn remove_mount(&self, path: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM mounts WHERE path = $1")
            .bind(path)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }
}

#[async_trait::async_trait]
impl crate::tree::Peers for Db {
    async fn publish(&self, paths: &[String]) -> Result<()> {
        self.publish_changes(paths, crate::now_ms()).await
    }

    async fn since(&self, seen: i64) -> Result<(i64, Vec<String>, bool)> {
        self.changes_since(seen).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder's children's dead properties come in one read, grandchildren's not, and not at all past
    /// the budget (the caller then reads them one resource at a time).
    #[tokio::test]
    async fn child_props_are_the_childrens_within_a_budget() {
        let d = tempfile::tempdir().unwrap();
        let db = Db::open(&format!("sqlite://{}", d.path().join("p.db").display()))
            .await
            .unwrap();
        for path in ["/f/a", "/f/b_%", "/f/sub/deep", "/fx/c"] {
            db.set_prop(&PropRow {
                path: path.into(),
                ns: "urn:z".into(),
                name: "tag".into(),
                prefix: "Z".into(),
                xml: "<Z:tag xmlns:Z=\"urn:z\">v</Z:tag>".into(),
            })
            .await
            .unwrap();
        }
        let got = db.child_props("/f", 1 << 20).await.unwrap().unwrap();
        let paths: Vec<&str> = got.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["/f/a", "/f/b_%"]);
        assert_eq!(
            db.child_props("/f", 40).await.unwrap(),
            None,
            "over the budget"
        );
    }

    /// A database made before a column existed gets it, with its default, and keeps its rows.
    #[tokio::test]
    async fn old_databases_gain_new_columns() {
        let d = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", d.path().join("old.db").display());
        {
            let db = Db::open(&url).await.unwrap();
            sqlx::query("DROP TABLE mounts")
                .execute(&db.pool)
                .await
                .unwrap();
            sqlx::query(
                "CREATE TABLE mounts (path TEXT PRIMARY KEY, remote TEXT NOT NULL, \
                 root TEXT NOT NULL, read_only BIGINT NOT NULL)",
            )
            .execute(&db.pool)
            .await
            .unwrap();
            sqlx::query("INSERT INTO mounts VALUES ('/old', 'gd', '', 1)")
                .execute(&db.pool)
                .await
                .unwrap();
            db.pool.close().await;
        }
        let db = Db::open(&url).await.unwrap();
        let m = db.mounts().await.unwrap();
        assert_eq!(m.len(), 1);
        assert!(m[0].read_only && !m[0].direct_links && !m[0].guest);
        let db = Db::open(&url).await.unwrap();
        assert_eq!(
            db.mounts().await.unwrap(),
            m,
            "opening again changes nothing"
        );
    }
}
