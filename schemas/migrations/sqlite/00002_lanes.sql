-- +goose Up
-- ordering_key: the event's lane at ordered endpoints ('' : the endpoint's
-- keyless lane). dispatch: the outbox; what the event's workflow still has
-- to be told ('start' after acceptance, 'replay' after a re-queue), cleared
-- once Temporal took it (dispatch_at: when noted), swept by the workers when a process died between.
ALTER TABLE events ADD COLUMN ordering_key TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN dispatch TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN dispatch_at TEXT;
CREATE INDEX events_app_key_created ON events (app_id, ordering_key, created_at, id);
CREATE INDEX events_dispatch ON events (dispatch_at) WHERE dispatch <> '';

-- lane: the event's ordering key, copied so that a lane's queue is one
-- index range. gen: bumped by every re-queue, so that an attempt made for
-- an earlier generation cannot end the re-queued delivery.
ALTER TABLE deliveries ADD COLUMN lane TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN gen INTEGER NOT NULL DEFAULT 1;
DROP INDEX deliveries_open_ordered;
CREATE INDEX deliveries_open_lanes ON deliveries (endpoint_id, lane, seq)
    WHERE seq > 0 AND status IN ('pending', 'delivering');

-- +goose Down
DROP INDEX deliveries_open_lanes;
CREATE INDEX deliveries_open_ordered ON deliveries (endpoint_id, seq)
    WHERE seq > 0 AND status IN ('pending', 'delivering');
ALTER TABLE deliveries DROP COLUMN gen;
ALTER TABLE deliveries DROP COLUMN lane;
DROP INDEX events_dispatch;
DROP INDEX events_app_key_created;
ALTER TABLE events DROP COLUMN dispatch_at;
ALTER TABLE events DROP COLUMN dispatch;
ALTER TABLE events DROP COLUMN ordering_key;
