-- +goose Up
-- processes: the Herald processes that make attempts on this store, each
-- with the last time it said it was alive (the database's clock). An
-- attempt in flight names its process, so that another one can tell a
-- note left by a dead process from a POST still under way.
CREATE TABLE processes (
    id      TEXT PRIMARY KEY,
    seen_at TIMESTAMPTZ NOT NULL
);
ALTER TABLE attempts ADD COLUMN process_id TEXT;

-- +goose Down
ALTER TABLE attempts DROP COLUMN process_id;
DROP TABLE processes;
