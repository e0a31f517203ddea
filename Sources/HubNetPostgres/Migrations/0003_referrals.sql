-- Referrals across tenants. The source keeps its own row, mirroring the target lead's progress;
-- the target's lead points back at it. Two rows in two tenants, never one shared row, so each
-- tenant's data stays its own (and distributable by tenant).
CREATE TABLE referrals (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    source_lead_id UUID,
    target_tenant_id UUID NOT NULL,
    target_lead_id UUID NOT NULL,
    target_kind TEXT NOT NULL,
    target_listing_id UUID,
    created_by UUID NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    status TEXT NOT NULL,
    status_name TEXT NOT NULL,
    life_cycle TEXT NOT NULL,
    stage TEXT,
    first_action_at TIMESTAMPTZ,
    last_action_at TIMESTAMPTZ,
    accepted_at TIMESTAMPTZ,
    declined_at TIMESTAMPTZ,
    completed_at TIMESTAMPTZ,
    reason TEXT,
    withdrawn_at TIMESTAMPTZ,
    CONSTRAINT referrals_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT referrals_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT referrals_source_lead_fkey FOREIGN KEY (tenant_id, source_lead_id) REFERENCES leads (tenant_id, id),
    CONSTRAINT referrals_creator_fkey FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id),
    CONSTRAINT referrals_target_kind_check CHECK (target_kind IN ('listing', 'partner'))
);
CREATE INDEX referrals_created_idx ON referrals (tenant_id, created_at, id);
CREATE INDEX referrals_source_lead_idx ON referrals (tenant_id, source_lead_id);

ALTER TABLE leads
    ADD COLUMN referral_id UUID,
    ADD COLUMN source_tenant_id UUID,
    ADD COLUMN withdrawn_at TIMESTAMPTZ;

SELECT hubnet_isolate_tenant_table('referrals');
GRANT SELECT, INSERT, UPDATE ON referrals TO hubnet_app;

-- The timer scheduler finds due leads of every tenant in this scope, reading only; it then acts on
-- each inside that lead's own tenant transaction.
CREATE POLICY leads_scheduler_scan ON leads FOR SELECT USING (hubnet_current_scope() = 'scheduler');
CREATE INDEX leads_expiry_idx ON leads (expires_at) WHERE completed_at IS NULL AND withdrawn_at IS NULL;

-- Per-hub figures for routing suggestions: counts only, never a lead. Runs as the schema owner
-- (SECURITY DEFINER) so it can count across tenants; the server may call it, not read the rows.
CREATE FUNCTION hubnet_routing_stats(hubs UUID[], since TIMESTAMPTZ, now TIMESTAMPTZ)
    RETURNS TABLE (tenant_id UUID, received BIGINT, accepted BIGINT, open_overdue BIGINT)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp
    AS $$
        SELECT h.id,
               count(l.id) FILTER (WHERE l.source = 'referral' AND l.created_at >= since),
               count(l.id) FILTER (WHERE l.source = 'referral' AND l.created_at >= since AND l.accepted_at IS NOT NULL),
               count(l.id) FILTER (WHERE l.completed_at IS NULL AND l.expected_completion_at < now AND l.withdrawn_at IS NULL)
        FROM unnest(hubs) AS h(id)
        LEFT JOIN leads AS l ON l.tenant_id = h.id
        GROUP BY h.id
    $$;
REVOKE ALL ON FUNCTION hubnet_routing_stats(UUID[], TIMESTAMPTZ, TIMESTAMPTZ) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hubnet_routing_stats(UUID[], TIMESTAMPTZ, TIMESTAMPTZ) TO hubnet_app;
