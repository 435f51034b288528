-- The key that signs the cookies Dhune reads back (the flash messages, which
-- used to be written into the session row on every form and again when the
-- next page showed them). One key for every instance, so that a message
-- queued on one shows on another: the first instance to start makes it.
-- To change it: delete the row and restart every instance (messages still
-- waiting in browsers are dropped).
CREATE TABLE cookie_key (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    key bytea NOT NULL CHECK (length(key) = 64)
);
