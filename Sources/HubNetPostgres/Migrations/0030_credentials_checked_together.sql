-- Credentials presented at the same moment are checked in one statement.
--
-- Every request of the API and of sync starts with its credential's check: one statement, a
-- round trip and PostgreSQL's per-statement work (about 0.15 ms of its time, profiled), the
-- largest statement a grouped lead action still paid for on its own. The server now gathers the
-- credentials that arrive while a check is running and checks them all at once with these
-- functions: each is the one-credential function (0022, 0019) applied to every pair of tenant
-- and hash in order, its rows numbered by the pair's position (1-based), so that each answer is
-- exactly what the credential would get alone. A pair that matches nothing has no row.

CREATE FUNCTION hubnet_authenticate_api_tokens(p_tenants UUID[], p_hashes BYTEA[], p_now TIMESTAMPTZ, p_lock_timeout_ms INTEGER)
    RETURNS TABLE (auth_position INTEGER, auth_token UUID, auth_user UUID, auth_roles TEXT[], auth_kind TEXT,
        auth_deactivated BOOLEAN, auth_revoked BOOLEAN)
    LANGUAGE plpgsql VOLATILE
    AS $$
BEGIN
    IF cardinality(p_tenants) IS DISTINCT FROM cardinality(p_hashes) THEN
        RAISE EXCEPTION 'one hash per tenant' USING ERRCODE = '22023';
    END IF;
    FOR i IN 1 .. coalesce(cardinality(p_tenants), 0) LOOP
        RETURN QUERY SELECT i, a.* FROM hubnet_authenticate_api_token(p_tenants[i], p_hashes[i], p_now, p_lock_timeout_ms) AS a;
    END LOOP;
END
$$;

CREATE FUNCTION hubnet_authenticate_devices(p_tenants UUID[], p_hashes BYTEA[], p_now TIMESTAMPTZ, p_lock_timeout_ms INTEGER)
    RETURNS TABLE (auth_position INTEGER, auth_device UUID, auth_user UUID, auth_roles TEXT[], auth_kind TEXT,
        auth_revoked BOOLEAN, auth_deactivated BOOLEAN, auth_last_mutation BIGINT)
    LANGUAGE plpgsql VOLATILE
    AS $$
BEGIN
    IF cardinality(p_tenants) IS DISTINCT FROM cardinality(p_hashes) THEN
        RAISE EXCEPTION 'one hash per tenant' USING ERRCODE = '22023';
    END IF;
    FOR i IN 1 .. coalesce(cardinality(p_tenants), 0) LOOP
        RETURN QUERY SELECT i, a.* FROM hubnet_authenticate_device(p_tenants[i], p_hashes[i], p_now, p_lock_timeout_ms) AS a;
    END LOOP;
END
$$;

REVOKE ALL ON FUNCTION hubnet_authenticate_api_tokens(UUID[], BYTEA[], TIMESTAMPTZ, INTEGER) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hubnet_authenticate_api_tokens(UUID[], BYTEA[], TIMESTAMPTZ, INTEGER) TO hubnet_app;
REVOKE ALL ON FUNCTION hubnet_authenticate_devices(UUID[], BYTEA[], TIMESTAMPTZ, INTEGER) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hubnet_authenticate_devices(UUID[], BYTEA[], TIMESTAMPTZ, INTEGER) TO hubnet_app;
