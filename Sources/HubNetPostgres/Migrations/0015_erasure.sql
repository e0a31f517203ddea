-- Erasure of a person: their details are replaced by a marker in every row that held them, in
-- every tenant that received a copy; devices get a purge and acknowledge it. Counts, statuses and
-- the hash-chained history (which holds no personal field) stay as they were.

-- Devices drop everything they hold of a lead on `purge`, before its redacted record arrives.
ALTER TABLE sync_changes DROP CONSTRAINT sync_changes_op_check;
ALTER TABLE sync_changes ADD CONSTRAINT sync_changes_op_check CHECK (op IN ('upsert', 'delete', 'reset', 'purge'));

ALTER TABLE leads ADD COLUMN erased_at TIMESTAMPTZ;

-- An erasure as requested, in the requesting tenant.
CREATE TABLE erasures (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    requested_by UUID,
    requested_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT erasures_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT erasures_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE
);
SELECT hubnet_isolate_tenant_table('erasures');
GRANT SELECT, INSERT ON erasures TO hubnet_app;

-- Each copy it erased, in the tenant that held it (the requester's own leads included).
CREATE TABLE erasure_copies (
    tenant_id UUID NOT NULL,
    erasure_id UUID NOT NULL,
    requester_id UUID NOT NULL,
    lead_id UUID NOT NULL,
    erased_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT erasure_copies_pkey PRIMARY KEY (tenant_id, erasure_id, lead_id),
    CONSTRAINT erasure_copies_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE
);
SELECT hubnet_isolate_tenant_table('erasure_copies');
GRANT SELECT ON erasure_copies TO hubnet_app;

-- Each device that may hold an erased copy, until its next pull after the purge acknowledges it.
CREATE TABLE erasure_devices (
    tenant_id UUID NOT NULL,
    erasure_id UUID NOT NULL,
    requester_id UUID NOT NULL,
    device_id UUID NOT NULL,
    lead_id UUID NOT NULL,
    change_id BIGINT NOT NULL,
    acknowledged_at TIMESTAMPTZ,
    CONSTRAINT erasure_devices_pkey PRIMARY KEY (tenant_id, erasure_id, device_id, lead_id),
    CONSTRAINT erasure_devices_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE
);
SELECT hubnet_isolate_tenant_table('erasure_devices');
GRANT SELECT, UPDATE ON erasure_devices TO hubnet_app;
CREATE INDEX erasure_devices_pending_idx ON erasure_devices (tenant_id, device_id) WHERE acknowledged_at IS NULL;

-- Whether a text holds any of the values.
CREATE FUNCTION hubnet_mentions(t TEXT, vals TEXT[]) RETURNS BOOLEAN
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT t IS NOT NULL AND EXISTS (SELECT 1 FROM unnest(vals) AS v WHERE strpos(lower(t), lower(v)) > 0) $$;

-- The text with every value (in any case, and as JSON spells it) replaced by the marker.
CREATE FUNCTION hubnet_redact(t TEXT, vals TEXT[]) RETURNS TEXT
    LANGUAGE plpgsql IMMUTABLE
    AS $$
DECLARE
    v TEXT;
    spelled TEXT;
BEGIN
    IF t IS NULL THEN RETURN NULL; END IF;
    FOREACH v IN ARRAY vals LOOP
        FOREACH spelled IN ARRAY ARRAY[v, substr(to_json(v)::TEXT, 2, length(to_json(v)::TEXT) - 2)] LOOP
            t := regexp_replace(t, regexp_replace(spelled, '([\\^$.|?*+()\[\]{}])', '\\\1', 'g'), '[erased]', 'gi');
        END LOOP;
    END LOOP;
    RETURN t;
END
$$;

-- Erases one lead of the current tenant: its personal fields, its notes and activities, its CRM
-- client, and every trace of the person's name, email and phone in the tenant's outbox, delivery
-- log, device mutation log and change log. Devices of people who may hold it get a purge (written
-- before the redacted records, so they drop everything first) and are listed for acknowledgement.
-- The only sanctioned rewrite of append-only rows; SECURITY DEFINER, confined to the current tenant.
-- Returns how many devices must acknowledge; NULL for no such lead.
CREATE FUNCTION hubnet_erase_lead(p_erasure UUID, p_requester UUID, p_lead UUID, p_at TIMESTAMPTZ) RETURNS INTEGER
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public, pg_temp
    AS $$
DECLARE
    t UUID := hubnet_current_tenant();
    l leads;
    vals TEXT[];
    purge_id BIGINT;
    device_count INTEGER;
BEGIN
    SELECT * INTO l FROM leads WHERE tenant_id = t AND id = p_lead FOR UPDATE;
    IF NOT FOUND THEN RETURN NULL; END IF;
    SELECT ARRAY(
        SELECT DISTINCT v FROM unnest(ARRAY[
            CASE WHEN NOT l.identity_withheld AND l.erased_at IS NULL THEN l.contact_name END,
            l.contact_email, l.contact_phone, regexp_replace(l.contact_phone, '[^0-9+]', '', 'g'),
            c.name, c.email]) AS v
        WHERE v IS NOT NULL AND length(v) >= 3 AND v <> '[erased]')
    INTO vals
    FROM (SELECT NULL) AS one LEFT JOIN clients AS c ON c.tenant_id = t AND c.lead_id = p_lead;

    INSERT INTO sync_changes (tenant_id, entity, entity_id, lead_id, op, audience)
    VALUES (t, 'lead', p_lead, p_lead, 'purge', l.sync_audience)
    RETURNING id INTO purge_id;

    -- The change log's earlier records of the lead and of its notes and activities.
    UPDATE sync_changes SET payload = (payload::JSONB || jsonb_build_object(
            'name', '[erased]', 'email', NULL, 'phone', NULL, 'city', NULL, 'region', NULL, 'request', NULL))::TEXT
    WHERE tenant_id = t AND entity = 'lead' AND entity_id = p_lead AND payload IS NOT NULL;
    UPDATE sync_changes SET payload = jsonb_set(payload::JSONB, '{body}', '"[erased]"')::TEXT
    WHERE tenant_id = t AND entity = 'note' AND lead_id = p_lead AND payload IS NOT NULL;
    UPDATE sync_changes SET payload = jsonb_set(payload::JSONB, '{title}', '"[erased]"')::TEXT
    WHERE tenant_id = t AND entity = 'activity' AND lead_id = p_lead AND payload IS NOT NULL;

    IF cardinality(vals) > 0 THEN
        UPDATE sync_changes SET payload = hubnet_redact(payload, vals)
        WHERE tenant_id = t AND hubnet_mentions(payload, vals);
        UPDATE outbox SET recipient = hubnet_redact(recipient, vals), subject = hubnet_redact(subject, vals),
            body = hubnet_redact(body, vals), last_error = hubnet_redact(last_error, vals)
        WHERE tenant_id = t AND (hubnet_mentions(recipient, vals) OR hubnet_mentions(subject, vals)
            OR hubnet_mentions(body, vals) OR hubnet_mentions(last_error, vals));
        UPDATE deliveries SET detail = hubnet_redact(detail, vals) WHERE tenant_id = t AND hubnet_mentions(detail, vals);
        UPDATE sync_mutations SET reason = hubnet_redact(reason, vals), result = hubnet_redact(result::TEXT, vals)::JSONB
        WHERE tenant_id = t AND (hubnet_mentions(reason, vals) OR hubnet_mentions(result::TEXT, vals));
    END IF;

    -- The rows themselves (their triggers write the redacted records to the change log).
    UPDATE leads SET contact_name = '[erased]', contact_email = NULL, contact_phone = NULL, city = NULL, region = NULL,
        request = NULL, erased_at = p_at
    WHERE tenant_id = t AND id = p_lead;
    UPDATE lead_notes SET body = '[erased]' WHERE tenant_id = t AND lead_id = p_lead;
    UPDATE lead_activities SET title = '[erased]' WHERE tenant_id = t AND lead_id = p_lead;
    UPDATE advising_sessions AS s SET summary = '[erased]'
    FROM clients AS c WHERE c.tenant_id = t AND c.lead_id = p_lead AND s.tenant_id = t AND s.client_id = c.id AND s.summary IS NOT NULL;
    UPDATE clients SET name = '[erased]', email = NULL, city = NULL WHERE tenant_id = t AND lead_id = p_lead;
    UPDATE email_action_links SET expires_at = LEAST(expires_at, p_at) WHERE tenant_id = t AND lead_id = p_lead;

    INSERT INTO erasure_copies (tenant_id, erasure_id, requester_id, lead_id, erased_at)
    VALUES (t, p_erasure, p_requester, p_lead, p_at) ON CONFLICT DO NOTHING;
    INSERT INTO erasure_devices (tenant_id, erasure_id, requester_id, device_id, lead_id, change_id)
    SELECT t, p_erasure, p_requester, d.id, p_lead, purge_id
    FROM devices AS d JOIN users AS u ON u.tenant_id = d.tenant_id AND u.id = d.user_id
    WHERE d.tenant_id = t AND d.revoked_at IS NULL AND d.last_seen_at IS NOT NULL
      AND (u.roles && ARRAY['admin', 'moderator', 'viewer', 'partner_user']::TEXT[] OR u.id = ANY(l.sync_audience))
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS device_count = ROW_COUNT;
    RETURN device_count;
END
$$;
REVOKE ALL ON FUNCTION hubnet_erase_lead(UUID, UUID, UUID, TIMESTAMPTZ) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hubnet_erase_lead(UUID, UUID, UUID, TIMESTAMPTZ) TO hubnet_app;

-- What became of an erasure the current tenant requested, across every tenant it reached:
-- copies erased, and each device's acknowledgement (ids and times only).
CREATE FUNCTION hubnet_erasure_status(p_erasure UUID)
    RETURNS TABLE (organisation_id UUID, lead_id UUID, erased_at TIMESTAMPTZ, device_id UUID, acknowledged_at TIMESTAMPTZ)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp
    AS $$
    SELECT c.tenant_id, c.lead_id, c.erased_at, d.device_id, d.acknowledged_at
    FROM erasure_copies AS c
    LEFT JOIN erasure_devices AS d ON d.tenant_id = c.tenant_id AND d.erasure_id = c.erasure_id AND d.lead_id = c.lead_id
    WHERE c.erasure_id = p_erasure AND c.requester_id = hubnet_current_tenant()
    ORDER BY c.erased_at, c.tenant_id, c.lead_id, d.device_id
    $$;
REVOKE ALL ON FUNCTION hubnet_erasure_status(UUID) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hubnet_erasure_status(UUID) TO hubnet_app;
