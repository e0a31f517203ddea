-- Sealing a transaction's changes in time that depends on the transaction, not on the log.
--
-- The seal of 0006 numbered a tenant's unsealed rows with
--   UPDATE sync_changes c SET seq = … FROM (SELECT … FROM sync_changes u WHERE u.xid = me AND
--   u.seq IS NULL AND u.tenant_id = tenant) n WHERE c.tenant_id = tenant AND c.id = n.id
-- and PL/pgSQL keeps that statement's plan for the session. A plan made while the table was small
-- drove the join from every row of the tenant (`tenant_id = $1` on the primary key) and ran the
-- subquery once per row, itself a scan of the tenant: each commit read the tenant's log squared.
-- In the simulator's scale preset this one statement was 30 of PostgreSQL's 47 seconds on the first
-- virtual day, and it grew with every change a tenant had ever made.
--
-- Now both statements reach the transaction's own unsealed changes by `sync_changes_unsealed_idx`
-- (xid, unsealed rows only, so it holds little more than the transactions in flight): first to
-- group them by tenant with their ids in order, then to number each tenant's rows from that list.
-- The update names the transaction and the unsealed state beside the tenant, so a plan has a path
-- that never touches the tenant's log, and it is the cheapest one with or without statistics
-- (`ChangeLogSealTests` holds generic plans to it). The order of the heads' locks (tenants by id)
-- and of the positions (ids in order) is the same as before.
CREATE OR REPLACE FUNCTION hubnet_sync_seal() RETURNS TRIGGER
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
DECLARE
    me XID8 := pg_current_xact_id();
    pending RECORD;
    base BIGINT;
BEGIN
    IF current_setting('hubnet.sync_sealed', true) = me::TEXT THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('hubnet.sync_sealed', me::TEXT, true);
    FOR pending IN
        SELECT u.tenant_id AS tenant, array_agg(u.id ORDER BY u.id) AS ids
        FROM sync_changes u WHERE u.xid = me AND u.seq IS NULL
        GROUP BY u.tenant_id ORDER BY u.tenant_id
    LOOP
        INSERT INTO sync_heads (tenant_id) VALUES (pending.tenant) ON CONFLICT (tenant_id) DO NOTHING;
        SELECT h.seq INTO base FROM sync_heads h WHERE h.tenant_id = pending.tenant FOR UPDATE;
        UPDATE sync_changes c SET seq = base + n.rank
        FROM unnest(pending.ids) WITH ORDINALITY AS n(id, rank)
        WHERE c.xid = me AND c.seq IS NULL AND c.tenant_id = pending.tenant AND c.id = n.id;
        UPDATE sync_heads SET seq = base + cardinality(pending.ids) WHERE tenant_id = pending.tenant;
        -- Live pokes: one per tenant and transaction, delivered to listeners at commit.
        PERFORM pg_notify('hubnet_sync', pending.tenant::TEXT);
    END LOOP;
    RETURN NULL;
END
$$;
