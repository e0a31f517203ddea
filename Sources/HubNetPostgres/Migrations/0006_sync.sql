-- Offline sync. Every change to a synced record is written to its tenant's change log by a trigger
-- in the writing transaction, so no write path (API, sync push, timers, referrals, email links)
-- can forget to record one. See Sources/HubNetServer/Sync for the protocol.

-- The server epoch: a cursor minted under another epoch (a restored or replaced database) makes
-- its device reset instead of diverging silently. `hubnet sync new-epoch` replaces it.
CREATE TABLE sync_epoch (
    singleton BOOLEAN NOT NULL DEFAULT true,
    epoch UUID NOT NULL DEFAULT gen_random_uuid(),
    CONSTRAINT sync_epoch_pkey PRIMARY KEY (singleton),
    CONSTRAINT sync_epoch_singleton_check CHECK (singleton)
);
INSERT INTO sync_epoch DEFAULT VALUES;
GRANT SELECT ON sync_epoch TO hubnet_app;

-- Times in sync payloads are integers: microseconds since 1970, exact in every client.
CREATE FUNCTION hubnet_micros(t TIMESTAMPTZ) RETURNS BIGINT
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT (extract(epoch FROM t) * 1000000)::BIGINT $$;

-- The change log. Rows are written by the triggers below as a transaction runs, without a
-- position; at COMMIT a deferred trigger gives them consecutive positions (seq) from their
-- tenant's head, holding the head's row lock until the commit is visible. So seq is commit order
-- within a tenant: a reader that sees position N sees every position below it, and a pull by
-- `seq > cursor` can never skip a change that commits late. Writers of one tenant queue only for
-- that last step; other tenants and long transactions elsewhere never hold a pull back.
-- Each row says who sees it besides the tenant-wide roles (admin, moderator, viewer, partner user):
--   audience: users who see the record through their own work (assignee, creator, team, unit);
--   dropped:  users who saw it before this change and no longer do (they are told to drop it);
--   gained:   users who see it from this change on (they receive the whole record with it).
CREATE TABLE sync_changes (
    tenant_id UUID NOT NULL,
    id BIGINT GENERATED ALWAYS AS IDENTITY,
    xid XID8 NOT NULL DEFAULT pg_current_xact_id(),
    seq BIGINT,
    entity TEXT NOT NULL,
    entity_id UUID NOT NULL,
    lead_id UUID,
    op TEXT NOT NULL,
    audience UUID[] NOT NULL DEFAULT '{}',
    dropped UUID[] NOT NULL DEFAULT '{}',
    gained UUID[] NOT NULL DEFAULT '{}',
    -- The record as devices receive it, JSON kept as text: pulls pass it through untouched.
    payload TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT sync_changes_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT sync_changes_seq_key UNIQUE (tenant_id, seq),
    CONSTRAINT sync_changes_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT sync_changes_entity_check CHECK (entity IN ('lead', 'note', 'activity', 'referral', 'view')),
    CONSTRAINT sync_changes_op_check CHECK (op IN ('upsert', 'delete', 'reset'))
);
CREATE INDEX sync_changes_unsealed_idx ON sync_changes (xid) WHERE seq IS NULL;
CREATE INDEX sync_changes_created_idx ON sync_changes (tenant_id, created_at);
SELECT hubnet_isolate_tenant_table('sync_changes');
GRANT SELECT, INSERT, DELETE ON sync_changes TO hubnet_app;

-- Each tenant's last committed position.
CREATE TABLE sync_heads (
    tenant_id UUID NOT NULL,
    seq BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT sync_heads_pkey PRIMARY KEY (tenant_id),
    CONSTRAINT sync_heads_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id)
);
SELECT hubnet_isolate_tenant_table('sync_heads');
GRANT SELECT ON sync_heads TO hubnet_app;

