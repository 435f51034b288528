-- Lists show each request's services on one line. Calling
-- request_services_text() for every listed row cost a quarter of the CPU of
-- a customer's list (the function cannot be inlined into the query), so the
-- line is kept on the request. Services are only ever added with their
-- request, in the statement after it; this trigger writes the line in that
-- same statement, for the app and for `dhune generate` alike.
ALTER TABLE requests ADD COLUMN services_text text NOT NULL DEFAULT '';

UPDATE requests SET services_text = request_services_text(id);

CREATE FUNCTION requests_keep_services_text() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE requests r SET services_text = request_services_text(r.id)
    WHERE r.id IN (SELECT DISTINCT request_id FROM added);
    RETURN NULL;
END
$$;

CREATE TRIGGER request_services_text_kept
AFTER INSERT ON request_services
REFERENCING NEW TABLE AS added
FOR EACH STATEMENT EXECUTE FUNCTION requests_keep_services_text();
