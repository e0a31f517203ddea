-- Each lead keeps its record as devices receive it (`sync_payload`, JSON as text) and who sees it
-- through their own work (`sync_audience`), both set once per write by the row trigger that also
-- bumps the version. A snapshot then reads stored bytes instead of building every lead's JSON, the
-- change log copies them, and a note or activity takes its lead's audience by a key lookup instead
-- of recomputing it. When a unit's members change, the stored audiences of its leads follow.
--
-- The lead's change rows are written per statement, from the statement's transition tables, in
-- one INSERT, instead of one PL/pgSQL call, two JSON builds, two audience computations and one
-- INSERT per row. The guarantee is unchanged: the database writes the change rows in the writing
-- statement, so no code path can forget one. The rules are those of 0006:
--   insert            → upsert to the new audience;
--   update, withdrawn → nothing (a withdrawn lead is gone from every device already);
--   update, now withdrawn (re-referred elsewhere) → delete to the old audience;
--   update, version moved (the synced fields changed) → upsert to the new audience, with the
--                       users who left it (dropped) and who joined it (gained);
--   delete, not withdrawn → delete to the old audience.

ALTER TABLE leads ADD COLUMN sync_payload TEXT, ADD COLUMN sync_audience UUID[];

DROP TRIGGER leads_sync_version ON leads;
DROP TRIGGER leads_sync ON leads;
DROP FUNCTION hubnet_sync_bump_lead_version();
DROP FUNCTION hubnet_sync_lead_change();

-- The same audience as 0006 (sorted, distinct, no nulls; none for a withdrawn lead), without a
-- unit lookup for leads outside units.
CREATE OR REPLACE FUNCTION hubnet_lead_audience(l leads) RETURNS UUID[]
    LANGUAGE plpgsql STABLE
    AS $$
DECLARE
    members UUID[] := l.team || l.assigned_user_id || l.created_by;
BEGIN
    IF l.withdrawn_at IS NOT NULL THEN
        RETURN '{}';
    END IF;
    IF l.assigned_unit_id IS NOT NULL THEN
        members := members || ARRAY(
            SELECT m.user_id FROM unit_members m WHERE m.tenant_id = l.tenant_id AND m.unit_id = l.assigned_unit_id);
    END IF;
    RETURN ARRAY(SELECT DISTINCT u FROM unnest(members) u WHERE u IS NOT NULL ORDER BY u);
END
$$;

-- Users in a but not in b, sorted. PL/pgSQL keeps its plan for the session; the SQL function of
-- 0006 was parsed and planned again at every statement that called it.
CREATE OR REPLACE FUNCTION hubnet_uuid_minus(a UUID[], b UUID[]) RETURNS UUID[]
    LANGUAGE plpgsql IMMUTABLE
    AS $$
BEGIN
    RETURN ARRAY(SELECT x FROM unnest(a) x WHERE NOT x = ANY(b) ORDER BY x);
END
$$;

UPDATE leads SET sync_payload = hubnet_sync_lead(leads)::TEXT, sync_audience = hubnet_lead_audience(leads);

-- A unit's leads, found when its members change.
CREATE INDEX leads_unit_idx ON leads (tenant_id, assigned_unit_id) WHERE assigned_unit_id IS NOT NULL;

-- A change to a lead's synced fields bumps its version, whichever code path made it (a writer may
-- also move the version itself); the stored record and audience follow.
CREATE FUNCTION hubnet_sync_lead_record() RETURNS TRIGGER
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
    NEW.sync_audience := hubnet_lead_audience(NEW);
    RETURN NEW;
END
$$;
CREATE TRIGGER leads_sync_record BEFORE INSERT OR UPDATE ON leads FOR EACH ROW EXECUTE FUNCTION hubnet_sync_lead_record();

