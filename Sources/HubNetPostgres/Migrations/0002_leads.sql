-- Lead workflows: templates a tenant edited, leads, their hash-chained history, shared notes and
-- activities. Built-in templates live in the code; a row here is a tenant's edited copy.
CREATE TABLE workflow_templates (
    tenant_id UUID NOT NULL,
    key TEXT NOT NULL,
    definition JSONB NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT workflow_templates_pkey PRIMARY KEY (tenant_id, key),
    CONSTRAINT workflow_templates_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id)
);

-- Opportunities follow their own stages, ending Won, Lost or Discontinued (001).
CREATE TABLE opportunities (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    name TEXT NOT NULL,
    stage TEXT NOT NULL DEFAULT 'qualification',
    amount NUMERIC(14, 2),
    created_by UUID NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    closed_at TIMESTAMPTZ,
    version INTEGER NOT NULL DEFAULT 1,
    CONSTRAINT opportunities_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT opportunities_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT opportunities_stage_check CHECK (
        stage IN ('qualification', 'proposal', 'negotiation', 'won', 'lost', 'discontinued'))
);
CREATE INDEX opportunities_created_idx ON opportunities (tenant_id, created_at, id);

CREATE TABLE leads (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    template_key TEXT NOT NULL,
    status TEXT NOT NULL,
    source TEXT NOT NULL,
    contact_name TEXT NOT NULL,
    contact_email TEXT,
    contact_phone TEXT,
    city TEXT,
    region TEXT,
    request TEXT,
    type TEXT,
    category TEXT,
    priority TEXT,
    importance TEXT,
    probability INTEGER,
    target_amount NUMERIC(14, 2),
    -- Products of interest, each with notes: [{"name": "...", "notes": "..."}].
    products JSONB NOT NULL DEFAULT '[]',
    competitors TEXT[] NOT NULL DEFAULT '{}',
    -- The lead team: users of the tenant working on the lead.
    team UUID[] NOT NULL DEFAULT '{}',
    listing_id UUID,
    assigned_unit_id UUID,
    assigned_user_id UUID,
    created_by UUID,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_action_at TIMESTAMPTZ,
    accepted_at TIMESTAMPTZ,
    declined_at TIMESTAMPTZ,
    completed_at TIMESTAMPTZ,
    expires_at TIMESTAMPTZ,
    expected_completion_at TIMESTAMPTZ,
    opportunity_id UUID,
    archived BOOLEAN NOT NULL DEFAULT false,
    in_crm BOOLEAN NOT NULL DEFAULT false,
    version INTEGER NOT NULL DEFAULT 1,
    CONSTRAINT leads_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT leads_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT leads_unit_fkey FOREIGN KEY (tenant_id, assigned_unit_id) REFERENCES units (tenant_id, id),
    CONSTRAINT leads_user_fkey FOREIGN KEY (tenant_id, assigned_user_id) REFERENCES users (tenant_id, id),
    CONSTRAINT leads_opportunity_fkey FOREIGN KEY (tenant_id, opportunity_id) REFERENCES opportunities (tenant_id, id),
    CONSTRAINT leads_opportunity_key UNIQUE (tenant_id, opportunity_id),
    CONSTRAINT leads_probability_check CHECK (probability BETWEEN 0 AND 100),
    CONSTRAINT leads_source_check CHECK (source IN ('manual', 'api', 'import', 'lead_form', 'referral'))
);
CREATE INDEX leads_created_idx ON leads (tenant_id, created_at, id);
CREATE INDEX leads_status_idx ON leads (tenant_id, status);
CREATE INDEX leads_contact_email_idx ON leads (tenant_id, lower(contact_email));
CREATE INDEX leads_expected_completion_idx ON leads (tenant_id, expected_completion_at) WHERE completed_at IS NULL;

-- Every action on a lead, append-only; each entry carries the hash of the one before it.
CREATE TABLE lead_history (
    tenant_id UUID NOT NULL,
    lead_id UUID NOT NULL,
    seq INTEGER NOT NULL,
    action TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    actor_user_id UUID,
    reason TEXT,
    detail JSONB NOT NULL DEFAULT '{}',
    at TIMESTAMPTZ NOT NULL,
    previous_hash BYTEA NOT NULL,
    hash BYTEA NOT NULL,
    CONSTRAINT lead_history_pkey PRIMARY KEY (tenant_id, lead_id, seq),
    CONSTRAINT lead_history_lead_fkey FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, id) ON DELETE CASCADE
);

