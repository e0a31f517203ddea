-- Authentication in one statement: every request used to open a transaction only to read its
-- credential (BEGIN, enter the tenant, read, COMMIT: four round trips before the request's own
-- work). Each function enters the credential's tenant for its own statement (`set_config(…, true)`
-- lasts until the implicit transaction of that one statement ends), reads the credential with its
-- user and tenant, notes its use at most once a minute, and returns what the server decides on.
-- They run as the caller (SECURITY INVOKER): row-level security applies as to any other statement.

-- A device token: the device, its user's roles, the tenant's kind, whether access has ended, and the
-- device's last mutation id (for the answer that tells a stopped device where its numbering stood).
-- `p_now` is the server's clock (a virtual one under test); `p_lock_timeout_ms` bounds the wait for
-- the device row (a push holds it) when its last use is noted.
CREATE FUNCTION hubnet_authenticate_device(p_tenant UUID, p_hash BYTEA, p_now TIMESTAMPTZ, p_lock_timeout_ms INTEGER)
    RETURNS TABLE (auth_device UUID, auth_user UUID, auth_roles TEXT[], auth_kind TEXT, auth_revoked BOOLEAN,
        auth_deactivated BOOLEAN, auth_last_mutation BIGINT)
    LANGUAGE plpgsql VOLATILE
    AS $$
DECLARE
    stale BOOLEAN;
BEGIN
    PERFORM set_config('hubnet.tenant_id', p_tenant::TEXT, true);
    SELECT d.id, d.user_id, u.roles, n.kind, d.revoked_at IS NOT NULL, u.deactivated_at IS NOT NULL, d.last_mutation_id,
        d.last_seen_at IS NULL OR d.last_seen_at NOT BETWEEN p_now - INTERVAL '1 minute' AND p_now
    INTO auth_device, auth_user, auth_roles, auth_kind, auth_revoked, auth_deactivated, auth_last_mutation, stale
    FROM devices AS d
    JOIN users AS u ON u.tenant_id = d.tenant_id AND u.id = d.user_id
    JOIN tenants AS n ON n.id = d.tenant_id
    WHERE d.tenant_id = p_tenant AND d.token_hash = p_hash;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF stale AND NOT auth_revoked AND NOT auth_deactivated THEN
        PERFORM set_config('lock_timeout', p_lock_timeout_ms::TEXT, true);
        UPDATE devices SET last_seen_at = p_now WHERE tenant_id = p_tenant AND id = auth_device;
    END IF;
    RETURN NEXT;
END
$$;

-- An API token of a user: the token's user, roles, the tenant's kind, and whether the user is
-- deactivated or the token revoked. Its last use is PostgreSQL's clock, as before.
CREATE FUNCTION hubnet_authenticate_api_token(p_tenant UUID, p_hash BYTEA, p_lock_timeout_ms INTEGER)
    RETURNS TABLE (auth_token UUID, auth_user UUID, auth_roles TEXT[], auth_kind TEXT, auth_deactivated BOOLEAN,
        auth_revoked BOOLEAN)
    LANGUAGE plpgsql VOLATILE
    AS $$
DECLARE
    stale BOOLEAN;
BEGIN
    PERFORM set_config('hubnet.tenant_id', p_tenant::TEXT, true);
    SELECT t.id, t.user_id, u.roles, n.kind, u.deactivated_at IS NOT NULL, t.revoked_at IS NOT NULL,
        t.last_used_at < now() - INTERVAL '1 minute' OR t.last_used_at IS NULL
    INTO auth_token, auth_user, auth_roles, auth_kind, auth_deactivated, auth_revoked, stale
    FROM api_tokens AS t
    JOIN users AS u ON u.tenant_id = t.tenant_id AND u.id = t.user_id
    JOIN tenants AS n ON n.id = t.tenant_id
    WHERE t.tenant_id = p_tenant AND t.token_hash = p_hash;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF stale AND NOT auth_deactivated AND NOT auth_revoked THEN
        PERFORM set_config('lock_timeout', p_lock_timeout_ms::TEXT, true);
        UPDATE api_tokens SET last_used_at = now() WHERE tenant_id = p_tenant AND id = auth_token;
    END IF;
    RETURN NEXT;
END
$$;

REVOKE ALL ON FUNCTION hubnet_authenticate_device(UUID, BYTEA, TIMESTAMPTZ, INTEGER) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hubnet_authenticate_device(UUID, BYTEA, TIMESTAMPTZ, INTEGER) TO hubnet_app;
REVOKE ALL ON FUNCTION hubnet_authenticate_api_token(UUID, BYTEA, INTEGER) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hubnet_authenticate_api_token(UUID, BYTEA, INTEGER) TO hubnet_app;
