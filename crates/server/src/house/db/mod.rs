//! The database: users, sessions and API tokens, mounts, tasks, shares, tickets, WebDAV locks and
//! properties, the sign-in throttle. SQLite by default (a file in the data directory), PostgreSQL with a
//! `postgres://` URL so several server processes share one state. The SQL is the common subset of both
//! (text keys, BIGINT times and flags, `$N` placeholders in order).
//!
//! - The schema is the files in `crates/server/migrations/`, applied in order by sqlx's migrator when
//!   the database is opened (a file may have a variant per database where the two differ).
//! - Each table's row is one struct, declared once in `rows.rs` (its columns, its reading and its
//!   `INSERT` come from that declaration); queries go through one small layer that maps errors.

use cloudmux_core::{Error, ErrorKind, Result};
use futures_util::future::BoxFuture;
use sqlx::any::{Any, AnyPoolOptions, AnyRow};
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::{AnyPool, FromRow};

mod rows;

pub use rows::{LockRow, MountRow, PropRow, ShareRow, TaskRow, TicketRow, TokenRow, UserRow};
use rows::{Query, Table};

/// The schema's migrations, oldest first: version, what it does, its SQL on SQLite and on PostgreSQL
/// (the same file where the common subset of both serves). Applied by sqlx's [`Migrator`], which keeps
/// what ran (and each file's checksum) in `_sqlx_migrations` and, on PostgreSQL, lets one process at a
/// time migrate.
const MIGRATIONS: &[(i64, &str, &str, &str)] = &[
    (
        1,
        "tables",
        include_str!("../../../migrations/0001_tables.sql"),
        include_str!("../../../migrations/0001_tables.sql"),
    ),
    (
        2,
        "tree changes",
        include_str!("../../../migrations/0002_tree_changes.sqlite.sql"),
        include_str!("../../../migrations/0002_tree_changes.postgres.sql"),
    ),
];

/// Columns added to tables before migrations began: a database made then is brought up to
/// [`MIGRATIONS`]' first file before it runs (SQLite has no `ADD COLUMN IF NOT EXISTS`).
const BEFORE_MIGRATIONS: &[(&str, &str, &str)] = &[
    ("mounts", "direct_links", "BIGINT NOT NULL DEFAULT 0"),
    ("mounts", "guest", "BIGINT NOT NULL DEFAULT 0"),
    ("users", "static_hash", "TEXT NOT NULL DEFAULT ''"),
    ("tasks", "pair", "TEXT NOT NULL DEFAULT ''"),
];

