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

-- Replays read a vendor's share of the feed (events for every vendor) in id
-- order; the audience's own events come from the GIN index on audience_users.
CREATE INDEX events_all_vendors_idx ON events (id) WHERE all_vendors;