-- Shared notes: append-only, with author and time.
CREATE TABLE lead_notes (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    lead_id UUID NOT NULL,
    author_id UUID NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT lead_notes_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT lead_notes_lead_fkey FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT lead_notes_author_fkey FOREIGN KEY (tenant_id, author_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX lead_notes_lead_idx ON lead_notes (tenant_id, lead_id, created_at);

-- Scheduled tasks on a lead (a call, a meeting); open ones block completing a 003 lead.
CREATE TABLE lead_activities (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    lead_id UUID NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    due_at TIMESTAMPTZ,
    state TEXT NOT NULL DEFAULT 'open',
    created_by UUID NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    closed_at TIMESTAMPTZ,
    CONSTRAINT lead_activities_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT lead_activities_lead_fkey FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT lead_activities_state_check CHECK (state IN ('open', 'completed', 'cancelled')),
    CONSTRAINT lead_activities_kind_check CHECK (kind IN ('call', 'meeting', 'email', 'task'))
);
CREATE INDEX lead_activities_lead_idx ON lead_activities (tenant_id, lead_id, state);

-- The hub CRM: an accepted lead becomes a client (000), served in advising sessions.
CREATE TABLE clients (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    lead_id UUID NOT NULL,
    name TEXT NOT NULL,
    email TEXT,
    city TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT clients_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT clients_lead_fkey FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, id),
    CONSTRAINT clients_lead_key UNIQUE (tenant_id, lead_id)
);
CREATE INDEX clients_created_idx ON clients (tenant_id, created_at, id);

CREATE TABLE advising_sessions (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    client_id UUID NOT NULL,
    advisor_id UUID NOT NULL,
    held_at TIMESTAMPTZ NOT NULL,
    duration_minutes INTEGER NOT NULL,
    summary TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT advising_sessions_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT advising_sessions_client_fkey FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id),
    CONSTRAINT advising_sessions_advisor_fkey FOREIGN KEY (tenant_id, advisor_id) REFERENCES users (tenant_id, id),
    CONSTRAINT advising_sessions_duration_check CHECK (duration_minutes BETWEEN 1 AND 1440)
);
CREATE INDEX advising_sessions_client_idx ON advising_sessions (tenant_id, client_id, held_at);

-- Lead types (003): defaults a new lead of the type takes when it does not say otherwise.
CREATE TABLE lead_types (
    tenant_id UUID NOT NULL,
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    estimated_completion_days INTEGER,
    default_importance TEXT,
    default_priority TEXT,
    CONSTRAINT lead_types_pkey PRIMARY KEY (tenant_id, key),
    CONSTRAINT lead_types_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT lead_types_days_check CHECK (estimated_completion_days BETWEEN 1 AND 3650)
);

-- Notification texts with #tags, checked when saved.
CREATE TABLE message_templates (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    name TEXT NOT NULL,
    channel TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT message_templates_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT message_templates_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT message_templates_name_key UNIQUE (tenant_id, name),
    CONSTRAINT message_templates_channel_check CHECK (channel IN ('email', 'webhook'))
);

SELECT hubnet_isolate_tenant_table(name)
FROM unnest(ARRAY['workflow_templates', 'opportunities', 'leads', 'lead_history', 'lead_notes', 'lead_activities',
    'clients', 'advising_sessions', 'message_templates', 'lead_types']) AS name;

GRANT SELECT, INSERT, UPDATE, DELETE
    ON workflow_templates, opportunities, leads, lead_activities, clients, message_templates, lead_types TO hubnet_app;
GRANT SELECT, INSERT ON advising_sessions TO hubnet_app;
-- History and notes are append-only for the server: it can neither rewrite nor remove them.
-- (Deleting a Pending lead removes its history with it, through the cascade, which runs as the owner.)
GRANT SELECT, INSERT ON lead_history, lead_notes TO hubnet_app;
