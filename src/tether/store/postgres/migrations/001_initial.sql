-- Migration 1: the first schema (instances, history, inbox, tasks, nodes).
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
    owner TEXT
);
CREATE INDEX instances_app_status ON instances (app_id, status);
CREATE INDEX instances_owner ON instances (owner);
CREATE INDEX instances_created ON instances (created_at);

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

CREATE TABLE nodes (
    node_id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    grpc_port INTEGER NOT NULL,
    http_port INTEGER NOT NULL,
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);
