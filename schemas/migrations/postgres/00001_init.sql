-- +goose Up
CREATE TABLE apps (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX apps_created ON apps (created_at, id);

CREATE TABLE event_types (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    json_schema TEXT,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX event_types_created ON event_types (created_at, name);

CREATE TABLE endpoints (
    id                    TEXT PRIMARY KEY,
    app_id                TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    url                   TEXT NOT NULL,
    description           TEXT NOT NULL DEFAULT '',
    event_types           TEXT NOT NULL DEFAULT '[]',
    ordered               BOOLEAN NOT NULL DEFAULT TRUE,
    rate_limit_per_second INTEGER NOT NULL DEFAULT 0,
    headers               TEXT NOT NULL DEFAULT '{}',
    disabled              BOOLEAN NOT NULL DEFAULT FALSE,
    disabled_reason       TEXT NOT NULL DEFAULT '',
    disabled_at           TIMESTAMPTZ,
    signature_type        TEXT NOT NULL,
    secret_key            TEXT NOT NULL,
    previous_key          TEXT NOT NULL DEFAULT '',
    previous_expires_at   TIMESTAMPTZ,
    next_seq              BIGINT NOT NULL DEFAULT 0,
    failing_since         TIMESTAMPTZ,
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL
);
CREATE INDEX endpoints_app_created ON endpoints (app_id, created_at, id);

CREATE TABLE rate_buckets (
    endpoint_id  TEXT PRIMARY KEY REFERENCES endpoints (id) ON DELETE CASCADE,
    tokens       DOUBLE PRECISION NOT NULL,
    refreshed_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE events (
    app_id     TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload    TEXT NOT NULL,
    status     TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (app_id, id)
);
CREATE INDEX events_app_created ON events (app_id, created_at, id);
CREATE INDEX events_app_status_created ON events (app_id, status, created_at, id);

CREATE TABLE deliveries (
    app_id          TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    endpoint_id     TEXT NOT NULL, -- no foreign key: the history outlives a deleted endpoint
    status          TEXT NOT NULL,
    seq             BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ,
    finished_at     TIMESTAMPTZ,
    updated_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (app_id, event_id, endpoint_id),
    FOREIGN KEY (app_id, event_id) REFERENCES events (app_id, id) ON DELETE CASCADE
);
CREATE INDEX deliveries_endpoint_seq ON deliveries (endpoint_id, seq);
-- The open part of each ordered endpoint's queue: turns, heads and drains
-- read only this, however long the endpoint's history grows.
CREATE INDEX deliveries_open_ordered ON deliveries (endpoint_id, seq)
    WHERE seq > 0 AND status IN ('pending', 'delivering');
CREATE INDEX deliveries_endpoint_status ON deliveries (endpoint_id, status, finished_at);

CREATE TABLE attempts (
    app_id          TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    endpoint_id     TEXT NOT NULL,
    attempt         INTEGER NOT NULL,
    started_at      TIMESTAMPTZ NOT NULL,
    duration_ms     BIGINT NOT NULL,
    response_status INTEGER NOT NULL DEFAULT 0,
    error           TEXT NOT NULL DEFAULT '',
    response_body   TEXT NOT NULL DEFAULT '',
    -- attempt_key is the workflow's name for this attempt (run, coroutine,
    -- attempt index): a local activity re-run after a failed workflow task
    -- finds its attempt here instead of POSTing again.
    attempt_key     TEXT,
    outcome         TEXT NOT NULL DEFAULT '',
    retry_in_ms     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (app_id, event_id, endpoint_id, attempt),
    FOREIGN KEY (app_id, event_id, endpoint_id)
        REFERENCES deliveries (app_id, event_id, endpoint_id) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE attempts;
DROP TABLE deliveries;
DROP TABLE events;
DROP TABLE rate_buckets;
DROP TABLE endpoints;
DROP TABLE event_types;
DROP TABLE apps;
