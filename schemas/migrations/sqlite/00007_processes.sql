-- +goose Up
-- processes: see the Postgres migration. `herald dev`, the only process on
-- its file, names none.
CREATE TABLE processes (
    id      TEXT PRIMARY KEY,
    seen_at TEXT NOT NULL
);
ALTER TABLE attempts ADD COLUMN process_id TEXT;

-- +goose Down
ALTER TABLE attempts DROP COLUMN process_id;
DROP TABLE processes;
