-- Notifications: written to the outbox in the transaction of the action that causes them, then
-- delivered by email (SMTP) or webhook, with retries and a delivery log the tenant can read.
CREATE TABLE webhooks (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    events TEXT[] NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT webhooks_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT webhooks_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id)
);

CREATE TABLE outbox (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    event TEXT NOT NULL,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    webhook_id UUID,
    subject TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    delivered_at TIMESTAMPTZ,
    failed_at TIMESTAMPTZ,
    last_error TEXT,
    CONSTRAINT outbox_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT outbox_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT outbox_webhook_fkey FOREIGN KEY (tenant_id, webhook_id) REFERENCES webhooks (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT outbox_channel_check CHECK (channel IN ('email', 'webhook'))
);
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at) WHERE delivered_at IS NULL AND failed_at IS NULL;

CREATE TABLE deliveries (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    outbox_id UUID NOT NULL,
    attempt INTEGER NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT,
    CONSTRAINT deliveries_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT deliveries_outbox_fkey FOREIGN KEY (tenant_id, outbox_id) REFERENCES outbox (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT deliveries_outcome_check CHECK (outcome IN ('delivered', 'retrying', 'failed'))
);
CREATE INDEX deliveries_outbox_idx ON deliveries (tenant_id, outbox_id, attempt);
CREATE INDEX deliveries_at_idx ON deliveries (tenant_id, at DESC);

SELECT hubnet_isolate_tenant_table(name) FROM unnest(ARRAY['webhooks', 'outbox', 'deliveries']) AS name;
GRANT SELECT, INSERT, DELETE ON webhooks TO hubnet_app;
GRANT SELECT, INSERT, UPDATE ON outbox TO hubnet_app;
GRANT SELECT, INSERT ON deliveries TO hubnet_app;

-- The delivery service finds due messages of every tenant in this scope, reading only.
CREATE POLICY outbox_scheduler_scan ON outbox FOR SELECT USING (hubnet_current_scope() = 'scheduler');