CREATE FUNCTION hubnet_sync_leads_inserted() RETURNS TRIGGER
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO sync_changes (tenant_id, entity, entity_id, lead_id, op, audience, dropped, gained, payload)
    SELECT n.tenant_id, 'lead', n.id, n.id, 'upsert', n.sync_audience, '{}', '{}', n.sync_payload
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
        CASE WHEN n.withdrawn_at IS NULL THEN n.sync_audience ELSE o.sync_audience END,
        CASE WHEN n.withdrawn_at IS NULL THEN hubnet_uuid_minus(o.sync_audience, n.sync_audience) ELSE '{}' END,
        CASE WHEN n.withdrawn_at IS NULL THEN hubnet_uuid_minus(n.sync_audience, o.sync_audience) ELSE '{}' END,
        CASE WHEN n.withdrawn_at IS NULL THEN n.sync_payload END
    FROM new_rows n
    JOIN old_rows o ON o.tenant_id = n.tenant_id AND o.id = n.id
    WHERE o.withdrawn_at IS NULL AND (n.withdrawn_at IS NOT NULL OR n.version <> o.version);
    RETURN NULL;
END
$$;

CREATE FUNCTION hubnet_sync_leads_deleted() RETURNS TRIGGER
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO sync_changes (tenant_id, entity, entity_id, lead_id, op, audience, dropped, gained, payload)
    SELECT o.tenant_id, 'lead', o.id, o.id, 'delete', o.sync_audience, '{}', '{}', NULL
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

-- Notes and activities take their lead's stored audience.
CREATE OR REPLACE FUNCTION hubnet_sync_notes_inserted() RETURNS TRIGGER
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO sync_changes (tenant_id, entity, entity_id, lead_id, op, audience, dropped, gained, payload)
    SELECT n.tenant_id, 'note', n.id, n.lead_id, 'upsert', COALESCE(l.sync_audience, '{}'), '{}', '{}', hubnet_sync_note(n)::TEXT
    FROM new_rows n
    LEFT JOIN leads l ON l.tenant_id = n.tenant_id AND l.id = n.lead_id;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION hubnet_sync_activities_inserted() RETURNS TRIGGER
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO sync_changes (tenant_id, entity, entity_id, lead_id, op, audience, dropped, gained, payload)
    SELECT n.tenant_id, 'activity', n.id, n.lead_id, 'upsert', COALESCE(l.sync_audience, '{}'), '{}', '{}', hubnet_sync_activity(n)::TEXT
    FROM new_rows n
    LEFT JOIN leads l ON l.tenant_id = n.tenant_id AND l.id = n.lead_id;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION hubnet_sync_lead_part_change() RETURNS TRIGGER
    LANGUAGE plpgsql
    AS $$
DECLARE
    audience UUID[];
BEGIN
    SELECT l.sync_audience INTO audience FROM leads l WHERE l.tenant_id = NEW.tenant_id AND l.id = NEW.lead_id;
    IF TG_TABLE_NAME = 'lead_notes' THEN
        PERFORM hubnet_sync_record(NEW.tenant_id, 'note', NEW.id, NEW.lead_id, 'upsert', COALESCE(audience, '{}'), '{}', '{}', hubnet_sync_note(NEW));
    ELSE
        PERFORM hubnet_sync_record(NEW.tenant_id, 'activity', NEW.id, NEW.lead_id, 'upsert', COALESCE(audience, '{}'), '{}', '{}', hubnet_sync_activity(NEW));
    END IF;
    RETURN NULL;
END
$$;

-- A unit's members changed: its leads' stored audiences follow (the member's own devices are told
-- to re-sync their view by unit_members_sync; nobody else's view changes).
CREATE FUNCTION hubnet_sync_unit_audience() RETURNS TRIGGER
    LANGUAGE plpgsql
    AS $$
DECLARE
    member unit_members;
BEGIN
    IF TG_OP = 'DELETE' THEN member := OLD; ELSE member := NEW; END IF;
    UPDATE leads l SET sync_audience = hubnet_lead_audience(l)
    WHERE l.tenant_id = member.tenant_id AND l.assigned_unit_id = member.unit_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER unit_members_audience AFTER INSERT OR DELETE ON unit_members FOR EACH ROW EXECUTE FUNCTION hubnet_sync_unit_audience();