-- Gives this transaction's changes their positions, tenant by tenant in id order (so two
-- transactions spanning the same tenants lock their heads in one order). Runs as the schema owner:
-- a transaction that spans tenants (a referral) must seal the rows of both.
CREATE FUNCTION hubnet_sync_seal() RETURNS TRIGGER
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
DECLARE
    me XID8 := pg_current_xact_id();
    tenant UUID;
    base BIGINT;
    sealed BIGINT;
BEGIN
    IF current_setting('hubnet.sync_sealed', true) = me::TEXT THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('hubnet.sync_sealed', me::TEXT, true);
    FOR tenant IN SELECT DISTINCT c.tenant_id FROM sync_changes c WHERE c.xid = me AND c.seq IS NULL ORDER BY 1 LOOP
        INSERT INTO sync_heads (tenant_id) VALUES (tenant) ON CONFLICT (tenant_id) DO NOTHING;
        SELECT h.seq INTO base FROM sync_heads h WHERE h.tenant_id = tenant FOR UPDATE;
        UPDATE sync_changes c SET seq = base + n.rank
        FROM (SELECT u.id, row_number() OVER (ORDER BY u.id) AS rank FROM sync_changes u
              WHERE u.xid = me AND u.seq IS NULL AND u.tenant_id = tenant) n
        WHERE c.tenant_id = tenant AND c.id = n.id;
        GET DIAGNOSTICS sealed = ROW_COUNT;
        UPDATE sync_heads SET seq = base + sealed WHERE tenant_id = tenant;
        -- Live pokes: one per tenant and transaction, delivered to listeners at commit.
        PERFORM pg_notify('hubnet_sync', tenant::TEXT);
    END LOOP;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER sync_changes_seal AFTER INSERT ON sync_changes
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION hubnet_sync_seal();

-- Where compaction has cut each tenant's log: a cursor below it must reset.
CREATE TABLE sync_horizons (
    tenant_id UUID NOT NULL,
    seq BIGINT NOT NULL,
    compacted_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT sync_horizons_pkey PRIMARY KEY (tenant_id),
    CONSTRAINT sync_horizons_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id)
);
SELECT hubnet_isolate_tenant_table('sync_horizons');
GRANT SELECT, INSERT, UPDATE ON sync_horizons TO hubnet_app;

-- Each device's mutations and their outcomes: the device's own change log. A replayed mutation
-- answers from here; the device row's last_mutation_id moves in the same transaction.
ALTER TABLE devices ADD COLUMN last_mutation_id BIGINT NOT NULL DEFAULT 0;
CREATE TABLE sync_mutations (
    tenant_id UUID NOT NULL,
    device_id UUID NOT NULL,
    mutation_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    entity_id UUID,
    acted_at TIMESTAMPTZ,
    received_at TIMESTAMPTZ NOT NULL,
    outcome TEXT NOT NULL,
    code TEXT,
    reason TEXT,
    result JSONB,
    CONSTRAINT sync_mutations_pkey PRIMARY KEY (tenant_id, device_id, mutation_id),
    CONSTRAINT sync_mutations_device_fkey FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT sync_mutations_outcome_check CHECK (outcome IN ('applied', 'rejected'))
);
SELECT hubnet_isolate_tenant_table('sync_mutations');
GRANT SELECT, INSERT ON sync_mutations TO hubnet_app;

-- Tenant settings the sync protocol reads. offline_grace_seconds: how late an action taken offline
-- before a deadline (an accept before the lead expired) may arrive and still count; 0 = never.
CREATE TABLE tenant_settings (
    tenant_id UUID NOT NULL,
    offline_grace_seconds INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT tenant_settings_pkey PRIMARY KEY (tenant_id),
    CONSTRAINT tenant_settings_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT tenant_settings_grace_check CHECK (offline_grace_seconds BETWEEN 0 AND 604800)
);
SELECT hubnet_isolate_tenant_table('tenant_settings');
GRANT SELECT, INSERT, UPDATE ON tenant_settings TO hubnet_app;

