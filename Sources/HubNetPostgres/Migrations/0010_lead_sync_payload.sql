-- Each lead keeps its record as devices receive it (`sync_payload`, JSON as text), built once per
-- write by the row trigger that also bumps the version. A snapshot then reads stored bytes instead
-- of building every lead's JSON, and the change log copies them.
--
-- The lead's change rows are written per statement, from the statement's transition tables, in
-- one INSERT (audiences, drops and gains computed there), instead of one PL/pgSQL call, two JSON
-- builds and one INSERT per row. The guarantee is unchanged: the database writes the change rows
-- in the writing statement, so no code path can forget one. The rules are those of 0006:
--   insert            → upsert to the new audience;
--   update, withdrawn → nothing (a withdrawn lead is gone from every device already);
--   update, now withdrawn (re-referred elsewhere) → delete to the old audience;
--   update, version moved (the synced fields changed) → upsert to the new audience, with the
--                       users who left it (dropped) and who joined it (gained);
--   delete, not withdrawn → delete to the old audience.

ALTER TABLE leads ADD COLUMN sync_payload TEXT;

DROP TRIGGER leads_sync_version ON leads;
DROP TRIGGER leads_sync ON leads;
DROP FUNCTION hubnet_sync_bump_lead_version();
DROP FUNCTION hubnet_sync_lead_change();

UPDATE leads SET sync_payload = hubnet_sync_lead(leads)::TEXT;

-- A change to a lead's synced fields bumps its version, whichever code path made it (a writer may
-- also move the version itself); the stored record follows.
CREATE FUNCTION hubnet_sync_lead_payload() RETURNS TRIGGER
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
    RETURN NEW;
END
$$;
CREATE TRIGGER leads_sync_payload BEFORE INSERT OR UPDATE ON leads FOR EACH ROW EXECUTE FUNCTION hubnet_sync_lead_payload();

CREATE FUNCTION hubnet_sync_leads_inserted() RETURNS TRIGGER
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO sync_changes (tenant_id, entity, entity_id, lead_id, op, audience, dropped, gained, payload)
    SELECT n.tenant_id, 'lead', n.id, n.id, 'upsert', hubnet_lead_audience(n), '{}', '{}', n.sync_payload
    FROM new_rows n;
    RETURN NULL;
END
$$;

CREATE FUNCTION hubnet_sync_leads_updated() RETURNS TRIGGER
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO sync_changes (tenant_id, entity, entity_id, lead_id, op, audience, dropped, gained, payload)
    SELECT n.tenant_id, 'lead', n.id, n.id,
        CASE WHEN n.withdrawn_at IS NULL THEN 'upsert' ELSE 'delete' END,
        CASE WHEN n.withdrawn_at IS NULL THEN a.new ELSE a.old END,
        CASE WHEN n.withdrawn_at IS NULL THEN hubnet_uuid_minus(a.old, a.new) ELSE '{}' END,
        CASE WHEN n.withdrawn_at IS NULL THEN hubnet_uuid_minus(a.new, a.old) ELSE '{}' END,
        CASE WHEN n.withdrawn_at IS NULL THEN n.sync_payload END
    FROM new_rows n
    JOIN old_rows o ON o.tenant_id = n.tenant_id AND o.id = n.id
    CROSS JOIN LATERAL (SELECT hubnet_lead_audience(o) AS old, hubnet_lead_audience(n) AS new) a
    WHERE o.withdrawn_at IS NULL AND (n.withdrawn_at IS NOT NULL OR n.version <> o.version);
    RETURN NULL;
END
$$;

CREATE FUNCTION hubnet_sync_leads_deleted() RETURNS TRIGGER
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO sync_changes (tenant_id, entity, entity_id, lead_id, op, audience, dropped, gained, payload)
    SELECT o.tenant_id, 'lead', o.id, o.id, 'delete', hubnet_lead_audience(o), '{}', '{}', NULL
    FROM old_rows o
    WHERE o.withdrawn_at IS NULL;
    RETURN NULL;
END
$$;

CREATE TRIGGER leads_sync_insert AFTER INSERT ON leads
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION hubnet_sync_leads_inserted();
CREATE TRIGGER leads_sync_update AFTER UPDATE ON leads
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION hubnet_sync_leads_updated();
CREATE TRIGGER leads_sync_delete AFTER DELETE ON leads
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION hubnet_sync_leads_deleted();
