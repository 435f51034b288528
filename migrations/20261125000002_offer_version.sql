-- An offer's version: 1 when made, one more at every change of its price or
-- terms. The accept confirmation carries the version the customer saw, and
-- the accept refuses when the offer has changed since (issue 9, item 5).
ALTER TABLE offers ADD COLUMN version int NOT NULL DEFAULT 1 CHECK (version >= 1);
