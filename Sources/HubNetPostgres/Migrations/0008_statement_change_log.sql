-- Notes and activities are added in batches (a device's push stores its notes in one INSERT):
-- their change rows are written per statement, from the statement's new rows, in one INSERT (the
-- audience looked up in it, in the rows' order), instead of one PL/pgSQL call and one INSERT per
-- row. Updates (an activity completed or cancelled) stay per row. The guarantee is unchanged: the
-- change rows are written by the database in the writing statement, so no code path can forget one.

DROP TRIGGER lead_notes_sync ON lead_notes;
DROP TRIGGER lead_activities_sync ON lead_activities;

CREATE FUNCTION hubnet_sync_notes_inserted() RETURNS TRIGGER
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO sync_changes (tenant_id, entity, entity_id, lead_id, op, audience, dropped, gained, payload)
    SELECT n.tenant_id, 'note', n.id, n.lead_id, 'upsert', COALESCE(a.audience, '{}'), '{}', '{}',
        hubnet_sync_note(n)::TEXT
    FROM new_rows n
    LEFT JOIN LATERAL (
        SELECT hubnet_lead_audience(l) AS audience FROM leads l WHERE l.tenant_id = n.tenant_id AND l.id = n.lead_id
    ) a ON true;
    RETURN NULL;
END
$$;

CREATE FUNCTION hubnet_sync_activities_inserted() RETURNS TRIGGER
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO sync_changes (tenant_id, entity, entity_id, lead_id, op, audience, dropped, gained, payload)
    SELECT n.tenant_id, 'activity', n.id, n.lead_id, 'upsert', COALESCE(a.audience, '{}'), '{}', '{}',
        hubnet_sync_activity(n)::TEXT
    FROM new_rows n
    LEFT JOIN LATERAL (
        SELECT hubnet_lead_audience(l) AS audience FROM leads l WHERE l.tenant_id = n.tenant_id AND l.id = n.lead_id
    ) a ON true;
    RETURN NULL;
END
$$;

CREATE TRIGGER lead_notes_sync_insert AFTER INSERT ON lead_notes
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION hubnet_sync_notes_inserted();
CREATE TRIGGER lead_notes_sync_update AFTER UPDATE ON lead_notes FOR EACH ROW EXECUTE FUNCTION hubnet_sync_lead_part_change();
CREATE TRIGGER lead_activities_sync_insert AFTER INSERT ON lead_activities
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION hubnet_sync_activities_inserted();
CREATE TRIGGER lead_activities_sync_update AFTER UPDATE ON lead_activities FOR EACH ROW EXECUTE FUNCTION hubnet_sync_lead_part_change();
