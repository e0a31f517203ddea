-- What each stored mutation was, as a digest of its content: a push that reuses a number for a
-- different mutation (a client that lost its store) is told so instead of being answered with the
-- stored outcome of the old one. Rows from before have none; for them name and lead are compared.
ALTER TABLE sync_mutations ADD COLUMN digest BYTEA;
