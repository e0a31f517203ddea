-- A tenant's own text for a notice of the catalog (NoticeCatalog in the core): a message template
-- naming the notice replaces the catalog's text in every email of that notice to the tenant's
-- people (in their language, in their words). One per notice and tenant.
ALTER TABLE message_templates ADD COLUMN notice TEXT;
ALTER TABLE message_templates ADD CONSTRAINT message_templates_notice_key UNIQUE (tenant_id, notice);
ALTER TABLE message_templates ADD CONSTRAINT message_templates_notice_check
    CHECK (notice IS NULL OR (channel = 'email' AND notice ~ '^[a-z][a-z0-9_]*$'));
