-- tether's PostgreSQL schema as a fresh store gets it (the sum of migrations/, which upgrade an
-- existing store; tests/postgres/test_schema.py keeps the two equal). Tables live in the store's
-- schema (search_path). Timestamps are BIGINT nanoseconds since the Unix epoch.

CREATE TABLE instances (
    instance_id TEXT COLLATE "C" PRIMARY KEY,
    app_id TEXT NOT NULL,
    name TEXT NOT NULL,
    status INTEGER NOT NULL,
    execution_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    started_at BIGINT,
    completed_at BIGINT,
    scheduled_start BIGINT,
    input TEXT,
    output TEXT,
    custom_status TEXT,
    failure BYTEA,
    parent_instance_id TEXT,
    parent BYTEA,
    stall BYTEA,
    version_name TEXT,
    tags TEXT,
    owner TEXT,
    epoch BIGINT NOT NULL DEFAULT 0,
    -- Kept by the server for the dashboard's duration percentiles (index-only scans).
    duration BIGINT GENERATED ALWAYS AS (completed_at - COALESCE(started_at, created_at)) STORED
);
CREATE INDEX instances_app_status ON instances (app_id, status);
CREATE INDEX instances_owner ON instances (owner);
-- (created_at, name, status) covers listings by creation time filtered by name or status.
CREATE INDEX instances_created_name_status ON instances (created_at, name, status);
-- The per-name statistics count ranges of these and read percentiles in index order
-- (store/postgres/stats.py): instances by name and creation time (also listings by name in
-- creation order), and by name, status and creation time; finished runs by name, status and
-- completion time (a running instance's turns never touch it); completed runs by name and duration.
CREATE INDEX instances_name_created ON instances (name, created_at, status, app_id);
CREATE INDEX instances_name_status_created ON instances (name, status, created_at, app_id);
CREATE INDEX instances_name_finished
    ON instances (name, status, completed_at, app_id, duration)
    WHERE completed_at IS NOT NULL;
CREATE INDEX instances_completed_duration
    ON instances (name, duration, completed_at, app_id)
    WHERE status = 1;

CREATE TABLE history (
    instance_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event BYTEA NOT NULL,
    PRIMARY KEY (instance_id, seq)
);

CREATE TABLE inbox (
    msg_id BIGINT PRIMARY KEY,
    instance_id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    event BYTEA NOT NULL,
    visible_at BIGINT NOT NULL,
    execution_id TEXT,
    ord BIGINT NOT NULL
);
CREATE INDEX inbox_instance ON inbox (instance_id, ord);
CREATE INDEX inbox_app_ord ON inbox (app_id, ord);

CREATE TABLE tasks (
    instance_id TEXT NOT NULL,
    task_id INTEGER NOT NULL,
    execution_id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    request BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    owner TEXT,
    PRIMARY KEY (instance_id, task_id)
);
CREATE INDEX tasks_app ON tasks (app_id, owner);
CREATE INDEX tasks_owner ON tasks (owner);

CREATE TABLE nodes (
    node_id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    grpc_port INTEGER NOT NULL,
    http_port INTEGER NOT NULL,
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    lease_expires BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX nodes_app ON nodes (app_id, lease_expires);
