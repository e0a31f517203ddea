-- The web console's sign-in: single-use email links and browser sessions. Only SHA-256 hashes of
-- their secrets are stored, as for API tokens; both live in the tenant's rows under row-level
-- security, and the presented secret names its tenant (see BearerToken).

CREATE TABLE console_sign_in_links (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    user_id UUID NOT NULL,
    token_hash BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ,
    CONSTRAINT console_sign_in_links_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT console_sign_in_links_hash_key UNIQUE (tenant_id, token_hash),
    CONSTRAINT console_sign_in_links_user_fkey FOREIGN KEY (tenant_id, user_id)
        REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE console_sessions (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    user_id UUID NOT NULL,
    token_hash BYTEA NOT NULL,
    -- The form token of this session (not a credential by itself: it only accompanies the cookie).
    csrf_token TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ,
    CONSTRAINT console_sessions_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT console_sessions_hash_key UNIQUE (tenant_id, token_hash),
    CONSTRAINT console_sessions_user_fkey FOREIGN KEY (tenant_id, user_id)
        REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX console_sessions_user_idx ON console_sessions (tenant_id, user_id) WHERE revoked_at IS NULL;

SELECT hubnet_isolate_tenant_table(name) FROM unnest(ARRAY['console_sign_in_links', 'console_sessions']) AS name;
GRANT SELECT, INSERT, UPDATE ON console_sign_in_links, console_sessions TO hubnet_app;

-- The accounts an email address signs in to: one per organisation where an active user has it.
-- Runs as the schema owner (SECURITY DEFINER) because the person has not named a tenant yet; the
-- server learns tenant and user ids for that one address, and nothing else crosses. The link goes
-- to the address as the account has it, not as it was typed.
CREATE FUNCTION hubnet_console_accounts(address TEXT)
    RETURNS TABLE (tenant_id UUID, user_id UUID, email TEXT, tenant_name TEXT)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp
    AS $$
        SELECT u.tenant_id, u.id, u.email, t.name
        FROM users AS u JOIN tenants AS t ON t.id = u.tenant_id
        WHERE lower(u.email) = lower(address) AND u.deactivated_at IS NULL
        ORDER BY t.name, t.id
        LIMIT 20
    $$;
REVOKE ALL ON FUNCTION hubnet_console_accounts(TEXT) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hubnet_console_accounts(TEXT) TO hubnet_app;
CREATE INDEX users_email_lower_idx ON users (lower(email));