/// [`MIGRATIONS`] for one kind of database.
#[derive(Debug)]
struct Embedded {
    postgres: bool,
}

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(self) -> BoxFuture<'s, std::result::Result<Vec<Migration>, BoxDynError>> {
        Box::pin(async move {
            Ok(MIGRATIONS
                .iter()
                .map(|(version, what, sqlite, postgres)| {
                    let sql = if self.postgres { *postgres } else { *sqlite };
                    Migration::new(
                        *version,
                        (*what).into(),
                        MigrationType::Simple,
                        sql.into(),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// Changes read at once; past that, a process drops its whole cache instead.
const CHANGES_READ: i64 = 1000;

/// Throttle counters kept at most in the database.
const THROTTLE_ROWS: i64 = 100_000;

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

/// Statements run and rows read with the database's errors mapped: the one place a query meets the
/// pool (or a transaction).
trait Run<'q>: Sized {
    /// Runs the statement; the rows it changed.
    fn run<'e, 'c: 'e, E>(self, on: E) -> impl Future<Output = Result<u64>> + Send + 'e
    where
        'q: 'e,
        E: 'e + sqlx::Executor<'c, Database = Any>;
    /// Every row it reads.
    fn rows<'e, 'c: 'e, E, T>(self, on: E) -> impl Future<Output = Result<Vec<T>>> + Send + 'e
    where
        'q: 'e,
        E: 'e + sqlx::Executor<'c, Database = Any>,
        T: for<'r> FromRow<'r, AnyRow> + Send + Unpin + 'e;
    /// The row it reads, if any.
    fn row<'e, 'c: 'e, E, T>(self, on: E) -> impl Future<Output = Result<Option<T>>> + Send + 'e
    where
        'q: 'e,
        E: 'e + sqlx::Executor<'c, Database = Any>,
        T: for<'r> FromRow<'r, AnyRow> + Send + Unpin + 'e;
}

impl<'q> Run<'q> for Query<'q> {
    async fn run<'e, 'c: 'e, E>(self, on: E) -> Result<u64>
    where
        'q: 'e,
        E: 'e + sqlx::Executor<'c, Database = Any>,
    {
        self.execute(on)
            .await
            .map(|r| r.rows_affected())
            .map_err(db_err)
    }

    async fn rows<'e, 'c: 'e, E, T>(self, on: E) -> Result<Vec<T>>
    where
        'q: 'e,
        E: 'e + sqlx::Executor<'c, Database = Any>,
        T: for<'r> FromRow<'r, AnyRow> + Send + Unpin + 'e,
    {
        let rows = self.fetch_all(on).await.map_err(db_err)?;
        rows.iter()
            .map(|r| T::from_row(r).map_err(db_err))
            .collect()
    }

    async fn row<'e, 'c: 'e, E, T>(self, on: E) -> Result<Option<T>>
    where
        'q: 'e,
        E: 'e + sqlx::Executor<'c, Database = Any>,
        T: for<'r> FromRow<'r, AnyRow> + Send + Unpin + 'e,
    {
        let row = self.fetch_optional(on).await.map_err(db_err)?;
        row.as_ref()
            .map(|r| T::from_row(r).map_err(db_err))
            .transpose()
    }
}

/// The connection pool.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    postgres: bool,
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
        // A database made before migrations began has tables but no record of migrations: its
        // columns are brought up to the first migration's, which then finds every table there.
        let probe = |table: &str| format!("SELECT 1 FROM {table} WHERE 1 = 0");
        if sqlx::query(&probe("users")).fetch_all(&pool).await.is_ok()
            && sqlx::query(&probe("_sqlx_migrations"))
                .fetch_all(&pool)
                .await
                .is_err()
        {
            for (table, column, ddl) in BEFORE_MIGRATIONS {
                let has = format!("SELECT {column} FROM {table} WHERE 1 = 0");
                if sqlx::query(&has).fetch_all(&pool).await.is_err() {
                    sqlx::query(&format!("ALTER TABLE {table} ADD COLUMN {column} {ddl}"))
                        .execute(&pool)
                        .await
                        .map_err(db_err)?;
                }
            }
        }
        Migrator::new(Embedded { postgres })
            .await
            .map_err(|e| Error::new(ErrorKind::Other, format!("database migrations: {e}")))?
            .run(&pool)
            .await
            .map_err(|e| {
                Error::new(
                    ErrorKind::Other,
                    format!("cannot migrate the database: {e}"),
                )
                .with_hint(
                    "a database changed by a newer cloudmux cannot be used by an older one; \
                     upgrade cloudmux",
                )
            })?;
        Ok(Db { pool, postgres })
    }

    /// Adds a user (AlreadyExists when the name is taken).
    pub async fn add_user(&self, u: &UserRow) -> Result<()> {
        u.insert()
            .run(&self.pool)
            .await
            .map_err(|e| e.context(format!("user {}", u.name)))?;
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
        .run(&self.pool)
        .await?;
        if r == 0 {
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
        .run(&self.pool).await?;
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
        .run(&self.pool)
        .await?;
        let (value,): (String,) = sqlx::query("SELECT value FROM secrets WHERE name = $1")
            .bind(name)
            .row(&self.pool)
            .await?
            .ok_or_else(|| {
                Error::new(ErrorKind::Other, "database: a secret just stored is gone")
            })?;
        Ok(value)
    }

    /// A user by name.
    pub async fn get_user(&self, name: &str) -> Result<Option<UserRow>> {
        sqlx::query("SELECT * FROM users WHERE name = $1")
            .bind(name)
            .row(&self.pool)
            .await
    }

    /// Every user, by name.
    pub async fn users(&self) -> Result<Vec<UserRow>> {
        sqlx::query("SELECT * FROM users ORDER BY name")
            .rows(&self.pool)
            .await
    }

    /// Removes a user and their tokens; whether it existed.
    pub async fn remove_user(&self, name: &str) -> Result<bool> {
        sqlx::query("DELETE FROM tokens WHERE user_name = $1")
            .bind(name)
            .run(&self.pool)
            .await?;
        let r = sqlx::query("DELETE FROM users WHERE name = $1")
            .bind(name)
            .run(&self.pool)
            .await?;
        Ok(r > 0)
    }

    /// Stores a token (by hash).
    pub async fn add_token(&self, t: &TokenRow) -> Result<()> {
        t.insert().run(&self.pool).await?;
        Ok(())
    }

    /// A token by its hash.
    pub async fn get_token(&self, hash: &str) -> Result<Option<TokenRow>> {
        sqlx::query("SELECT * FROM tokens WHERE token_hash = $1")
            .bind(hash)
            .row(&self.pool)
            .await
    }

    /// A user's tokens of one kind.
    pub async fn tokens_of(&self, user: &str, kind: &str) -> Result<Vec<TokenRow>> {
        sqlx::query("SELECT * FROM tokens WHERE user_name = $1 AND kind = $2 ORDER BY created")
            .bind(user)
            .bind(kind)
            .rows(&self.pool)
            .await
    }

    /// Removes a token of `user`; whether it existed.
    pub async fn remove_token(&self, user: &str, hash: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM tokens WHERE user_name = $1 AND token_hash = $2")
            .bind(user)
            .bind(hash)
            .run(&self.pool)
            .await?;
        Ok(r > 0)
    }

    /// Removes every token of one kind of `user`.
    pub async fn remove_tokens(&self, user: &str, kind: &str) -> Result<u64> {
        let r = sqlx::query("DELETE FROM tokens WHERE user_name = $1 AND kind = $2")
            .bind(user)
            .bind(kind)
            .run(&self.pool)
            .await?;
        Ok(r)
    }

    /// Drops expired tokens.
    pub async fn purge_expired(&self, now: i64) -> Result<u64> {
        let r = sqlx::query("DELETE FROM tokens WHERE expires > 0 AND expires < $1")
            .bind(now)
            .run(&self.pool)
            .await?;
        Ok(r)
    }

    /// Sets (replaces) a WebDAV dead property of a tree path.
    pub async fn set_prop(&self, p: &PropRow) -> Result<()> {
        self.remove_prop(&p.path, &p.ns, &p.name).await?;
        p.insert().run(&self.pool).await?;
        Ok(())
    }

    /// Removes one dead property (nothing happens when absent).
    pub async fn remove_prop(&self, path: &str, ns: &str, name: &str) -> Result<()> {
        sqlx::query("DELETE FROM props WHERE path = $1 AND ns = $2 AND name = $3")
            .bind(path)
            .bind(ns)
            .bind(name)
            .run(&self.pool)
            .await?;
        Ok(())
    }

    /// The dead properties of a tree path.
    pub async fn props(&self, path: &str) -> Result<Vec<PropRow>> {
        sqlx::query("SELECT * FROM props WHERE path = $1 ORDER BY ns, name")
            .bind(path)
            .rows(&self.pool)
            .await
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
            let p = PropRow::from_row(&r).map_err(db_err)?;
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
        let rows: Vec<PropRow> = sqlx::query(
            "SELECT * FROM props WHERE path = $1 OR substr(path, 1, CAST($2 AS INTEGER)) = $3",
        )
        .bind(from)
        .bind(below.chars().count() as i64)
        .bind(&below)
        .rows(&self.pool)
        .await?;
        for p in rows {
            let moved = PropRow {
                path: format!("{to}{}", &p.path[from.len()..]),
                ..p
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
        .run(&self.pool)
        .await?;
        Ok(())
    }

    /// Closes the pool: every later query fails (tests of what happens when the database is gone).
    #[cfg(test)]
    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }

    /// Records that `paths` of the tree changed at `now` (ms), for the other processes on this database;
    /// changes older than [`crate::house::tree::CHANGES_KEPT`] are forgotten (a process that has not asked
    /// for that long drops its whole cache instead).
    pub async fn publish_changes(&self, paths: &[String], now: i64) -> Result<()> {
        for p in paths {
            sqlx::query("INSERT INTO tree_changes (path, at) VALUES ($1, $2)")
                .bind(p)
                .bind(now)
                .run(&self.pool)
                .await?;
        }
        sqlx::query("DELETE FROM tree_changes WHERE at < $1")
            .bind(now - crate::house::tree::CHANGES_KEPT.as_millis() as i64)
            .run(&self.pool)
            .await?;
        Ok(())
    }

    /// The changes recorded after number `seen` (below zero: none, only the latest number), at most
    /// a thousand: the latest number, their paths, and whether there were more.
    pub async fn changes_since(&self, seen: i64) -> Result<(i64, Vec<String>, bool)> {
        if seen < 0 {
            let last: Option<(i64,)> =
                sqlx::query("SELECT COALESCE(MAX(seq), 0) AS last FROM tree_changes")
                    .row(&self.pool)
                    .await?;
            return Ok((last.map_or(0, |(l,)| l), Vec::new(), false));
        }
        let rows: Vec<(i64, String)> =
            sqlx::query("SELECT seq, path FROM tree_changes WHERE seq > $1 ORDER BY seq LIMIT $2")
                .bind(seen)
                .bind(CHANGES_READ + 1)
                .rows(&self.pool)
                .await?;
        let more = rows.len() as i64 > CHANGES_READ;
        let mut last = seen;
        let mut paths = Vec::with_capacity(rows.len());
        for (seq, path) in rows.into_iter().take(CHANGES_READ as usize) {
            last = last.max(seq);
            paths.push(path);
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
                .run(&mut *tx)
                .await?;
        }
        if write {
            sqlx::query("DELETE FROM dav_locks WHERE expires <= $1")
                .bind(now)
                .run(&mut *tx)
                .await?;
        }
        let before: Vec<LockRow> = sqlx::query("SELECT * FROM dav_locks WHERE expires > $1")
            .bind(now)
            .rows(&mut *tx)
            .await?;
        let mut after = before.clone();
        let out = f(&mut after);
        if !write {
            return Ok(out);
        }
        for gone in before.iter().filter(|b| !after.contains(b)) {
            sqlx::query("DELETE FROM dav_locks WHERE token = $1")
                .bind(&gone.token)
                .run(&mut *tx)
                .await?;
        }
        for new in after.iter().filter(|a| !before.contains(a)) {
            new.insert().run(&mut *tx).await?;
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
        let r: Option<(i64, i64)> = sqlx::query("SELECT n, since FROM throttle WHERE key = $1")
            .bind(key)
            .row(&self.pool)
            .await?;
        let Some((n, since)) = r else { return Ok(None) };
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
                .run(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM throttle WHERE since < $1")
            .bind(now - window)
            .run(&mut *tx)
            .await?;
        // Counters are bounded like the in-memory ones: the oldest go first when full.
        let n: Option<(i64,)> = sqlx::query("SELECT COUNT(*) FROM throttle")
            .row(&mut *tx)
            .await?;
        let n = n.map_or(0, |(n,)| n);
        if n >= THROTTLE_ROWS {
            sqlx::query(
                "DELETE FROM throttle WHERE key IN \
                 (SELECT key FROM throttle ORDER BY since LIMIT 1000)",
            )
            .run(&mut *tx)
            .await?;
        }
        let mut counts = Vec::new();
        let mut wait = None::<i64>;
        for (key, limit) in keys {
            let r: Option<(i64, i64)> = sqlx::query("SELECT n, since FROM throttle WHERE key = $1")
                .bind(key)
                .row(&mut *tx)
                .await?;
            let (n, since) = r.unwrap_or((0, now));
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
                .run(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO throttle (key, n, since) VALUES ($1, $2, $3)")
                .bind(key)
                .bind(n)
                .bind(since)
                .run(&mut *tx)
                .await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(Ok(()))
    }

    /// Gives back one reserved attempt of each key.
    pub async fn throttle_release(&self, keys: &[String]) -> Result<()> {
        for key in keys {
            sqlx::query("UPDATE throttle SET n = n - 1 WHERE key = $1 AND n > 0")
                .bind(key)
                .run(&self.pool)
                .await?;
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
            .run(&self.pool)
            .await?;
        let (all, mine): (i64, i64) = sqlx::query(
            "SELECT COUNT(*) AS total, \
             COALESCE(SUM(CASE WHEN user_name = $1 THEN 1 ELSE 0 END), 0) AS mine FROM tickets",
        )
        .bind(user)
        .row(&self.pool)
        .await?
        .unwrap_or((0, 0));
        if mine as usize >= per_user || all as usize >= total {
            return Ok(false);
        }
        TicketRow {
            ticket_hash: hash.into(),
            user_name: user.into(),
            session: session.into(),
            path: path.into(),
            made: now,
            used: now,
        }
        .insert()
        .run(&self.pool)
        .await?;
        Ok(true)
    }

    /// A ticket by hash.
    pub async fn ticket(&self, hash: &str) -> Result<Option<TicketRow>> {
        sqlx::query("SELECT * FROM tickets WHERE ticket_hash = $1")
            .bind(hash)
            .row(&self.pool)
            .await
    }

    /// Marks a ticket used at `now` (ms).
    pub async fn touch_ticket(&self, hash: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE tickets SET used = $1 WHERE ticket_hash = $2")
            .bind(now)
            .bind(hash)
            .run(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets a ticket (`Some`) or every ticket of a user.
    pub async fn drop_tickets(&self, hash: Option<&str>, user: Option<&str>) -> Result<()> {
        let (q, v) = match (hash, user) {
            (Some(h), _) => ("DELETE FROM tickets WHERE ticket_hash = $1", h),
            (None, Some(u)) => ("DELETE FROM tickets WHERE user_name = $1", u),
            (None, None) => return Ok(()),
        };
        sqlx::query(q).bind(v).run(&self.pool).await?;
        Ok(())
    }

    /// Stores a new share.
    pub async fn insert_share(&self, s: &ShareRow) -> Result<()> {
        s.insert().run(&self.pool).await?;
        Ok(())
    }

    /// A share by id.
    pub async fn share(&self, id: &str) -> Result<Option<ShareRow>> {
        sqlx::query("SELECT * FROM shares WHERE id = $1")
            .bind(id)
            .row(&self.pool)
            .await
    }

    /// The shares of `owner` (every share when `None`), newest first.
    pub async fn shares(&self, owner: Option<&str>) -> Result<Vec<ShareRow>> {
        match owner {
            Some(o) => {
                sqlx::query("SELECT * FROM shares WHERE owner = $1 ORDER BY created DESC")
                    .bind(o)
                    .rows(&self.pool)
                    .await
            }
            None => {
                sqlx::query("SELECT * FROM shares ORDER BY created DESC")
                    .rows(&self.pool)
                    .await
            }
        }
    }

    /// Revokes a share at `now` (seconds); whether it was live.
    pub async fn revoke_share(&self, id: &str, now: i64) -> Result<bool> {
        let r = sqlx::query("UPDATE shares SET revoked = $1 WHERE id = $2 AND revoked = 0")
            .bind(now)
            .bind(id)
            .run(&self.pool)
            .await?;
        Ok(r == 1)
    }

    /// Counts one download of a share unless its limit is reached; whether it was counted (one
    /// statement, so concurrent downloads never pass the limit).
    pub async fn count_share_download(&self, id: &str) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE shares SET downloads = downloads + 1 \
             WHERE id = $1 AND (max_downloads = 0 OR downloads < max_downloads)",
        )
        .bind(id)
        .run(&self.pool)
        .await?;
        Ok(r == 1)
    }

    /// Forgets one share.
    pub async fn delete_share(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM shares WHERE id = $1")
            .bind(id)
            .run(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets the shares of a removed user.
    pub async fn drop_shares_of(&self, owner: &str) -> Result<()> {
        sqlx::query("DELETE FROM shares WHERE owner = $1")
            .bind(owner)
            .run(&self.pool)
            .await?;
        Ok(())
    }

    /// Stores a new task.
    pub async fn insert_task(&self, t: &TaskRow) -> Result<()> {
        t.insert().run(&self.pool).await?;
        Ok(())
    }

    /// A task of `user` (any user's when `None`).
    pub async fn task(&self, id: &str, user: Option<&str>) -> Result<Option<TaskRow>> {
        let t: Option<TaskRow> = sqlx::query("SELECT * FROM tasks WHERE id = $1")
            .bind(id)
            .row(&self.pool)
            .await?;
        Ok(t.filter(|t| user.is_none_or(|u| t.user_name == u)))
    }

    /// Every task of `user`, newest first.
    pub async fn tasks_of(&self, user: &str) -> Result<Vec<TaskRow>> {
        sqlx::query("SELECT * FROM tasks WHERE user_name = $1 ORDER BY created DESC")
            .bind(user)
            .rows(&self.pool)
            .await
    }

    /// Forgets finished tasks that ended before `before` (ms), and a user's finished ones beyond the
    /// newest `keep`; returns how many tasks of `user` are still running.
    pub async fn prune_tasks(&self, user: &str, before: i64, keep: usize) -> Result<usize> {
        sqlx::query("DELETE FROM tasks WHERE state <> 'running' AND ended < $1")
            .bind(before)
            .run(&self.pool)
            .await?;
        let finished: Vec<(String,)> = sqlx::query(
            "SELECT id FROM tasks WHERE user_name = $1 AND state <> 'running' ORDER BY ended DESC",
        )
        .bind(user)
        .rows(&self.pool)
        .await?;
        for (id,) in finished.iter().skip(keep) {
            sqlx::query("DELETE FROM tasks WHERE id = $1")
                .bind(id)
                .run(&self.pool)
                .await?;
        }
        Ok(self.running_of(user).await?.len())
    }

    /// The ids of `user`'s running tasks.
    async fn running_of(&self, user: &str) -> Result<Vec<String>> {
        let ids: Vec<(String,)> =
            sqlx::query("SELECT id FROM tasks WHERE user_name = $1 AND state = 'running'")
                .bind(user)
                .rows(&self.pool)
                .await?;
        Ok(ids.into_iter().map(|(id,)| id).collect())
    }

    /// Takes one running task whose lease ended before `now` (ms) for the process `owner`, leased until
    /// `until`. On PostgreSQL the row is chosen with `FOR UPDATE SKIP LOCKED`, so processes claiming at
    /// once take different tasks; on SQLite (one process) a compare-and-set on the lease does the same.
    pub async fn claim_task(&self, owner: &str, now: i64, until: i64) -> Result<Option<TaskRow>> {
        if self.postgres {
            return sqlx::query(
                "UPDATE tasks SET owner = $1, lease_until = $2, runs = runs + 1 WHERE id = \
                 (SELECT id FROM tasks WHERE state = 'running' AND lease_until < $3 \
                  ORDER BY created LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING *",
            )
            .bind(owner)
            .bind(until)
            .bind(now)
            .row(&self.pool)
            .await;
        }
        let Some(t): Option<TaskRow> = sqlx::query(
            "SELECT * FROM tasks WHERE state = 'running' AND lease_until < $1 \
             ORDER BY created LIMIT 1",
        )
        .bind(now)
        .row(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let taken = sqlx::query(
            "UPDATE tasks SET owner = $1, lease_until = $2, runs = runs + 1 \
             WHERE id = $3 AND state = 'running' AND lease_until = $4",
        )
        .bind(owner)
        .bind(until)
        .bind(&t.id)
        .bind(t.lease_until)
        .run(&self.pool)
        .await?;
        Ok((taken == 1).then(|| TaskRow {
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
        .run(&self.pool)
        .await?;
        Ok(r == 1)
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
        .run(&self.pool)
        .await?;
        Ok(r == 1)
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
        .run(&self.pool)
        .await?;
        Ok(r == 1)
    }

    /// Cancels every running task of `user`; the ids cancelled.
    pub async fn cancel_tasks_of(&self, user: &str, ended: i64) -> Result<Vec<String>> {
        let ids = self.running_of(user).await?;
        for id in &ids {
            self.cancel_task(id, user, ended).await?;
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
        .run(&self.pool)
        .await?;
        Ok(self.task(id, Some(user)).await?.is_some())
    }

    /// Adds or replaces a mount.
    pub async fn put_mount(&self, m: &MountRow) -> Result<()> {
        self.remove_mount(&m.path).await?;
        m.insert().run(&self.pool).await?;
        Ok(())
    }

    /// Every mount.
    pub async fn mounts(&self) -> Result<Vec<MountRow>> {
        sqlx::query("SELECT * FROM mounts ORDER BY path")
            .rows(&self.pool)
            .await
    }

    /// Removes a mount; whether it existed.
    pub async fn remove_mount(&self, path: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM mounts WHERE path = $1")
            .bind(path)
            .run(&self.pool)
            .await?;
        Ok(r > 0)
    }
}

#[async_trait::async_trait]
impl crate::house::tree::Peers for Db {
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

    /// Every file in `migrations/` is one of [`MIGRATIONS`] (a file added but not listed would never
    /// run), and their versions go up one by one.
    #[test]
    fn every_migration_file_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        files.sort();
        let mut embedded: Vec<String> = MIGRATIONS
            .iter()
            .flat_map(|(_, _, sqlite, postgres)| [sqlite.to_string(), postgres.to_string()])
            .collect();
        embedded.sort();
        embedded.dedup();
        assert_eq!(files, embedded);
        for (i, (version, ..)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*version, i as i64 + 1);
        }
    }
}
