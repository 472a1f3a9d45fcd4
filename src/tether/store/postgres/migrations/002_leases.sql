-- Migration 2: fenced leases judged by the store's clock (the server's), and the keyed change
-- feed (LISTEN/NOTIFY: no table). An instance's lease is (owner, epoch); it expires with its
-- owner's node lease.
ALTER TABLE instances ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN lease_expires BIGINT NOT NULL DEFAULT 0;
CREATE INDEX nodes_app ON nodes (app_id, lease_expires);
CREATE INDEX tasks_owner ON tasks (owner);
