-- Each organisation's Ed25519 key for signing evidence bundles over its leads' history chains.
-- Made on first use; the private half stays in the tenant's rows (row-level security), the public
-- half is published to anyone through hubnet_signing_key(), as a directory entry is.
CREATE TABLE tenant_signing_keys (
    tenant_id UUID NOT NULL,
    key_id TEXT NOT NULL,
    private_key BYTEA NOT NULL,
    public_key BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT tenant_signing_keys_pkey PRIMARY KEY (tenant_id),
    CONSTRAINT tenant_signing_keys_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT tenant_signing_keys_lengths_check CHECK (length(private_key) = 32 AND length(public_key) = 32)
);
SELECT hubnet_isolate_tenant_table('tenant_signing_keys');
GRANT SELECT, INSERT ON tenant_signing_keys TO hubnet_app;

-- The public half of an organisation's signing key, for verifiers; never the private half.
CREATE FUNCTION hubnet_signing_key(tenant UUID)
    RETURNS TABLE (key_id TEXT, public_key BYTEA, created_at TIMESTAMPTZ)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp
    AS $$ SELECT k.key_id, k.public_key, k.created_at FROM tenant_signing_keys AS k WHERE k.tenant_id = tenant $$;
REVOKE ALL ON FUNCTION hubnet_signing_key(UUID) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hubnet_signing_key(UUID) TO hubnet_app;
