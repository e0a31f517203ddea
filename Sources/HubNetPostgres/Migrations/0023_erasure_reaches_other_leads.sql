-- Erasure reaches the person's name in other leads' notes and activities too.
--
-- 0015 erased the lead's own notes and activities and redacted the person's values in the change
-- log, outbox, delivery log and device mutation log, but a note on another lead ("called Zebulon
-- Quartermaine's sister") kept them. Now those notes and activity titles are redacted as well.
-- For a device to receive the redacted note, a note needs a version: its record always said 1,
-- and the SDK keeps the highest version it holds. Notes now carry one, bumped by any change of the
-- row, as activities' and referrals' are. (A history entry's reason stays: the history is a hash
-- chain, and the evidence it is must verify.)

ALTER TABLE lead_notes ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
CREATE TRIGGER lead_notes_sync_version BEFORE UPDATE ON lead_notes FOR EACH ROW EXECUTE FUNCTION hubnet_sync_bump_version();

CREATE OR REPLACE FUNCTION hubnet_sync_note(n lead_notes) RETURNS JSONB
    LANGUAGE sql STABLE
    AS $$
    SELECT jsonb_build_object('id', n.id, 'lead_id', n.lead_id, 'author_id', n.author_id, 'body', n.body,
        'created_at', hubnet_micros(n.created_at), 'version', n.version)
    $$;

CREATE OR REPLACE FUNCTION hubnet_erase_lead(p_erasure UUID, p_requester UUID, p_lead UUID, p_at TIMESTAMPTZ) RETURNS INTEGER
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
        -- Other leads' notes and activities that name the person: the values redacted, the rest
        -- kept (their triggers send the new versions to the devices that hold them).
        UPDATE lead_notes SET body = hubnet_redact(body, vals)
        WHERE tenant_id = t AND lead_id <> p_lead AND hubnet_mentions(body, vals);
        UPDATE lead_activities SET title = hubnet_redact(title, vals)
        WHERE tenant_id = t AND lead_id <> p_lead AND hubnet_mentions(title, vals);
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
