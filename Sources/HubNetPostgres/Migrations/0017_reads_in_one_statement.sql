-- Reads in one statement outside any transaction. First, a pull's first read: most pulls of a device that polls
-- find nothing new, and their answer needs only this (before: BEGIN, enter the tenant, read, COMMIT).
-- Enters the tenant for its own statement, as the authentication functions do (0016), and returns
-- the epoch, the device's last stored mutation, the tenant's head and compaction horizon, and
-- whether the device has erasure purges to acknowledge.
CREATE FUNCTION hubnet_sync_pull_state(p_tenant UUID, p_device UUID)
    RETURNS TABLE (state_epoch UUID, state_last_mutation BIGINT, state_head BIGINT, state_horizon BIGINT, state_purges BOOLEAN)
    LANGUAGE plpgsql VOLATILE
    AS $$
BEGIN
    PERFORM set_config('hubnet.tenant_id', p_tenant::TEXT, true);
    RETURN QUERY
    SELECT (SELECT epoch FROM sync_epoch),
           COALESCE((SELECT last_mutation_id FROM devices WHERE tenant_id = p_tenant AND id = p_device), 0),
           COALESCE((SELECT seq FROM sync_heads WHERE tenant_id = p_tenant), 0),
           (SELECT seq FROM sync_horizons WHERE tenant_id = p_tenant),
           EXISTS (SELECT 1 FROM erasure_devices
                   WHERE tenant_id = p_tenant AND device_id = p_device AND acknowledged_at IS NULL);
END
$$;

REVOKE ALL ON FUNCTION hubnet_sync_pull_state(UUID, UUID) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hubnet_sync_pull_state(UUID, UUID) TO hubnet_app;

-- A published listing by id, read in the directory's scope for this one statement: the public
-- lead form's first read (before: BEGIN READ ONLY, enter the directory, read, COMMIT).
CREATE FUNCTION hubnet_published_listing(p_id UUID) RETURNS SETOF listings
    LANGUAGE plpgsql VOLATILE
    AS $$
BEGIN
    PERFORM set_config('hubnet.scope', 'directory', true);
    RETURN QUERY SELECT * FROM listings WHERE id = p_id AND published;
END
$$;

REVOKE ALL ON FUNCTION hubnet_published_listing(UUID) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hubnet_published_listing(UUID) TO hubnet_app;
