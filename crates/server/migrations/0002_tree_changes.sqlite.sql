-- PostgreSQL's `tree_changes` (0002_tree_changes.postgres.sql) serves several processes on one
-- database; on SQLite one process serves it, so the table is kept with the same columns, unused.
CREATE TABLE IF NOT EXISTS tree_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL,
    at BIGINT NOT NULL);

CREATE INDEX IF NOT EXISTS tree_changes_by_time ON tree_changes (at);
