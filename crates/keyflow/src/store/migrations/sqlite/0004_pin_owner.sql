-- The client token that created a pinned resource: with client tokens
-- configured, only that token may use or list it (NULL: created on an open
-- gateway, or before owners were recorded).
ALTER TABLE pins ADD COLUMN owner TEXT;
