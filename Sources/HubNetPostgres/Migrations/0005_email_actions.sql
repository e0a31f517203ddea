-- Signed, single-use, expiring links in notification emails that let a target accept or decline a
-- referred lead without logging in.
CREATE TABLE email_action_links (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    lead_id UUID NOT NULL,
    user_id UUID NOT NULL,
    action TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ,
    CONSTRAINT email_action_links_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT email_action_links_lead_fkey FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT email_action_links_user_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id),
    CONSTRAINT email_action_links_action_check CHECK (action IN ('accept', 'decline'))
);
SELECT hubnet_isolate_tenant_table('email_action_links');
GRANT SELECT, INSERT, UPDATE ON email_action_links TO hubnet_app;

-- Inactivity reminders (002): when the assignee was last reminded about a lead.
ALTER TABLE leads ADD COLUMN reminded_at TIMESTAMPTZ;
CREATE INDEX leads_reminder_idx ON leads (assigned_user_id) WHERE completed_at IS NULL AND withdrawn_at IS NULL;
