-- Append in one round trip (as Message DB's write_message does): the expected-version check,
-- the idempotency check on event ids and the insert run server-side in one call.
-- It reports its outcome instead of raising, and catches the unique-violation race in a
-- server-side subtransaction, so an append never aborts the caller's transaction and the
-- client needs no savepoints. Outcomes: 'appended', 'duplicate' (every id stored already: a
-- no-op), 'partial' (some ids stored, some not), 'conflict' (wrong expected version).
-- p_notify: NOTIFY inside the caller's transaction. A NOTIFY serialises every notifying
-- commit on one lock, so autocommit appends skip it and the store notifies after commit.
CREATE OR REPLACE FUNCTION append_events(
    p_stream text, p_category text, p_expected integer, p_ids uuid[], p_types text[],
    p_data jsonb[], p_metadata jsonb[], p_occurred_at timestamptz[], p_notify boolean,
    OUT version integer, OUT outcome text
) LANGUAGE plpgsql AS $$
DECLARE
    v_stored     integer;
    v_constraint text;
BEGIN
    SELECT count(*) INTO v_stored FROM events WHERE id = ANY(p_ids);
    SELECT coalesce(max(e.version), 0) INTO version FROM events e WHERE e.stream = p_stream;
    IF v_stored = cardinality(p_ids) THEN
        outcome := 'duplicate';
        RETURN;
    END IF;
    IF v_stored > 0 THEN
        outcome := 'partial';
        RETURN;
    END IF;
    IF p_expected IS NOT NULL AND p_expected <> version THEN
        outcome := 'conflict';
        RETURN;
    END IF;
    BEGIN
        INSERT INTO events (stream, category, version, id, type, data, metadata, occurred_at)
        SELECT p_stream, p_category, version + n, t.id, t.type, t.data, t.metadata, t.occurred_at
        FROM unnest(p_ids, p_types, p_data, p_metadata, p_occurred_at)
             WITH ORDINALITY AS t(id, type, data, metadata, occurred_at, n);
    EXCEPTION WHEN unique_violation THEN
        -- A concurrent writer won: the same events ('duplicate') or this version ('conflict').
        GET STACKED DIAGNOSTICS v_constraint = CONSTRAINT_NAME;
        SELECT coalesce(max(e.version), 0) INTO version FROM events e WHERE e.stream = p_stream;
        outcome := CASE WHEN v_constraint = 'events_id_key' THEN 'duplicate' ELSE 'conflict' END;
        RETURN;
    END;
    IF p_notify THEN
        PERFORM pg_notify('events_' || current_schema(), '');
    END IF;
    version := version + cardinality(p_ids);
    outcome := 'appended';
END $$;
