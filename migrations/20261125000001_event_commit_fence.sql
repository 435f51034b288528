-- Live events are read in id order behind a commit fence instead of by
-- transaction id (src/market/feed.rs): every event writer holds a shared
-- advisory lock from just before it takes its id until it commits, and the
-- relay briefly takes that lock exclusively to learn up to which id every
-- event is final. The transaction-id horizon it replaces is cluster-wide, so
-- any open write transaction on the server held every live event back.

-- No longer read: the position is the id alone.
ALTER TABLE events DROP COLUMN txid;

-- Ids must be handed out in the order writers take them, whichever session
-- asks: no values cached per session.
ALTER TABLE events ALTER COLUMN id SET CACHE 1;

-- Replays read the events one user may see in id order, a page at a time,
-- from indexes that serve exactly that: each event's audience as rows of
-- its own (filled by a trigger), and the events for every vendor.
CREATE TABLE event_audience (
    user_id         bigint NOT NULL,
    event_id        bigint NOT NULL REFERENCES events (id),
    PRIMARY KEY (user_id, event_id)
);
INSERT INTO event_audience (user_id, event_id)
SELECT DISTINCT u, e.id FROM events e, unnest(e.audience_users) AS u;
-- Kept by the database, so every writer of events fills it alike.
CREATE FUNCTION events_fill_audience() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_audience (user_id, event_id)
    SELECT DISTINCT u, NEW.id FROM unnest(NEW.audience_users) AS u;
    RETURN NULL;
END
$$;
CREATE TRIGGER events_fill_audience AFTER INSERT ON events
    FOR EACH ROW WHEN (cardinality(NEW.audience_users) > 0)
    EXECUTE FUNCTION events_fill_audience();
CREATE INDEX events_all_vendors_idx ON events (id) WHERE all_vendors;
-- Replaced by event_audience (a GIN index cannot give rows in id order).
DROP INDEX events_audience_idx;
