-- A request's services on one line, for lists: "Wash & fold 6 kg, Dry clean 2 pieces".
CREATE FUNCTION request_services_text(request bigint) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce(string_agg(
               s.name || ' ' || rs.quantity || ' ' || s.unit
               || CASE WHEN s.unit <> 'kg' AND rs.quantity <> 1 THEN 's' ELSE '' END,
               ', ' ORDER BY s.sort_order), '')
    FROM request_services rs JOIN services s ON s.code = rs.service_code
    WHERE rs.request_id = request
$$;
