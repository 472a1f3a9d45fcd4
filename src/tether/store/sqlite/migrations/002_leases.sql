-- Version 2: fenced leases judged by the store's clock, and a keyed change feed.
-- An instance's lease is (owner, epoch); it expires with its owner's node lease.
ALTER TABLE instances ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN lease_expires INTEGER NOT NULL DEFAULT 0;
CREATE INDEX nodes_app ON nodes (app_id, lease_expires);
CREATE INDEX tasks_owner ON tasks (owner);

-- The store's one clock (ns), advanced by writers; see store.py (_StoreClock).
CREATE TABLE clock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    now INTEGER NOT NULL
);

-- Which instances changed, for the other processes on this file; read with a cursor on seq.
CREATE TABLE changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    origin TEXT NOT NULL,
    kind TEXT NOT NULL,
    app_id TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX changes_at ON changes (at);
