-- Automatic distribution (001): each sourcing company's rule, and each organisation's declared
-- capacity. Loads are read through hubnet_organisation_loads(): counts and times only.

ALTER TABLE tenant_settings
    ADD COLUMN open_slots INTEGER,
    ADD COLUMN not_accepting_until TIMESTAMPTZ,
    ADD CONSTRAINT tenant_settings_open_slots_check CHECK (open_slots IS NULL OR open_slots BETWEEN 0 AND 1000000);

CREATE TABLE distribution_rules (
    tenant_id UUID NOT NULL,
    mode TEXT NOT NULL,
    pool UUID[] NOT NULL DEFAULT '{}',
    -- A hub's rule routes to other hubs' listings instead.
    listings UUID[] NOT NULL DEFAULT '{}',
    stale_after_hours INTEGER,
    -- Where round robin (and ties of weighted choice) continue: an index into pool.
    turn INTEGER NOT NULL DEFAULT 0,
    updated_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT distribution_rules_pkey PRIMARY KEY (tenant_id),
    CONSTRAINT distribution_rules_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT distribution_rules_mode_check CHECK (mode IN ('manual', 'round_robin', 'weighted', 'shared_pool')),
    CONSTRAINT distribution_rules_stale_check CHECK (stale_after_hours IS NULL OR stale_after_hours BETWEEN 1 AND 8760),
    CONSTRAINT distribution_rules_pool_check CHECK (cardinality(pool) <= 200 AND cardinality(listings) <= 200),
    CONSTRAINT distribution_rules_turn_check CHECK (turn >= 0)
);
SELECT hubnet_isolate_tenant_table('distribution_rules');
GRANT SELECT, INSERT, UPDATE ON distribution_rules TO hubnet_app;

-- The last action on a lead by a person of the tenant (not a timer), for staleness.
CREATE INDEX lead_history_person_at_idx ON lead_history (tenant_id, at) WHERE actor_user_id IS NOT NULL;

-- Each organisation's load for routing, suggestions and the directory: its kind, declared
-- capacity, accepted leads still open (each holds a slot), referrals received and accepted since
-- `since`, and when its people were last seen (a device sync, a console page, an action on a lead).
-- Never a lead, never a person.
CREATE FUNCTION hubnet_organisation_loads(organisations UUID[], since TIMESTAMPTZ)
    RETURNS TABLE (tenant_id UUID, kind TEXT, name TEXT, open_slots INTEGER, not_accepting_until TIMESTAMPTZ, open_accepted BIGINT,
                   received BIGINT, accepted BIGINT, last_seen TIMESTAMPTZ)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp
    AS $$
        SELECT t.id, t.kind, t.name, s.open_slots, s.not_accepting_until,
               (SELECT count(*) FROM leads AS l WHERE l.tenant_id = t.id AND l.accepted_at IS NOT NULL
                    AND l.completed_at IS NULL AND l.withdrawn_at IS NULL),
               (SELECT count(*) FROM leads AS l WHERE l.tenant_id = t.id AND l.source = 'referral' AND l.created_at >= since),
               (SELECT count(*) FROM leads AS l WHERE l.tenant_id = t.id AND l.source = 'referral' AND l.created_at >= since
                    AND l.accepted_at IS NOT NULL),
               GREATEST(
                   (SELECT max(d.last_seen_at) FROM devices AS d WHERE d.tenant_id = t.id AND d.revoked_at IS NULL),
                   (SELECT max(c.last_seen_at) FROM console_sessions AS c WHERE c.tenant_id = t.id),
                   (SELECT max(h.at) FROM lead_history AS h WHERE h.tenant_id = t.id AND h.actor_user_id IS NOT NULL))
        FROM (SELECT DISTINCT id FROM unnest(organisations) AS p(id)) AS p
        JOIN tenants AS t ON t.id = p.id
        LEFT JOIN tenant_settings AS s ON s.tenant_id = t.id
    $$;
REVOKE ALL ON FUNCTION hubnet_organisation_loads(UUID[], TIMESTAMPTZ) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hubnet_organisation_loads(UUID[], TIMESTAMPTZ) TO hubnet_app;

-- SLA pullback: a routed referral nobody at the target acted on by pullback_at is withdrawn and
-- routed to the next partner of the rule (hop + 1), at most max_hops times, then back to the source.
ALTER TABLE distribution_rules
    ADD COLUMN sla_hours INTEGER,
    ADD COLUMN sla_business_days INTEGER,
    ADD COLUMN max_hops INTEGER NOT NULL DEFAULT 3,
    ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC',
    ADD CONSTRAINT distribution_rules_sla_check CHECK (
        (sla_hours IS NULL OR sla_hours BETWEEN 1 AND 8760) AND (sla_business_days IS NULL OR sla_business_days BETWEEN 1 AND 60)
        AND NOT (sla_hours IS NOT NULL AND sla_business_days IS NOT NULL)),
    ADD CONSTRAINT distribution_rules_hops_check CHECK (max_hops BETWEEN 1 AND 20);
ALTER TABLE referrals
    ADD COLUMN pullback_at TIMESTAMPTZ,
    ADD COLUMN hop INTEGER NOT NULL DEFAULT 1;
CREATE INDEX referrals_pullback_idx ON referrals (pullback_at) WHERE pullback_at IS NOT NULL;
-- The timer scan finds due pullbacks of every tenant, reading only; it acts in the source's tenant.
CREATE POLICY referrals_scheduler_scan ON referrals FOR SELECT USING (hubnet_current_scope() = 'scheduler');

-- Shared pools: one routing offers a lead to several partners at once; the first to accept wins
-- (the pool row is claimed under its row lock, so exactly one does) and the others lose their
-- copies. A loser whose copy was locked mid-accept when the winner released the others is marked
-- release_pending; the timer pass withdraws its copy once its own transaction has failed.
CREATE TABLE referral_pools (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    source_lead_id UUID NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    winner_referral_id UUID,
    won_at TIMESTAMPTZ,
    CONSTRAINT referral_pools_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT referral_pools_lead_fkey FOREIGN KEY (tenant_id, source_lead_id) REFERENCES leads (tenant_id, id)
);
SELECT hubnet_isolate_tenant_table('referral_pools');
GRANT SELECT, INSERT, UPDATE ON referral_pools TO hubnet_app;
ALTER TABLE referrals
    ADD COLUMN pool_id UUID,
    ADD COLUMN release_pending BOOLEAN NOT NULL DEFAULT false;
CREATE INDEX referrals_pool_idx ON referrals (tenant_id, pool_id) WHERE pool_id IS NOT NULL;
CREATE INDEX referrals_release_idx ON referrals (tenant_id) WHERE release_pending;
