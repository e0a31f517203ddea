-- Less work per changed row in the change log's triggers; what they write is unchanged.
--
-- 1. The seal is queued once per transaction, not once per change row. The deferred constraint
--    trigger of 0006 fired for every row a transaction added to sync_changes: a push of 100 edits
--    queued 100 events and made 100 calls, at COMMIT, of a SECURITY DEFINER function with its own
--    search_path, all but the first returning at once. A constraint trigger's WHEN is evaluated
--    when the row is written, and an event it refuses is never queued: now only the transaction's
--    first change row queues the seal. The mark it leaves is a transaction-local setting, so a
--    savepoint rolled back takes the mark away with the queued event, and the next change row
--    queues the seal again. The seal still numbers every unsealed row of the transaction.
-- 2. An update that leaves a lead's audience inputs as they were (team, assignee, creator, unit,
--    withdrawal) keeps its stored audience instead of computing it again (a query per row). A
--    statement that writes the audience itself (a unit's members changed) still gets it computed.
-- 3. An update whose audience did not change has nobody dropped or gained, without the two queries
--    per row that worked that out.

CREATE FUNCTION hubnet_sync_seal_queued() RETURNS BOOLEAN
    LANGUAGE plpgsql VOLATILE
    AS $$
DECLARE
    me TEXT := pg_current_xact_id()::TEXT;
BEGIN
    IF current_setting('hubnet.sync_seal_queued', true) = me THEN
        RETURN false;
    END IF;
    PERFORM set_config('hubnet.sync_seal_queued', me, true);
    RETURN true;
END
$$;
GRANT EXECUTE ON FUNCTION hubnet_sync_seal_queued() TO hubnet_app;

DROP TRIGGER sync_changes_seal ON sync_changes;
CREATE CONSTRAINT TRIGGER sync_changes_seal AFTER INSERT ON sync_changes
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (hubnet_sync_seal_queued()) EXECUTE FUNCTION hubnet_sync_seal();

CREATE OR REPLACE FUNCTION hubnet_sync_lead_record() RETURNS TRIGGER
    LANGUAGE plpgsql
    AS $$
DECLARE
    payload JSONB := hubnet_sync_lead(NEW);
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.version = OLD.version AND payload::TEXT IS DISTINCT FROM OLD.sync_payload THEN
        NEW.version := OLD.version + 1;
        payload := jsonb_set(payload, '{version}', to_jsonb(NEW.version));
    END IF;
    NEW.sync_payload := payload::TEXT;
    IF TG_OP = 'UPDATE' AND OLD.sync_audience IS NOT NULL
        AND NEW.sync_audience IS NOT DISTINCT FROM OLD.sync_audience
        AND NEW.team IS NOT DISTINCT FROM OLD.team
        AND NEW.assigned_user_id IS NOT DISTINCT FROM OLD.assigned_user_id
        AND NEW.created_by IS NOT DISTINCT FROM OLD.created_by
        AND NEW.assigned_unit_id IS NOT DISTINCT FROM OLD.assigned_unit_id
        AND NEW.withdrawn_at IS NOT DISTINCT FROM OLD.withdrawn_at
    THEN
        RETURN NEW;
    END IF;
    NEW.sync_audience := hubnet_lead_audience(NEW);
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION hubnet_sync_leads_updated() RETURNS TRIGGER
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO sync_changes (tenant_id, entity, entity_id, lead_id, op, audience, dropped, gained, payload)
    SELECT n.tenant_id, 'lead', n.id, n.id,
        CASE WHEN n.withdrawn_at IS NULL THEN 'upsert' ELSE 'delete' END,
        CASE WHEN n.withdrawn_at IS NULL THEN n.sync_audience ELSE o.sync_audience END,
        CASE WHEN n.withdrawn_at IS NOT NULL OR n.sync_audience = o.sync_audience THEN '{}'
            ELSE hubnet_uuid_minus(o.sync_audience, n.sync_audience) END,
        CASE WHEN n.withdrawn_at IS NOT NULL OR n.sync_audience = o.sync_audience THEN '{}'
            ELSE hubnet_uuid_minus(n.sync_audience, o.sync_audience) END,
        CASE WHEN n.withdrawn_at IS NULL THEN n.sync_payload END
    FROM new_rows n
    JOIN old_rows o ON o.tenant_id = n.tenant_id AND o.id = n.id
    WHERE o.withdrawn_at IS NULL AND (n.withdrawn_at IS NOT NULL OR n.version <> o.version);
    RETURN NULL;
END
$$;
