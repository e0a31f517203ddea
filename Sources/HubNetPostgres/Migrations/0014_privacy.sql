-- Privacy across tenants: consent before a person's data crosses, keyed hashes for duplicate
-- matching without sharing the data, and an append-only log of who read it.

CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA public;

-- The network's secret for keyed hashes of contact details. Only the owner reads it; the app
-- gets hashes through hubnet_match_key(), never the key.
CREATE TABLE network_secrets (
    name TEXT NOT NULL,
    secret BYTEA NOT NULL,
    CONSTRAINT network_secrets_pkey PRIMARY KEY (name),
    CONSTRAINT network_secrets_length_check CHECK (length(secret) >= 32)
);
REVOKE ALL ON network_secrets FROM PUBLIC;
INSERT INTO network_secrets (name, secret) VALUES ('match_key', public.gen_random_bytes(32));

-- HMAC-SHA256 of a normalised contact value under the network's key; NULL for no value.
-- Emails compare trimmed and in lower case, phones by their digits (and a leading +).
CREATE FUNCTION hubnet_match_key(kind TEXT, value TEXT) RETURNS BYTEA
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp
    AS $$
    SELECT CASE
        WHEN normalised IS NULL OR normalised = '' THEN NULL
        ELSE public.hmac(convert_to(kind || ':' || normalised, 'UTF8'),
            (SELECT s.secret FROM network_secrets AS s WHERE s.name = 'match_key'), 'sha256')
    END
    FROM (SELECT CASE kind
        WHEN 'email' THEN lower(btrim(value))
        WHEN 'phone' THEN regexp_replace(value, '[^0-9+]', '', 'g')
    END AS normalised) AS v
    $$;
REVOKE ALL ON FUNCTION hubnet_match_key(TEXT, TEXT) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hubnet_match_key(TEXT, TEXT) TO hubnet_app;

-- A de-identified copy (no consent covered its crossing) and the keyed hashes of each lead.
ALTER TABLE leads
    ADD COLUMN identity_withheld BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN email_key BYTEA,
    ADD COLUMN phone_key BYTEA;

CREATE FUNCTION hubnet_lead_match_keys() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = public, pg_temp
    AS $$
BEGIN
    NEW.email_key := hubnet_match_key('email', NEW.contact_email);
    NEW.phone_key := hubnet_match_key('phone', NEW.contact_phone);
    RETURN NEW;
END
$$;
CREATE TRIGGER leads_match_keys BEFORE INSERT OR UPDATE OF contact_email, contact_phone ON leads
    FOR EACH ROW EXECUTE FUNCTION hubnet_lead_match_keys();
UPDATE leads SET email_key = hubnet_match_key('email', contact_email), phone_key = hubnet_match_key('phone', contact_phone);
CREATE INDEX leads_email_key_idx ON leads (email_key) WHERE email_key IS NOT NULL;
CREATE INDEX leads_phone_key_idx ON leads (phone_key) WHERE phone_key IS NOT NULL;

-- How many other organisations hold a lead with the same email or phone: a count, no rows.
CREATE FUNCTION hubnet_known_elsewhere(p_tenant UUID, p_email_key BYTEA, p_phone_key BYTEA) RETURNS INTEGER
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp
    AS $$
    SELECT count(DISTINCT l.tenant_id)::INTEGER FROM leads AS l
    WHERE l.tenant_id <> p_tenant AND NOT l.archived
      AND ((p_email_key IS NOT NULL AND l.email_key = p_email_key)
        OR (p_phone_key IS NOT NULL AND l.phone_key = p_phone_key))
    $$;
REVOKE ALL ON FUNCTION hubnet_known_elsewhere(UUID, BYTEA, BYTEA) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hubnet_known_elsewhere(UUID, BYTEA, BYTEA) TO hubnet_app;

-- A person's consent to their details going to other organisations: to one organisation, to a
-- kind of organisation, or to the network; for a purpose; how, by whom and when it was obtained;
-- until when. `lapsed_at` is set once its withdrawal or expiry has been carried out.
CREATE TABLE lead_consents (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    lead_id UUID NOT NULL,
    scope TEXT NOT NULL,
    scope_tenant_id UUID,
    scope_kind TEXT,
    purpose TEXT NOT NULL,
    method TEXT NOT NULL,
    recorded_by UUID,
    obtained_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    withdrawn_at TIMESTAMPTZ,
    withdrawn_by UUID,
    lapsed_at TIMESTAMPTZ,
    CONSTRAINT lead_consents_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT lead_consents_lead_fkey FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT lead_consents_scope_check CHECK (
        (scope = 'organisation' AND scope_tenant_id IS NOT NULL AND scope_kind IS NULL)
        OR (scope = 'kind' AND scope_kind IN ('hub', 'partner_company', 'sourcing_company') AND scope_tenant_id IS NULL)
        OR (scope = 'network' AND scope_tenant_id IS NULL AND scope_kind IS NULL)),
    CONSTRAINT lead_consents_method_check CHECK (method IN ('written', 'verbal', 'electronic', 'lead_form')),
    CONSTRAINT lead_consents_period_check CHECK (expires_at IS NULL OR expires_at > obtained_at)
);
SELECT hubnet_isolate_tenant_table('lead_consents');
GRANT SELECT, INSERT, UPDATE ON lead_consents TO hubnet_app;
CREATE POLICY lead_consents_scheduler_scan ON lead_consents FOR SELECT USING (hubnet_current_scope() = 'scheduler');
CREATE INDEX lead_consents_lead_idx ON lead_consents (tenant_id, lead_id);
CREATE INDEX lead_consents_due_idx ON lead_consents (expires_at) WHERE lapsed_at IS NULL AND expires_at IS NOT NULL;
CREATE INDEX lead_consents_withdrawn_idx ON lead_consents (withdrawn_at) WHERE lapsed_at IS NULL AND withdrawn_at IS NOT NULL;

-- Which consent let a referral carry the person's details (NULL: it crossed de-identified).
ALTER TABLE referrals ADD COLUMN consent_id UUID;
CREATE INDEX referrals_consent_idx ON referrals (tenant_id, consent_id) WHERE consent_id IS NOT NULL;

-- Who read which leads' personal data, through which channel. Append-only: the app may insert
-- and read, never change or delete (a tenant's deletion cascades as the owner).
CREATE TABLE lead_access_log (
    tenant_id UUID NOT NULL,
    id BIGINT GENERATED ALWAYS AS IDENTITY,
    at TIMESTAMPTZ NOT NULL,
    user_id UUID,
    device_id UUID,
    channel TEXT NOT NULL,
    lead_ids UUID[] NOT NULL,
    CONSTRAINT lead_access_log_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT lead_access_log_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT lead_access_log_channel_check CHECK (channel IN ('api', 'list', 'console', 'export', 'snapshot'))
);
SELECT hubnet_isolate_tenant_table('lead_access_log');
GRANT SELECT, INSERT ON lead_access_log TO hubnet_app;
CREATE INDEX lead_access_log_leads_idx ON lead_access_log USING gin (lead_ids);
