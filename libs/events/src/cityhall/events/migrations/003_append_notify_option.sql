-- NOTIFY inside a transaction serialises every notifying commit on one global lock, which
-- defeats group commit. Appends outside a caller's transaction skip it and the store sends
-- one coalesced NOTIFY after they commit (see EventStore.notify).
DROP FUNCTION IF EXISTS append_events(text, text, integer, uuid[], text[], jsonb[], jsonb[], timestamptz[]);
CREATE OR REPLACE FUNCTION append_events(
    p_stream text, p_category text, p_expected integer, p_ids uuid[], p_types text[],
    p_data jsonb[], p_metadata jsonb[], p_occurred_at timestamptz[], p_notify boolean
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
    IF p_notify THEN
        PERFORM pg_notify('events_' || current_schema(), '');
    END IF;
    RETURN v_current + cardinality(p_ids);
END $$;
