-- Append in one round trip (as Message DB's write_message does): the expected-version check,
-- the idempotency check on event ids and the insert run server-side in one statement.
-- SQLSTATE CH001: some of the ids are stored and some are not; CH002: wrong expected version.
CREATE OR REPLACE FUNCTION append_events(
    p_stream text, p_category text, p_expected integer, p_ids uuid[], p_types text[],
    p_data jsonb[], p_metadata jsonb[], p_occurred_at timestamptz[]
) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_stored  integer;
    v_current integer;
BEGIN
    SELECT count(*) INTO v_stored FROM events WHERE id = ANY(p_ids);
    SELECT coalesce(max(version), 0) INTO v_current FROM events WHERE stream = p_stream;
    IF v_stored = cardinality(p_ids) THEN
        RETURN v_current;
    END IF;
    IF v_stored > 0 THEN
        RAISE EXCEPTION 'stream %: some of these events are stored already, some are not', p_stream
            USING ERRCODE = 'CH001';
    END IF;
    IF p_expected IS NOT NULL AND p_expected <> v_current THEN
        RAISE EXCEPTION 'stream %: expected version %, found %', p_stream, p_expected, v_current
            USING ERRCODE = 'CH002', DETAIL = v_current::text;
    END IF;
    INSERT INTO events (stream, category, version, id, type, data, metadata, occurred_at)
    SELECT p_stream, p_category, v_current + n, id, type, data, metadata, occurred_at
    FROM unnest(p_ids, p_types, p_data, p_metadata, p_occurred_at)
         WITH ORDINALITY AS t(id, type, data, metadata, occurred_at, n);
    PERFORM pg_notify('events_' || current_schema(), '');
    RETURN v_current + cardinality(p_ids);
END $$;
