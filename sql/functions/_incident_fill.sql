-- warden._incident_fill(p_text text, p_values jsonb) RETURNS text
--
-- p_text with every placeholder that is a key of p_values ('[TIMESTAMP]',
-- ...) replaced by its value, in a single pass over p_text: a value is
-- never searched for placeholders itself, so a user id such as
-- 'x [INCIDENT_DESCRIPTION]' appears as written. Text in brackets that is
-- no key is left as written; a JSON null value fills in as empty text.
-- NULL when p_text is NULL.
CREATE OR REPLACE FUNCTION warden._incident_fill(
    p_text text,
    p_values jsonb
)
RETURNS text
LANGUAGE sql
IMMUTABLE
STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    -- Each piece after the first followed a '['; it starts with a
    -- placeholder when the text up to its first ']' is a key.
    SELECT coalesce(string_agg(
        CASE
            WHEN p.n = 1 THEN p.piece
            WHEN strpos(p.piece, ']') > 0
                AND p_values ? ('[' || split_part(p.piece, ']', 1) || ']')
                THEN coalesce(
                    p_values ->> ('[' || split_part(p.piece, ']', 1) || ']'),
                    ''
                ) || substr(p.piece, strpos(p.piece, ']') + 1)
            ELSE '[' || p.piece
        END,
        ''
        ORDER BY p.n
    ), '')
    FROM unnest(string_to_array(p_text, '[')) WITH ORDINALITY AS p (piece, n)
$$;

COMMENT ON FUNCTION warden._incident_fill(text, jsonb) IS
'Private: placeholders of a message template filled in a single pass.';

REVOKE ALL ON FUNCTION warden._incident_fill(text, jsonb) FROM PUBLIC;
