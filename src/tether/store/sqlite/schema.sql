-- tether schema, version 1. Timestamps are integer nanoseconds since the Unix epoch.
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS instances (
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
    owner TEXT
);
CREATE INDEX IF NOT EXISTS instances_app_status ON instances (app_id, status);
CREATE INDEX IF NOT EXISTS instances_owner ON instances (owner);
-- (created_at, name, status) covers listings by creation time filtered by name or status and
-- the per-name statistics; it replaces the earlier index on created_at alone.
DROP INDEX IF EXISTS instances_created;
CREATE INDEX IF NOT EXISTS instances_created_name_status ON instances (created_at, name, status);
-- Finished runs only (a running instance's turns never touch it): durations and outcomes by
-- completion time.
CREATE INDEX IF NOT EXISTS instances_finished
    ON instances (completed_at, name, status, started_at, created_at)
    WHERE completed_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS history (
    instance_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event BLOB NOT NULL,
    PRIMARY KEY (instance_id, seq)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS inbox (
    msg_id INTEGER PRIMARY KEY,
    instance_id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    event BLOB NOT NULL,
    visible_at INTEGER NOT NULL,
    execution_id TEXT,
    ord INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS inbox_instance ON inbox (instance_id, ord);
CREATE INDEX IF NOT EXISTS inbox_app_ord ON inbox (app_id, ord);

CREATE TABLE IF NOT EXISTS tasks (
    instance_id TEXT NOT NULL,
    task_id INTEGER NOT NULL,
    execution_id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    request BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    owner TEXT,
    PRIMARY KEY (instance_id, task_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tasks_app ON tasks (app_id, owner);

CREATE TABLE IF NOT EXISTS nodes (
    node_id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    grpc_port INTEGER NOT NULL,
    http_port INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL
);
