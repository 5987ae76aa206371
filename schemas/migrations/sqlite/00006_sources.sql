-- +goose Up
-- Sources: broker queues and JetStream consumers whose messages become
-- events of an app. status and last_error are written by the consuming
-- activity; the url keeps its password (shown redacted).
CREATE TABLE sources (
    id         TEXT PRIMARY KEY,
    app_id     TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    url        TEXT NOT NULL,
    event_type TEXT NOT NULL DEFAULT '',
    status     TEXT NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX sources_app_created ON sources (app_id, created_at, id);

-- +goose Down
DROP TABLE sources;
