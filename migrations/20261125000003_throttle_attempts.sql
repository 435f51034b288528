-- Login and sign-up throttling (issue 9, items 7, 8 and 9), replacing
-- login_failures. An admitted attempt has one row per thing it counts
-- against (market/throttle.rs checks and records under an advisory lock per
-- key, so the limits hold whatever the parallelism); `key` names it:
--   login:<address>                      login attempts from a client address
--   signup:<address>                     sign-up attempts from a client address
--   login-pair:<email> <address>         failed logins on an account from an address
--   login-account:<email>                failed logins on an account from anywhere
-- Rows older than the window are deleted by the sweeps.
CREATE TABLE throttle_attempts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key             text NOT NULL,
    at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX throttle_attempts_key_at_idx ON throttle_attempts (key, at);

DROP TABLE login_failures;