-- Per-record versions: a client keeps the highest, so applying changes in any order converges.
ALTER TABLE lead_activities ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE referrals ADD COLUMN version INTEGER NOT NULL DEFAULT 1;

-- The records as devices receive them.
CREATE FUNCTION hubnet_sync_lead(l leads) RETURNS JSONB
    LANGUAGE sql STABLE
    AS $$
    SELECT jsonb_build_object(
        'id', l.id, 'template_key', l.template_key, 'status', l.status, 'source', l.source,
        'name', l.contact_name, 'email', l.contact_email, 'phone', l.contact_phone, 'city', l.city,
        'region', l.region, 'request', l.request, 'type', l.type, 'category', l.category,
        'priority', l.priority, 'importance', l.importance, 'probability', l.probability,
        'target_amount', l.target_amount::TEXT, 'products', l.products, 'competitors', to_jsonb(l.competitors),
        'team', to_jsonb(l.team), 'listing_id', l.listing_id, 'referral_id', l.referral_id,
        'source_tenant_id', l.source_tenant_id, 'assigned_unit_id', l.assigned_unit_id,
        'assigned_user_id', l.assigned_user_id, 'created_by', l.created_by,
        'created_at', hubnet_micros(l.created_at), 'last_action_at', hubnet_micros(l.last_action_at),
        'accepted_at', hubnet_micros(l.accepted_at), 'declined_at', hubnet_micros(l.declined_at),
        'completed_at', hubnet_micros(l.completed_at), 'expires_at', hubnet_micros(l.expires_at),
        'expected_completion_at', hubnet_micros(l.expected_completion_at), 'opportunity_id', l.opportunity_id,
        'archived', l.archived, 'in_crm', l.in_crm, 'version', l.version)
    $$;

CREATE FUNCTION hubnet_sync_note(n lead_notes) RETURNS JSONB
    LANGUAGE sql STABLE
    AS $$
    SELECT jsonb_build_object('id', n.id, 'lead_id', n.lead_id, 'author_id', n.author_id, 'body', n.body,
        'created_at', hubnet_micros(n.created_at), 'version', 1)
    $$;

CREATE FUNCTION hubnet_sync_activity(a lead_activities) RETURNS JSONB
    LANGUAGE sql STABLE
    AS $$
    SELECT jsonb_build_object('id', a.id, 'lead_id', a.lead_id, 'kind', a.kind, 'title', a.title,
        'due_at', hubnet_micros(a.due_at), 'state', a.state, 'created_by', a.created_by,
        'created_at', hubnet_micros(a.created_at), 'closed_at', hubnet_micros(a.closed_at), 'version', a.version)
    $$;

CREATE FUNCTION hubnet_sync_referral(r referrals) RETURNS JSONB
    LANGUAGE sql STABLE
    AS $$
    SELECT jsonb_build_object('id', r.id, 'source_lead_id', r.source_lead_id, 'target_tenant_id', r.target_tenant_id,
        'target_lead_id', r.target_lead_id, 'target_kind', r.target_kind, 'target_listing_id', r.target_listing_id,
        'created_by', r.created_by, 'created_at', hubnet_micros(r.created_at), 'status', r.status,
        'status_name', r.status_name, 'life_cycle', r.life_cycle, 'stage', r.stage,
        'first_action_at', hubnet_micros(r.first_action_at), 'last_action_at', hubnet_micros(r.last_action_at),
        'accepted_at', hubnet_micros(r.accepted_at), 'declined_at', hubnet_micros(r.declined_at),
        'completed_at', hubnet_micros(r.completed_at), 'reason', r.reason, 'version', r.version)
    $$;

