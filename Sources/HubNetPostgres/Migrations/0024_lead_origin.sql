-- 003, "Lead Information": a lead's source, how it was introduced or proposed to the organisation
-- (a label such as "trade fair" or "website"), besides the channel it arrived through (`source`).
ALTER TABLE leads ADD COLUMN origin TEXT;

-- The record devices receive carries it when set: a field added after the first records were
-- stored is appended without nulls, so a stored record without it is still the same record and an
-- unchanged lead is not sent again.
CREATE OR REPLACE FUNCTION hubnet_sync_lead(l leads) RETURNS JSONB
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
        || jsonb_strip_nulls(jsonb_build_object('origin', l.origin))
    $$;
