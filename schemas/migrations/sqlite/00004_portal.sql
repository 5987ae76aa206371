-- +goose Up
-- Portal links: only a SHA-256 of each token is kept. Deleting the app
-- deletes its links, which revokes them.
CREATE TABLE portal_tokens (
    token_hash TEXT PRIMARY KEY,
    app_id     TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    read_only  INTEGER NOT NULL DEFAULT 0,
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX portal_tokens_app ON portal_tokens (app_id);
CREATE INDEX portal_tokens_expires ON portal_tokens (expires_at);

-- Endpoint stats read an endpoint's attempts by time.
CREATE INDEX attempts_endpoint_started ON attempts (endpoint_id, started_at);

-- +goose Down
DROP INDEX attempts_endpoint_started;
DROP TABLE portal_tokens;
