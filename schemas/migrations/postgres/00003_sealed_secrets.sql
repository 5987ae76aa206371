-- +goose Up
-- How Herald authenticates to the receiver: auth is the public part of the
-- configuration as JSON ('' when none), auth_secret its secret (OAuth2
-- client secret or mTLS private key), sealed like secret_key; ca_pem is a
-- private CA the receiver's certificate is checked against.
ALTER TABLE endpoints ADD COLUMN auth TEXT NOT NULL DEFAULT '';
ALTER TABLE endpoints ADD COLUMN auth_secret TEXT NOT NULL DEFAULT '';
ALTER TABLE endpoints ADD COLUMN ca_pem TEXT NOT NULL DEFAULT '';
-- Retention removes events by age across every app.
CREATE INDEX events_created ON events (created_at);

-- +goose Down
DROP INDEX events_created;
ALTER TABLE endpoints DROP COLUMN ca_pem;
ALTER TABLE endpoints DROP COLUMN auth_secret;
ALTER TABLE endpoints DROP COLUMN auth;
