-- The platform's commission rate and the rates negotiated with single
-- laundries, as an append-only history: a change is a new row, never an
-- update. The rate in force for a scope is its newest row; with no platform
-- row, the configured default (DHUNE_COMMISSION_BPS) applies. A laundry's
-- row with no rate ends its negotiated rate (the platform's applies again).
-- Orders keep the rate they were created with (orders.commission_bps).
CREATE TABLE commission_rates (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    vendor_id       bigint REFERENCES vendors (user_id),
    bps             integer CHECK (bps BETWEEN 0 AND 10000),
    reason          text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
    set_by          bigint NOT NULL REFERENCES users (id),
    effective_from  timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (bps IS NOT NULL OR vendor_id IS NOT NULL)
);
CREATE INDEX commission_rates_platform_idx ON commission_rates (effective_from DESC, id DESC)
    WHERE vendor_id IS NULL;
CREATE INDEX commission_rates_vendor_idx ON commission_rates (vendor_id, effective_from DESC, id DESC)
    WHERE vendor_id IS NOT NULL;

CREATE FUNCTION commission_rates_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'commission_rates is append-only: add a new row instead';
END;
$$;
CREATE TRIGGER commission_rates_append_only
    BEFORE UPDATE OR DELETE ON commission_rates
    FOR EACH ROW EXECUTE FUNCTION commission_rates_append_only();
