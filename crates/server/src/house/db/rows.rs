//! The stored rows: each table's struct declared once, with its columns, its reading from a row
//! ([`sqlx::FromRow`]) and its binding into an `INSERT`, all made from the one declaration by
//! [`rows!`] — the work `#[derive(sqlx::FromRow)]` does, without sqlx's proc-macro crate, which would
//! build SQLite and both database drivers a second time for the compiler (release builds compile
//! proc-macro dependencies with their own settings).

use std::sync::LazyLock;

use sqlx::any::{Any, AnyArguments, AnyRow};
use sqlx::{FromRow, Row};

/// A statement with its arguments, as the Any driver takes it.
pub(crate) type Query<'q> = sqlx::query::Query<'q, Any, AnyArguments<'q>>;

/// A column's value as this schema stores it: text, a BIGINT, or a flag kept as a BIGINT 0 or 1 (the
/// common subset of SQLite and PostgreSQL, which sqlx's Any driver reads back alike from both).
pub(crate) trait Column: Sized {
    /// The value of column `name` of `r`.
    fn read(r: &AnyRow, name: &str) -> sqlx::Result<Self>;
    /// `q` with this value bound as its next argument.
    fn bind<'q>(&'q self, q: Query<'q>) -> Query<'q>;
}

impl Column for String {
    fn read(r: &AnyRow, name: &str) -> sqlx::Result<Self> {
        r.try_get(name)
    }
    fn bind<'q>(&'q self, q: Query<'q>) -> Query<'q> {
        q.bind(self.as_str())
    }
}

impl Column for i64 {
    fn read(r: &AnyRow, name: &str) -> sqlx::Result<Self> {
        r.try_get(name)
    }
    fn bind<'q>(&'q self, q: Query<'q>) -> Query<'q> {
        q.bind(*self)
    }
}

impl Column for bool {
    fn read(r: &AnyRow, name: &str) -> sqlx::Result<Self> {
        r.try_get::<i64, _>(name).map(|v| v != 0)
    }
    fn bind<'q>(&'q self, q: Query<'q>) -> Query<'q> {
        q.bind(*self as i64)
    }
}

/// A table whose rows are one struct (see [`rows!`]).
pub(crate) trait Table: for<'r> FromRow<'r, AnyRow> + Send + Unpin {
    /// The table's name.
    const TABLE: &'static str;
    /// Its columns, in the struct's order.
    const COLUMNS: &'static [&'static str];
    /// `INSERT INTO table (columns…) VALUES ($1, …)`.
    fn insert_sql() -> &'static str;
    /// `q` with every field bound in the columns' order.
    fn bind_all<'q>(&'q self, q: Query<'q>) -> Query<'q>;
    /// This row's `INSERT`.
    fn insert(&self) -> Query<'_> {
        self.bind_all(sqlx::query(Self::insert_sql()))
    }
}

/// The `INSERT` statement of `table` with `columns`.
pub(crate) fn insert_sql(table: &str, columns: &[&str]) -> String {
    let marks: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        columns.join(", "),
        marks.join(", ")
    )
}

/// Declares row structs: `pub struct Name in "table" { /// doc \n pub field: Type, … }`, each field a
/// column of the same name whose type is a [`Column`].
macro_rules! rows {
    ($(
        $(#[$m:meta])*
        pub struct $name:ident in $table:literal {
            $( $(#[$fm:meta])* pub $field:ident : $ty:ty, )*
        }
    )*) => {$(
        $(#[$m])*
        pub struct $name {
            $( $(#[$fm])* pub $field: $ty, )*
        }

        impl<'r> sqlx::FromRow<'r, AnyRow> for $name {
            fn from_row(r: &'r AnyRow) -> sqlx::Result<Self> {
                Ok($name { $( $field: Column::read(r, stringify!($field))?, )* })
            }
        }

        impl Table for $name {
            const TABLE: &'static str = $table;
            const COLUMNS: &'static [&'static str] = &[$(stringify!($field)),*];
            fn insert_sql() -> &'static str {
                static SQL: LazyLock<String> =
                    LazyLock::new(|| insert_sql($name::TABLE, $name::COLUMNS));
                &SQL
            }
            fn bind_all<'q>(&'q self, q: Query<'q>) -> Query<'q> {
                $( let q = Column::bind(&self.$field, q); )*
                q
            }
        }
    )*};
}

rows! {
    /// A user as stored.
    #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
    pub struct UserRow in "users" {
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
        /// password and AList's fixed suffix); empty until the password was set or used in full once.
        /// Never serialised.
        #[serde(skip)]
        pub static_hash: String,
    }

    /// A token as stored (only its SHA-256 is kept).
    #[derive(Debug, Clone, serde::Serialize)]
    pub struct TokenRow in "tokens" {
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
    pub struct PropRow in "props" {
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
    pub struct MountRow in "mounts" {
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
        /// ([`crate::house::tree::Mount::direct_links`]).
        #[serde(default)]
        pub direct_links: bool,
        /// Readable without signing in ([`crate::house::tree::Mount::guest`]).
        #[serde(default)]
        pub guest: bool,
    }

    /// A background transfer as stored ([`crate::house::tasks`]).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct TaskRow in "tasks" {
        /// Random id.
        pub id: String,
        /// Whose.
        pub user_name: String,
        /// `copy`, `move` or `bisync`.
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

    /// A share link as stored ([`crate::house::shares`]).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ShareRow in "shares" {
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

    /// A WebDAV lock as stored when several processes share the database (the WebDAV door keeps them).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct LockRow in "dav_locks" {
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

    /// A download ticket as stored (by the SHA-256 of its value; [`crate::house::tickets`]).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct TicketRow in "tickets" {
        /// SHA-256 of the ticket, hex.
        pub ticket_hash: String,
        /// Whose.
        pub user_name: String,
        /// The session it was made in (it dies with it).
        pub session: String,
        /// The tree path it opens.
        pub path: String,
        /// Made, milliseconds since the epoch.
        pub made: i64,
        /// Last used, milliseconds since the epoch.
        pub used: i64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_insert_names_every_column_once_in_order() {
        assert_eq!(
            MountRow::insert_sql(),
            "INSERT INTO mounts (path, remote, root, read_only, direct_links, guest) \
             VALUES ($1, $2, $3, $4, $5, $6)"
        );
        assert_eq!(TaskRow::COLUMNS.len(), 17);
        assert_eq!(TaskRow::COLUMNS[16], "pair");
    }
}
