-- Run once by the postgres image on a new volume: the login role the server connects as.
-- `hubnet migrate --server-role hubnet_server` then makes it a member of hubnet_app; it owns nothing
-- and so stays under row-level security.
CREATE ROLE hubnet_server LOGIN PASSWORD 'hubnet-server-password';
