-- The role every server query runs as. It owns no table and is subject to row-level security;
-- login roles for the server are made members of it (see README, "Database roles").
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'hubnet_app') THEN
        CREATE ROLE hubnet_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO hubnet_app;

-- The tenant a transaction works for, set with set_config('hubnet.tenant_id', …, true).
-- Unset means no tenant: every tenant table then shows no rows.
CREATE FUNCTION hubnet_current_tenant() RETURNS UUID
    LANGUAGE sql STABLE
    AS $$ SELECT NULLIF(current_setting('hubnet.tenant_id', true), '')::UUID $$;

-- A read scope that is not a tenant: 'directory' for the public listing search.
CREATE FUNCTION hubnet_current_scope() RETURNS TEXT
    LANGUAGE sql STABLE
    AS $$ SELECT COALESCE(current_setting('hubnet.scope', true), '') $$;

-- Lower-cased labels, for case-insensitive containment searches that an index can serve.
CREATE FUNCTION hubnet_lower_labels(labels TEXT[]) RETURNS TEXT[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT COALESCE(array_agg(lower(label)), '{}') FROM unnest(labels) AS label $$;

-- An exact timestamp from whole microseconds since 1970, for keyset pagination cursors.
CREATE FUNCTION hubnet_from_micros(micros BIGINT) RETURNS TIMESTAMPTZ
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT TIMESTAMPTZ 'epoch' + micros * INTERVAL '1 microsecond' $$;

-- The registry of organisations. Not a tenant table: it is the root the tenant tables hang from,
-- and a tenant's kind, name and slug are public within the network.
CREATE TABLE tenants (
    id UUID NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    slug TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT tenants_pkey PRIMARY KEY (id),
    CONSTRAINT tenants_slug_key UNIQUE (slug),
    CONSTRAINT tenants_kind_check CHECK (kind IN ('hub', 'partner_company', 'sourcing_company'))
);
GRANT SELECT, INSERT ON tenants TO hubnet_app;

CREATE TABLE users (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    email TEXT NOT NULL,
    display_name TEXT NOT NULL,
    roles TEXT[] NOT NULL,
    deactivated_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT users_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT users_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT users_email_key UNIQUE (tenant_id, email),
    CONSTRAINT users_roles_check CHECK (
        cardinality(roles) > 0
        AND roles <@ ARRAY['admin', 'moderator', 'advisor', 'partner_user', 'viewer']
    )
);
CREATE INDEX users_created_idx ON users (tenant_id, created_at, id);

CREATE TABLE units (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    name TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT units_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT units_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT units_name_key UNIQUE (tenant_id, name)
);

CREATE TABLE unit_members (
    tenant_id UUID NOT NULL,
    unit_id UUID NOT NULL,
    user_id UUID NOT NULL,
    added_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT unit_members_pkey PRIMARY KEY (tenant_id, unit_id, user_id),
    CONSTRAINT unit_members_unit_fkey FOREIGN KEY (tenant_id, unit_id)
        REFERENCES units (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT unit_members_user_fkey FOREIGN KEY (tenant_id, user_id)
        REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX unit_members_user_idx ON unit_members (tenant_id, user_id);

-- Resource listings, shaped like Open Referral (HSDS) services.
CREATE TABLE listings (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    services TEXT[] NOT NULL DEFAULT '{}',
    service_areas TEXT[] NOT NULL DEFAULT '{}',
    categories TEXT[] NOT NULL DEFAULT '{}',
    eligibility TEXT,
    contact_name TEXT,
    contact_email TEXT,
    contact_phone TEXT,
    contact_url TEXT,
    accepting_referrals BOOLEAN NOT NULL DEFAULT true,
    published BOOLEAN NOT NULL DEFAULT true,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT listings_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT listings_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id)
);
CREATE INDEX listings_created_idx ON listings (tenant_id, created_at, id);
CREATE INDEX listings_areas_idx ON listings USING GIN (hubnet_lower_labels(service_areas));
CREATE INDEX listings_categories_idx ON listings USING GIN (hubnet_lower_labels(categories));

-- Bearer tokens of users. Only a SHA-256 hash of the secret is kept.
CREATE TABLE api_tokens (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    user_id UUID NOT NULL,
    name TEXT NOT NULL,
    token_hash BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ,
    CONSTRAINT api_tokens_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT api_tokens_user_fkey FOREIGN KEY (tenant_id, user_id)
        REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT api_tokens_hash_key UNIQUE (tenant_id, token_hash)
);
CREATE INDEX api_tokens_user_idx ON api_tokens (tenant_id, user_id);

-- Installations of a client for one user; their change logs arrive with the sync protocol.
CREATE TABLE devices (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    user_id UUID NOT NULL,
    name TEXT NOT NULL,
    token_hash BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ,
    CONSTRAINT devices_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT devices_user_fkey FOREIGN KEY (tenant_id, user_id)
        REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT devices_hash_key UNIQUE (tenant_id, token_hash)
);

-- Row-level security: the second wall behind the application's own tenant filters. Every tenant
-- table of every migration goes through this function.
CREATE FUNCTION hubnet_isolate_tenant_table(table_name TEXT) RETURNS VOID
    LANGUAGE plpgsql
    AS $$
BEGIN
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', table_name);
    EXECUTE format(
        'CREATE POLICY %I ON %I USING (tenant_id = hubnet_current_tenant()) '
        'WITH CHECK (tenant_id = hubnet_current_tenant())',
        table_name || '_tenant_isolation', table_name);
END
$$;

SELECT hubnet_isolate_tenant_table(name)
FROM unnest(ARRAY['users', 'units', 'unit_members', 'listings', 'api_tokens', 'devices']) AS name;
GRANT SELECT, INSERT, UPDATE, DELETE ON users, units, unit_members, listings, api_tokens, devices TO hubnet_app;

-- The public directory reads published listings of every hub, and nothing else.
CREATE POLICY listings_public_directory ON listings FOR SELECT
    USING (hubnet_current_scope() = 'directory' AND published);

-- The server reads the migration history to refuse to start on a stale schema.
GRANT SELECT ON schema_migrations TO hubnet_app;
