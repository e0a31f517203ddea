-- Hardening: idempotent lead creation, per-mutation outcomes that never wedge a device's queue.

-- A client that lost the answer to `POST /v1/leads` (a timeout, a 503 outcome_unknown) sends the
-- same request again with the same Idempotency-Key and gets the lead it created, never a second one.
-- A key is the caller's for 24 hours; the same key with another body is refused.
CREATE TABLE idempotency_keys (
    tenant_id UUID NOT NULL,
    user_id UUID NOT NULL,
    key TEXT NOT NULL,
    request_sha256 BYTEA NOT NULL,
    lead_id UUID NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (tenant_id, user_id, key),
    CONSTRAINT idempotency_keys_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT idempotency_keys_key_check CHECK (octet_length(key) BETWEEN 1 AND 255)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (tenant_id, created_at);
SELECT hubnet_isolate_tenant_table('idempotency_keys');
GRANT SELECT, INSERT, DELETE ON idempotency_keys TO hubnet_app;

-- A lead.update whose edits lost to values already on the server is applied with conflicts.
ALTER TABLE sync_mutations DROP CONSTRAINT sync_mutations_outcome_check;
ALTER TABLE sync_mutations ADD CONSTRAINT sync_mutations_outcome_check
    CHECK (outcome IN ('applied', 'applied_with_conflicts', 'rejected'));

-- A mutation whose handling fails with an error that is not a refusal by the rules (a defect) is
-- counted here, one row per device and mutation, in its own transaction; after N consecutive
-- failed pushes it is rejected with `failed_repeatedly` instead of failing the batch forever.
CREATE TABLE sync_mutation_failures (
    tenant_id UUID NOT NULL,
    device_id UUID NOT NULL,
    mutation_id BIGINT NOT NULL,
    attempts INTEGER NOT NULL,
    error_id UUID NOT NULL,
    last_failed_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT sync_mutation_failures_pkey PRIMARY KEY (tenant_id, device_id, mutation_id),
    CONSTRAINT sync_mutation_failures_device_fkey FOREIGN KEY (tenant_id, device_id)
        REFERENCES devices (tenant_id, id) ON DELETE CASCADE
);
SELECT hubnet_isolate_tenant_table('sync_mutation_failures');
GRANT SELECT, INSERT, UPDATE, DELETE ON sync_mutation_failures TO hubnet_app;

-- A rejection for one field's value names the field (`due_at`, `changes[0].to`); a replay answers it too.
ALTER TABLE sync_mutations ADD COLUMN field TEXT;

-- When a lead's inactivity reminder (002) is next due, kept on the row by the writer of its status
-- or assignee, so the timer service finds exactly the due ones (each tenant's own intervals) and a
-- lead without a reminder is never scanned again.
ALTER TABLE leads ADD COLUMN remind_at TIMESTAMPTZ;
CREATE INDEX leads_remind_idx ON leads (remind_at) WHERE remind_at IS NOT NULL AND withdrawn_at IS NULL;