-- Who sees a lead through their own work: VisibilityPolicy.seesWholeTenant in the core says who sees every lead.
CREATE FUNCTION hubnet_lead_audience(l leads) RETURNS UUID[]
    LANGUAGE sql STABLE
    AS $$
    SELECT CASE WHEN l.withdrawn_at IS NOT NULL THEN '{}'::UUID[] ELSE COALESCE(
        (SELECT array_agg(DISTINCT u ORDER BY u) FROM (
            SELECT unnest(l.team) AS u
            UNION ALL SELECT l.assigned_user_id
            UNION ALL SELECT l.created_by
            UNION ALL SELECT m.user_id FROM unit_members m
                WHERE m.tenant_id = l.tenant_id AND m.unit_id = l.assigned_unit_id) s
         WHERE u IS NOT NULL), '{}') END
    $$;

CREATE FUNCTION hubnet_uuid_minus(a UUID[], b UUID[]) RETURNS UUID[]
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT COALESCE(array_agg(x ORDER BY x), '{}') FROM unnest(a) x WHERE NOT x = ANY(b) $$;

-- A change to a record's synced fields bumps its version, whichever code path made it.
CREATE FUNCTION hubnet_sync_bump_lead_version() RETURNS TRIGGER
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF NEW.version = OLD.version AND hubnet_sync_lead(NEW) IS DISTINCT FROM hubnet_sync_lead(OLD) THEN
        NEW.version := OLD.version + 1;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER leads_sync_version BEFORE UPDATE ON leads FOR EACH ROW EXECUTE FUNCTION hubnet_sync_bump_lead_version();

CREATE FUNCTION hubnet_sync_bump_version() RETURNS TRIGGER
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF NEW.version = OLD.version AND NEW IS DISTINCT FROM OLD THEN
        NEW.version := OLD.version + 1;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER lead_activities_sync_version BEFORE UPDATE ON lead_activities FOR EACH ROW EXECUTE FUNCTION hubnet_sync_bump_version();
CREATE TRIGGER referrals_sync_version BEFORE UPDATE ON referrals FOR EACH ROW EXECUTE FUNCTION hubnet_sync_bump_version();

CREATE FUNCTION hubnet_sync_record(
    tenant UUID, entity TEXT, entity_id UUID, lead UUID, op TEXT, audience UUID[], dropped UUID[], gained UUID[], payload JSONB
) RETURNS VOID
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO sync_changes (tenant_id, entity, entity_id, lead_id, op, audience, dropped, gained, payload)
    VALUES (tenant, entity, entity_id, lead, op, audience, dropped, gained, payload::TEXT);
END
$$;

CREATE FUNCTION hubnet_sync_lead_change() RETURNS TRIGGER
    LANGUAGE plpgsql
    AS $$
DECLARE
    old_audience UUID[] := '{}';
    new_audience UUID[];
    payload JSONB;
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.withdrawn_at IS NULL THEN
            PERFORM hubnet_sync_record(OLD.tenant_id, 'lead', OLD.id, OLD.id, 'delete', hubnet_lead_audience(OLD), '{}', '{}', NULL);
        END IF;
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF OLD.withdrawn_at IS NOT NULL THEN
            RETURN NULL;
        END IF;
        old_audience := hubnet_lead_audience(OLD);
        IF NEW.withdrawn_at IS NOT NULL THEN
            -- Re-referred elsewhere: every device that held it drops it.
            PERFORM hubnet_sync_record(NEW.tenant_id, 'lead', NEW.id, NEW.id, 'delete', old_audience, '{}', '{}', NULL);
            RETURN NULL;
        END IF;
    END IF;
    payload := hubnet_sync_lead(NEW);
    IF TG_OP = 'UPDATE' AND payload = hubnet_sync_lead(OLD) THEN
        RETURN NULL;
    END IF;
    new_audience := hubnet_lead_audience(NEW);
    PERFORM hubnet_sync_record(
        NEW.tenant_id, 'lead', NEW.id, NEW.id, 'upsert', new_audience,
        hubnet_uuid_minus(old_audience, new_audience),
        CASE WHEN TG_OP = 'UPDATE' THEN hubnet_uuid_minus(new_audience, old_audience) ELSE '{}' END, payload);
    RETURN NULL;
