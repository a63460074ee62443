-- What each process changed in the tree, for the other processes on the same database to drop from
-- their listing caches (`Tree`'s peers). Forgotten by time: the index keeps that from reading the whole
-- table.
CREATE TABLE IF NOT EXISTS tree_changes (
    seq BIGSERIAL PRIMARY KEY,
    path TEXT NOT NULL,
    at BIGINT NOT NULL);

CREATE INDEX IF NOT EXISTS tree_changes_by_time ON tree_changes (at);
