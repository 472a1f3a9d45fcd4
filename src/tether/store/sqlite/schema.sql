-- tether schema, the newest version (store.py: SCHEMA_VERSION). A fresh store is created from
-- this file; an older one is brought here by migrations/NNN_*.sql, and a test checks that both
-- give the same tables and indexes. Timestamps are integer nanoseconds since the Unix epoch,
-- except lease times, which are on the store's clock (table clock).
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE instances (
    instance_id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    name TEXT NOT NULL,
    status INTEGER NOT NULL,
    execution_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    started_at INTEGER,
    completed_at INTEGER,
    scheduled_start INTEGER,
    input TEXT,
    output TEXT,
    custom_status TEXT,
    failure BLOB,
    parent_instance_id TEXT,
    parent BLOB,
    stall BLOB,
    version_name TEXT,
    tags TEXT,
    owner TEXT,
    epoch INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX instances_app_status ON instances (app_id, status);
CREATE INDEX instances_owner ON instances (owner);
-- (created_at, name, status) covers listings by creation time filtered by name or status.
CREATE INDEX instances_created_name_status ON instances (created_at, name, status);
-- The per-name statistics count ranges of these and read percentiles in index order
-- (store/sqlite/stats.py): instances by name and creation time (also listings by name in creation
-- order), and by name, status and creation time; finished runs by name, status and completion time
-- (a running instance's turns never touch it); completed runs by name and duration.
CREATE INDEX instances_name_created ON instances (name, created_at, status, app_id);
CREATE INDEX instances_name_status_created ON instances (name, status, created_at, app_id);
CREATE INDEX instances_name_finished
    ON instances (name, status, completed_at, app_id, started_at, created_at)
    WHERE completed_at IS NOT NULL;
CREATE INDEX instances_completed_duration
    ON instances (name, (completed_at - COALESCE(started_at, created_at)), completed_at, app_id)
    WHERE status = 1;

CREATE TABLE history (
    instance_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event BLOB NOT NULL,
    PRIMARY KEY (instance_id, seq)
) WITHOUT ROWID;

CREATE TABLE inbox (
    msg_id INTEGER PRIMARY KEY,
    instance_id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    event BLOB NOT NULL,
    visible_at INTEGER NOT NULL,
    execution_id TEXT,
    ord INTEGER NOT NULL
);
CREATE INDEX inbox_instance ON inbox (instance_id, ord);
CREATE INDEX inbox_app_ord ON inbox (app_id, ord);

CREATE TABLE tasks (
    instance_id TEXT NOT NULL,
    task_id INTEGER NOT NULL,
    execution_id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    request BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    owner TEXT,
    PRIMARY KEY (instance_id, task_id)
) WITHOUT ROWID;
CREATE INDEX tasks_app ON tasks (app_id, owner);
CREATE INDEX tasks_owner ON tasks (owner);

CREATE TABLE nodes (
    node_id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    grpc_port INTEGER NOT NULL,
    http_port INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL,
    lease_expires INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX nodes_app ON nodes (app_id, lease_expires);

CREATE TABLE clock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    now INTEGER NOT NULL
);

CREATE TABLE changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    origin TEXT NOT NULL,
    kind TEXT NOT NULL,
    app_id TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX changes_at ON changes (at);
