-- The notes of rejected and expired offers led to /offers, the vendors' own
-- list, but the customer is told too and met a 403 there. They now lead to
-- the request, which its owner and every vendor who offered on it may read
-- (issue 10, item 1); the expired note no longer says "your offer" to the
-- customer. Notes written before keep working the same way.
UPDATE notifications n
SET link = '/requests/' || e.request_id,
    title = CASE e.kind
                WHEN 'offer_expired' THEN 'An offer on request #' || e.request_id || ' expired'
                ELSE n.title
            END
FROM events e
WHERE e.id = n.event_id
  AND e.kind IN ('offer_rejected', 'offer_expired')
  AND e.request_id IS NOT NULL
  AND n.link = '/offers';
