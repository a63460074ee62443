-- Every table as it stood when migrations began (the columns added to existing tables before then
-- included). IF NOT EXISTS: a database made before migrations passes through unchanged, its columns
-- brought up to date first (see `Db::open`). The SQL is the common subset of SQLite and PostgreSQL:
-- text keys, BIGINT times and flags.
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    base_path TEXT NOT NULL,
    can_write BIGINT NOT NULL,
    is_admin BIGINT NOT NULL,
    created BIGINT NOT NULL,
    static_hash TEXT NOT NULL DEFAULT '');

CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY,
    user_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    label TEXT NOT NULL,
    created BIGINT NOT NULL,
    expires BIGINT NOT NULL);

CREATE TABLE IF NOT EXISTS props (
    path TEXT NOT NULL,
    ns TEXT NOT NULL,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    xml TEXT NOT NULL,
    PRIMARY KEY (path, ns, name));

CREATE TABLE IF NOT EXISTS mounts (
    path TEXT PRIMARY KEY,
    remote TEXT NOT NULL,
    root TEXT NOT NULL,
    read_only BIGINT NOT NULL,
    direct_links BIGINT NOT NULL DEFAULT 0,
    guest BIGINT NOT NULL DEFAULT 0);

CREATE TABLE IF NOT EXISTS tasks (
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
    ended BIGINT NOT NULL,
    pair TEXT NOT NULL DEFAULT '');

CREATE INDEX IF NOT EXISTS tasks_by_state ON tasks (state, lease_until);

CREATE INDEX IF NOT EXISTS tasks_by_user ON tasks (user_name, state);

CREATE TABLE IF NOT EXISTS shares (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    path TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    expires BIGINT NOT NULL,
    max_downloads BIGINT NOT NULL,
    downloads BIGINT NOT NULL,
    created BIGINT NOT NULL,
    revoked BIGINT NOT NULL);

CREATE INDEX IF NOT EXISTS shares_by_owner ON shares (owner);

CREATE TABLE IF NOT EXISTS throttle (
    key TEXT PRIMARY KEY,
    n BIGINT NOT NULL,
    since BIGINT NOT NULL);

CREATE TABLE IF NOT EXISTS tickets (
    ticket_hash TEXT PRIMARY KEY,
    user_name TEXT NOT NULL,
    session TEXT NOT NULL,
    path TEXT NOT NULL,
    made BIGINT NOT NULL,
    used BIGINT NOT NULL);

CREATE TABLE IF NOT EXISTS dav_locks (
    token TEXT PRIMARY KEY,
    at TEXT NOT NULL,
    dav_path TEXT NOT NULL,
    user_name TEXT NOT NULL,
    owner_xml TEXT NOT NULL,
    expires BIGINT NOT NULL,
    timeout_ms BIGINT NOT NULL,
    shared BIGINT NOT NULL,
    deep BIGINT NOT NULL);
