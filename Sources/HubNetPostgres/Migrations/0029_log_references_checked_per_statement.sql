-- The two logs every write appends to — the change log (`sync_changes`, a row per changed record)
-- and the devices' mutation log (`sync_mutations`, a row per pushed mutation) — check what their
-- rows name once per statement instead of once per row, and the change log's age is indexed by a
-- BRIN index instead of a B-tree.
--
-- Measured with pgbench on one connection, a transaction of 100 rows (what one push batch adds
-- to each log): 100 change rows and their seal took 3.5 ms with the foreign key to `tenants` and
-- the (tenant_id, created_at) B-tree, 2.0 ms with the checks below; 100 device-log rows took
-- 1.2 ms with the foreign key to `devices`, 0.8 ms with the check below. A foreign key runs a
-- query and takes a row lock for every row it checks: a push of 100 mutations made 100 checks of
-- the same tenant and 100 of the same device, already locked by the push. A single-row insert
-- costs the same either way.
--
-- What stays guaranteed:
-- * Every change row names an existing tenant, every device-log row an existing device of its
--   tenant: the statement that adds rows fails with foreign_key_violation (23503), as the keys did.
-- * A device's deletion deletes its log (the key's ON DELETE CASCADE); a tenant that has change
--   rows cannot be deleted (the key's NO ACTION). Neither is deleted by HubNet today: devices are
--   revoked and tenants kept.
-- What the keys did and these checks do not: lock the named row until commit. Nothing deletes a
-- tenant, and a push holds its device's row (`FOR UPDATE`) while it logs.
--
-- The B-tree on (tenant_id, created_at) served only compaction (`hubnet sync compact`, changes
-- older than a cut). The log is appended in time order, so a BRIN index over created_at finds
-- old page ranges at a fraction of the cost of keeping a B-tree entry for every row twice (at
-- insert and again when the seal numbers the row).

ALTER TABLE sync_changes DROP CONSTRAINT sync_changes_tenant_fkey;

CREATE FUNCTION hubnet_sync_changes_name_tenants() RETURNS TRIGGER
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
DECLARE
    missing UUID;
BEGIN
    SELECT n.tenant_id INTO missing FROM (SELECT DISTINCT tenant_id FROM new_rows) AS n
    WHERE NOT EXISTS (SELECT 1 FROM tenants t WHERE t.id = n.tenant_id)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert into sync_changes names tenant %, which does not exist', missing
            USING ERRCODE = 'foreign_key_violation', TABLE = 'sync_changes', COLUMN = 'tenant_id';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER sync_changes_tenant_exists AFTER INSERT ON sync_changes
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION hubnet_sync_changes_name_tenants();

CREATE FUNCTION hubnet_tenants_keep_changes() RETURNS TRIGGER
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
DECLARE
    kept UUID;
BEGIN
    SELECT o.id INTO kept FROM old_rows o WHERE EXISTS (SELECT 1 FROM sync_changes c WHERE c.tenant_id = o.id) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'tenant % has change-log rows and cannot be deleted', kept
            USING ERRCODE = 'foreign_key_violation', TABLE = 'tenants';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER tenants_keep_changes AFTER DELETE ON tenants
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION hubnet_tenants_keep_changes();

DROP INDEX sync_changes_created_idx;
CREATE INDEX sync_changes_created_brin ON sync_changes USING brin (created_at);

ALTER TABLE sync_mutations DROP CONSTRAINT sync_mutations_device_fkey;

CREATE FUNCTION hubnet_sync_mutations_name_devices() RETURNS TRIGGER
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
DECLARE
    missing UUID;
BEGIN
    SELECT n.device_id INTO missing FROM (SELECT DISTINCT tenant_id, device_id FROM new_rows) AS n
    WHERE NOT EXISTS (SELECT 1 FROM devices d WHERE d.tenant_id = n.tenant_id AND d.id = n.device_id)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert into sync_mutations names device %, which does not exist in its tenant', missing
            USING ERRCODE = 'foreign_key_violation', TABLE = 'sync_mutations', COLUMN = 'device_id';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER sync_mutations_device_exists AFTER INSERT ON sync_mutations
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION hubnet_sync_mutations_name_devices();

CREATE FUNCTION hubnet_devices_take_their_log() RETURNS TRIGGER
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
BEGIN
    DELETE FROM sync_mutations m USING old_rows o WHERE m.tenant_id = o.tenant_id AND m.device_id = o.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER devices_take_their_log AFTER DELETE ON devices
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION hubnet_devices_take_their_log();
