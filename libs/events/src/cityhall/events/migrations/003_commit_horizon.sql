-- The lowest transaction id that may still commit rows in this database. Readers in (tx, position)
-- order (the relay, projections, notify's queue) read only below it, so a row committed late with
-- a lower position is never skipped.
-- pg_snapshot_xmin would be the oldest transaction running on the whole server: a transaction of
-- another service's database, which can never write here, would hold back this one's readers (a
-- batch of reservations' turns held back the gateway's webhook answers). So a running transaction
-- is passed over only when pg_stat_activity shows it in another database; one it cannot place
-- (finished meanwhile, prepared, or hidden from this role) still holds the horizon, as before.
-- Call it once per query, as `(SELECT commit_horizon())`: in a WHERE clause it would run per row.
CREATE OR REPLACE FUNCTION commit_horizon() RETURNS xid8 LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        (SELECT min(running.x) FROM pg_snapshot_xip(snapshot.s) AS running(x)
         WHERE NOT EXISTS (
             SELECT 1 FROM pg_stat_activity AS a
             WHERE a.backend_xid = xid(running.x) AND a.datname <> current_database()
         )),
        pg_snapshot_xmax(snapshot.s)
    )
    FROM (SELECT pg_current_snapshot() AS s) AS snapshot
$$;
