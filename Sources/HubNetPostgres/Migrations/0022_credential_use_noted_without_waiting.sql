-- A credential's last use is noted only when its row is free: an authentication never waits.
--
-- 0016 and 0019 noted a device's last sight (and an API token's last use) at most once a minute
-- with an UPDATE that waited, up to the statement timeout, for the row's lock. A push holds its
-- device's row for its whole transaction (the row is the push's lock), so any other request of
-- the same device meanwhile — its live channel reconnecting, a second sync — stood in the
-- authentication until the push committed, and with a short lock timeout it failed. A token used
-- by several requests at once queued them on one row in the same way. Now the row is taken with
-- SKIP LOCKED: when somebody holds it, this use is not noted (the next request a minute on will
-- be) and the authentication answers at once. What it answers is unchanged. `p_lock_timeout_ms`
-- still bounds any other wait of the UPDATE (a table lock taken by a migration, say).

CREATE OR REPLACE FUNCTION hubnet_authenticate_device(p_tenant UUID, p_hash BYTEA, p_now TIMESTAMPTZ, p_lock_timeout_ms INTEGER)
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
        UPDATE devices SET last_seen_at = p_now
        WHERE tenant_id = p_tenant AND id = (
            SELECT f.id FROM devices AS f WHERE f.tenant_id = p_tenant AND f.id = auth_device FOR UPDATE SKIP LOCKED);
    END IF;
    RETURN NEXT;
END
$$;

CREATE OR REPLACE FUNCTION hubnet_authenticate_api_token(p_tenant UUID, p_hash BYTEA, p_now TIMESTAMPTZ, p_lock_timeout_ms INTEGER)
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
        UPDATE api_tokens SET last_used_at = p_now
        WHERE tenant_id = p_tenant AND id = (
            SELECT f.id FROM api_tokens AS f WHERE f.tenant_id = p_tenant AND f.id = auth_token FOR UPDATE SKIP LOCKED);
    END IF;
    RETURN NEXT;
END
$$;
