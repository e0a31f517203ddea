-- An API token's last use is noted by the server's clock (a virtual one under test), as a device's
-- last sight already is: `p_now` is passed in. The three-argument function of 0016 stays for a
-- server of the previous version still running during a rolling upgrade; nothing of this version
-- calls it.
CREATE FUNCTION hubnet_authenticate_api_token(p_tenant UUID, p_hash BYTEA, p_now TIMESTAMPTZ, p_lock_timeout_ms INTEGER)
    RETURNS TABLE (auth_token UUID, auth_user UUID, auth_roles TEXT[], auth_kind TEXT, auth_deactivated BOOLEAN,
        auth_revoked BOOLEAN)
    LANGUAGE plpgsql VOLATILE
    AS $$
DECLARE
    stale BOOLEAN;
BEGIN
    PERFORM set_config('hubnet.tenant_id', p_tenant::TEXT, true);
    SELECT t.id, t.user_id, u.roles, n.kind, u.deactivated_at IS NOT NULL, t.revoked_at IS NOT NULL,
        t.last_used_at IS NULL OR t.last_used_at NOT BETWEEN p_now - INTERVAL '1 minute' AND p_now
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
        UPDATE api_tokens SET last_used_at = p_now WHERE tenant_id = p_tenant AND id = auth_token;
    END IF;
    RETURN NEXT;
END
$$;

REVOKE ALL ON FUNCTION hubnet_authenticate_api_token(UUID, BYTEA, TIMESTAMPTZ, INTEGER) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hubnet_authenticate_api_token(UUID, BYTEA, TIMESTAMPTZ, INTEGER) TO hubnet_app;