END
$$;
CREATE TRIGGER leads_sync AFTER INSERT OR UPDATE OR DELETE ON leads FOR EACH ROW EXECUTE FUNCTION hubnet_sync_lead_change();

-- Notes and activities are seen by whoever sees their lead.
CREATE FUNCTION hubnet_sync_lead_part_change() RETURNS TRIGGER
    LANGUAGE plpgsql
    AS $$
DECLARE
    audience UUID[];
BEGIN
    SELECT hubnet_lead_audience(l) INTO audience FROM leads l WHERE l.tenant_id = NEW.tenant_id AND l.id = NEW.lead_id;
    IF TG_TABLE_NAME = 'lead_notes' THEN
        PERFORM hubnet_sync_record(NEW.tenant_id, 'note', NEW.id, NEW.lead_id, 'upsert', COALESCE(audience, '{}'), '{}', '{}', hubnet_sync_note(NEW));
    ELSE
        PERFORM hubnet_sync_record(NEW.tenant_id, 'activity', NEW.id, NEW.lead_id, 'upsert', COALESCE(audience, '{}'), '{}', '{}', hubnet_sync_activity(NEW));
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER lead_notes_sync AFTER INSERT OR UPDATE ON lead_notes FOR EACH ROW EXECUTE FUNCTION hubnet_sync_lead_part_change();
CREATE TRIGGER lead_activities_sync AFTER INSERT OR UPDATE ON lead_activities FOR EACH ROW EXECUTE FUNCTION hubnet_sync_lead_part_change();

-- A referral row is the source side's view of a lead it handed on; a withdrawn one is dropped.
CREATE FUNCTION hubnet_sync_referral_change() RETURNS TRIGGER
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF NEW.withdrawn_at IS NOT NULL THEN
        IF TG_OP = 'UPDATE' AND OLD.withdrawn_at IS NULL THEN
            PERFORM hubnet_sync_record(NEW.tenant_id, 'referral', NEW.id, NULL, 'delete', ARRAY[NEW.created_by], '{}', '{}', NULL);
        END IF;
        RETURN NULL;
    END IF;
    PERFORM hubnet_sync_record(NEW.tenant_id, 'referral', NEW.id, NULL, 'upsert', ARRAY[NEW.created_by], '{}', '{}', hubnet_sync_referral(NEW));
    RETURN NULL;
END
$$;
CREATE TRIGGER referrals_sync AFTER INSERT OR UPDATE ON referrals FOR EACH ROW EXECUTE FUNCTION hubnet_sync_referral_change();

-- A user whose roles, standing or units change sees a different set of records: that user's
-- devices are told to re-sync their view from a snapshot, which drops what left it.
CREATE FUNCTION hubnet_sync_view_change() RETURNS TRIGGER
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_TABLE_NAME = 'users' THEN
        IF NEW.roles IS DISTINCT FROM OLD.roles OR NEW.deactivated_at IS DISTINCT FROM OLD.deactivated_at THEN
            PERFORM hubnet_sync_record(NEW.tenant_id, 'view', NEW.id, NULL, 'reset', ARRAY[NEW.id], '{}', '{}', NULL);
        END IF;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM hubnet_sync_record(OLD.tenant_id, 'view', OLD.user_id, NULL, 'reset', ARRAY[OLD.user_id], '{}', '{}', NULL);
    ELSE
        PERFORM hubnet_sync_record(NEW.tenant_id, 'view', NEW.user_id, NULL, 'reset', ARRAY[NEW.user_id], '{}', '{}', NULL);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER users_sync AFTER UPDATE ON users FOR EACH ROW EXECUTE FUNCTION hubnet_sync_view_change();
CREATE TRIGGER unit_members_sync AFTER INSERT OR DELETE ON unit_members FOR EACH ROW EXECUTE FUNCTION hubnet_sync_view_change();
