-- The sandbox payment provider's own books (issue 11; DESIGN.md, "Money").
-- The sandbox plays another company that happens to be served by this app:
-- nothing here refers to Dhune's tables, and Dhune reaches these rows only
-- through the sandbox's HTTP API, as it would a real provider's.

-- One row per payment started at the sandbox. `pidx` is the sandbox's id for
-- it (random, like Khalti's), `reference` the merchant's (Dhune's payment
-- reference; a merchant may start several payments under one reference).
-- Statuses use Khalti's words. A payment still `Initiated` or `Pending` when
-- `expires_at` passes reads as `Expired` and can no longer be paid.
-- `failing_refunds`: the tester asked that refunds of this payment be refused.
CREATE TABLE sandbox_payments (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pidx            text NOT NULL UNIQUE CHECK (pidx ~ '^[A-Za-z0-9]{1,64}$'),
    reference       text NOT NULL CHECK (length(reference) BETWEEN 1 AND 64),
    amount_paisa    bigint NOT NULL CHECK (amount_paisa > 0),
    refunded_paisa  bigint NOT NULL DEFAULT 0,
    status          text NOT NULL DEFAULT 'Initiated'
                    CHECK (status IN ('Initiated', 'Pending', 'Completed', 'User canceled',
                                      'Partially refunded', 'Refunded')),
    description     text NOT NULL CHECK (length(description) BETWEEN 1 AND 500),
    return_url      text NOT NULL CHECK (length(return_url) BETWEEN 1 AND 2000),
    callback_url    text NOT NULL CHECK (length(callback_url) BETWEEN 1 AND 2000),
    failing_refunds boolean NOT NULL DEFAULT false,
    transaction_id  text UNIQUE,
    expires_at      timestamptz NOT NULL DEFAULT now() + interval '30 minutes',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sandbox_payments_refunded_within_amount
        CHECK (refunded_paisa BETWEEN 0 AND amount_paisa),
    -- Money moved exactly when the payment was completed.
    CONSTRAINT sandbox_payments_paid_has_transaction CHECK (
        (transaction_id IS NOT NULL)
        = (status IN ('Completed', 'Partially refunded', 'Refunded'))),
    CONSTRAINT sandbox_payments_status_matches_refunds CHECK (CASE status
        WHEN 'Partially refunded' THEN refunded_paisa > 0 AND refunded_paisa < amount_paisa
        WHEN 'Refunded' THEN refunded_paisa = amount_paisa
        ELSE refunded_paisa = 0 END)
);
CREATE INDEX sandbox_payments_created_idx ON sandbox_payments (created_at DESC);

-- Each refund the sandbox made, so a payment's refunded_paisa is their sum.
CREATE TABLE sandbox_refunds (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payment_id      bigint NOT NULL REFERENCES sandbox_payments (id),
    amount_paisa    bigint NOT NULL CHECK (amount_paisa > 0),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sandbox_refunds_payment_idx ON sandbox_refunds (payment_id, id);
