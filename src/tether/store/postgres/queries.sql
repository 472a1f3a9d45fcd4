-- Every statement the PostgreSQL backend runs, by name (loaded by queries.py). A query starts at
-- a line "-- name: <name>" followed by comment lines saying what it is for. Parameters are
-- psycopg's %(name)s; a NULL filter parameter means "no filter". A {piece} in braces is an
-- identifier, keyword or named fragment the caller composes in (psycopg.sql) before running it.

-- name: get_instance
SELECT instance_id, app_id, name, status, execution_id, created_at, updated_at, started_at,
       completed_at, scheduled_start, input, output, custom_status, failure, parent_instance_id,
       parent, stall, version_name, tags, owner, epoch
FROM instances WHERE instance_id = %(instance_id)s;

-- name: instance_route
SELECT app_id, status, execution_id FROM instances WHERE instance_id = %(instance_id)s;

-- name: load_history
SELECT event FROM history WHERE instance_id = %(instance_id)s ORDER BY seq;

-- name: load_messages
SELECT msg_id, instance_id, app_id, event, visible_at, execution_id, ord
FROM inbox WHERE instance_id = %(instance_id)s ORDER BY ord, msg_id;

-- name: load_tasks
SELECT instance_id, task_id, execution_id, app_id, request, created_at, owner
FROM tasks WHERE instance_id = %(instance_id)s ORDER BY task_id;

-- name: instance_filter
-- The WHERE of the listing and the count (composed into both as {filter}): every field of an
-- InstanceFilter is optional (NULL). The ID prefix is a range on the primary key (collation
-- "C" compares UTF-8 bytes), so the key's index serves it.
(%(app_id)s::text IS NULL OR app_id = %(app_id)s)
  AND (%(name)s::text IS NULL OR name = %(name)s)
  AND (%(parent_instance_id)s::text IS NULL OR parent_instance_id = %(parent_instance_id)s)
  AND (%(has_parent)s::boolean IS NULL OR (parent_instance_id IS NOT NULL) = %(has_parent)s)
  AND (%(statuses)s::int[] IS NULL OR status = ANY(%(statuses)s::int[]))
  AND (%(created_from)s::bigint IS NULL OR created_at >= %(created_from)s)
  AND (%(created_to)s::bigint IS NULL OR created_at < %(created_to)s)
  AND (%(updated_from)s::bigint IS NULL OR updated_at >= %(updated_from)s)
  AND (%(updated_to)s::bigint IS NULL OR updated_at < %(updated_to)s)
  AND (%(id_from)s::text IS NULL OR (instance_id >= %(id_from)s AND instance_id < %(id_to)s))

-- name: list_instances_by_id
-- The listing in instance ID order ({direction}: ASC or DESC), paged after an ID ({after}: >
-- ascending, < descending).
SELECT instance_id, app_id, name, status, execution_id, created_at, updated_at, started_at,
       completed_at, scheduled_start, input, output, custom_status, failure, parent_instance_id,
       parent, stall, version_name, tags, owner, epoch
FROM instances
WHERE {filter}
  AND (%(after_id)s::text IS NULL OR instance_id {after} %(after_id)s)
ORDER BY instance_id {direction}
LIMIT %(limit)s;

-- name: list_instances_by_time
-- The listing by a time column ({key}: created_at or updated_at), ties broken by instance ID so
-- paging never skips a row; the keyset cursor is the last row's (key, ID), applied when both
-- are given.
SELECT instance_id, app_id, name, status, execution_id, created_at, updated_at, started_at,
       completed_at, scheduled_start, input, output, custom_status, failure, parent_instance_id,
       parent, stall, version_name, tags, owner, epoch
FROM instances
WHERE {filter}
  AND (%(after_key)s::bigint IS NULL OR %(after_id)s::text IS NULL
       OR ({key}, instance_id) {after} (%(after_key)s::bigint, %(after_id)s::text))
ORDER BY {key} {direction}, instance_id {direction}
LIMIT %(limit)s;

-- name: count_instances
-- Instances matching the filter, per status.
SELECT status, COUNT(*) FROM instances WHERE {filter} GROUP BY status;

-- name: list_instance_ids
SELECT instance_id FROM instances
WHERE (%(app_id)s::text IS NULL OR app_id = %(app_id)s)
  AND (%(after_id)s::text IS NULL OR instance_id > %(after_id)s)
ORDER BY instance_id
LIMIT %(limit)s;

-- name: list_timers
SELECT msg_id, instance_id, app_id, event, visible_at, execution_id, ord
FROM inbox WHERE (%(app_id)s::text IS NULL OR app_id = %(app_id)s)
ORDER BY visible_at, msg_id;

-- name: list_nodes
SELECT node_id, app_id, host, pid, grpc_port, http_port, started_at, heartbeat_at, lease_expires
FROM nodes ORDER BY node_id;

-- name: orphan_history
SELECT COUNT(*) FROM history h
WHERE NOT EXISTS (SELECT 1 FROM instances i WHERE i.instance_id = h.instance_id);

-- name: orphan_inbox
SELECT COUNT(*) FROM inbox m
WHERE NOT EXISTS (SELECT 1 FROM instances i WHERE i.instance_id = m.instance_id);

-- name: history_gaps
SELECT instance_id FROM history GROUP BY instance_id
HAVING MIN(seq) <> 0 OR MAX(seq) <> COUNT(*) - 1;

-- name: instances_per_status
-- The metrics endpoint's counts (queue_stats): instances per app and status,
SELECT app_id, status, COUNT(*) FROM instances GROUP BY app_id, status;

-- name: inbox_per_app
-- … inbox rows per app: deliverable at %(now)s (with the oldest one's visible_at), not visible
-- yet, and delayed ones (timers, scheduled starts: visible_at after their order) now due,
SELECT app_id,
       COUNT(*) FILTER (WHERE visible_at <= %(now)s),
       MIN(visible_at) FILTER (WHERE visible_at <= %(now)s),
       COUNT(*) FILTER (WHERE visible_at > %(now)s),
       COUNT(*) FILTER (WHERE visible_at > ord AND visible_at <= %(now)s)
FROM inbox GROUP BY app_id;

-- name: tasks_per_app
-- … and unresolved activity tasks per app with the oldest one's creation time.
SELECT app_id, COUNT(*), MIN(created_at) FROM tasks GROUP BY app_id;

-- name: name_counts
-- The dashboard's statistics (workflow_stats) over [since, until), optionally of one app. Nothing
-- sorts or hashes the window's rows: names come from a loose index scan (one probe each) and every
-- figure is the count of an index range. First the counts, zeros included, each naming the field
-- of NameStatsRow it fills: instances created per name and status ('created'), per name and
-- bucket of bucket_ns from since ('started'), and runs finished (completed_at in the window) per
-- name and terminal status ('finished'),
WITH RECURSIVE names(name) AS (
    SELECT MIN(name) FROM instances
    UNION ALL
    SELECT (SELECT MIN(i.name) FROM instances i WHERE i.name > names.name)
    FROM names WHERE names.name IS NOT NULL
)
SELECT 'created', names.name, s.status, c.n
FROM names CROSS JOIN unnest(%(statuses)s::int[]) AS s(status)
CROSS JOIN LATERAL (
    SELECT COUNT(*) AS n FROM instances x
    WHERE x.name = names.name AND x.status = s.status
      AND x.created_at >= %(since)s AND x.created_at < %(until)s
      AND (%(app_id)s::text IS NULL OR x.app_id = %(app_id)s)) c
WHERE names.name IS NOT NULL
UNION ALL
SELECT 'started', names.name, b.i, c.n
FROM names
CROSS JOIN generate_series(0, ((%(until)s::bigint - %(since)s::bigint - 1)
                               / %(bucket_ns)s::bigint)::int) AS b(i)
CROSS JOIN LATERAL (
    SELECT COUNT(*) AS n FROM instances x
    WHERE x.name = names.name
      AND x.created_at >= %(since)s::bigint + b.i * %(bucket_ns)s::bigint
      AND x.created_at < LEAST(%(until)s::bigint,
                               %(since)s::bigint + (b.i + 1) * %(bucket_ns)s::bigint)
      AND (%(app_id)s::text IS NULL OR x.app_id = %(app_id)s)) c
WHERE names.name IS NOT NULL
UNION ALL
SELECT 'finished', names.name, s.status, c.n
FROM names CROSS JOIN unnest(%(terminal)s::int[]) AS s(status)
CROSS JOIN LATERAL (
    SELECT COUNT(*) AS n FROM instances x
    WHERE x.name = names.name AND x.status = s.status
      AND x.completed_at >= %(since)s AND x.completed_at < %(until)s
      AND (%(app_id)s::text IS NULL OR x.app_id = %(app_id)s)) c
WHERE names.name IS NOT NULL;

-- name: duration_percentiles
-- … the durations of COMPLETED runs at the given ranks (name, p, rank: the nearest rank of
-- percentile p, counted by the caller from name_counts): the rank-th entry of the name's
-- completed runs in duration order that finished in the window, from instances_completed_duration
-- (an index-only scan that stops there) or, for a narrow window, by sorting the window's runs
-- from instances_name_finished; the planner picks. The literal 1 (COMPLETED) lets the partial
-- indexes serve a generic plan too,
SELECT t.name, t.p,
       (SELECT i.duration FROM instances i
        WHERE i.name = t.name AND i.status = 1
          AND i.completed_at >= %(since)s AND i.completed_at < %(until)s
          AND (%(app_id)s::text IS NULL OR i.app_id = %(app_id)s)
        ORDER BY i.duration LIMIT 1 OFFSET t.rank - 1)
FROM unnest(%(names)s::text[], %(percentiles)s::int[], %(ranks)s::int[]) AS t(name, p, rank);

-- name: top_failures
-- … and the most frequent failure details of FAILED runs, per name (at most %(top)s each).
SELECT name, failure, c
FROM (SELECT name, failure, COUNT(*) AS c,
             ROW_NUMBER() OVER (PARTITION BY name ORDER BY COUNT(*) DESC) AS rn
      FROM instances
      WHERE status = %(failed)s AND failure IS NOT NULL AND completed_at >= %(since)s
        AND completed_at < %(until)s AND (%(app_id)s::text IS NULL OR app_id = %(app_id)s)
      GROUP BY name, failure) grouped
WHERE rn <= %(top)s
ORDER BY name, c DESC;

-- name: store_size
-- What the store occupies: its tables in its schema (the first on the search path) with their
-- indexes and TOAST, and the rows of the tables the dashboard shows.
SELECT (SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint
        FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
        WHERE s.nspname = current_schema() AND c.relkind = 'r'
          AND c.relname = ANY(ARRAY['instances', 'history', 'inbox', 'tasks', 'nodes',
                                    'tether_migrations'])),
       (SELECT COUNT(*) FROM instances),
       (SELECT COUNT(*) FROM inbox),
       (SELECT COUNT(*) FROM tasks);

-- name: upsert_instance
-- Update in place on conflict (a turn rewrites the row; untouched indexes stay as they are).
-- Owner and epoch are set by the creation and by claims only.
INSERT INTO instances (instance_id, app_id, name, status, execution_id, created_at, updated_at,
                       started_at, completed_at, scheduled_start, input, output, custom_status,
                       failure, parent_instance_id, parent, stall, version_name, tags, owner,
                       epoch)
VALUES (%(instance_id)s, %(app_id)s, %(name)s, %(status)s, %(execution_id)s, %(created_at)s,
        %(updated_at)s, %(started_at)s, %(completed_at)s, %(scheduled_start)s, %(input)s,
        %(output)s, %(custom_status)s, %(failure)s, %(parent_instance_id)s, %(parent)s,
        %(stall)s, %(version_name)s, %(tags)s, %(owner)s, %(epoch)s)
ON CONFLICT (instance_id) DO UPDATE SET
    app_id = excluded.app_id, name = excluded.name, status = excluded.status,
    execution_id = excluded.execution_id, created_at = excluded.created_at,
    updated_at = excluded.updated_at, started_at = excluded.started_at,
    completed_at = excluded.completed_at, scheduled_start = excluded.scheduled_start,
    input = excluded.input, output = excluded.output, custom_status = excluded.custom_status,
    failure = excluded.failure, parent_instance_id = excluded.parent_instance_id,
    parent = excluded.parent, stall = excluded.stall, version_name = excluded.version_name,
    tags = excluded.tags;

-- name: delete_instance
-- One statement for the instance and everything that hangs off it.
WITH h AS (DELETE FROM history WHERE instance_id = %(instance_id)s),
     m AS (DELETE FROM inbox WHERE instance_id = %(instance_id)s),
     t AS (DELETE FROM tasks WHERE instance_id = %(instance_id)s)
DELETE FROM instances WHERE instance_id = %(instance_id)s;

-- name: append_history
-- All events of one append in one statement; a taken seq fails it (unique violation).
INSERT INTO history (instance_id, seq, event)
SELECT %(instance_id)s, %(first_seq)s + e.n - 1, e.event
FROM unnest(%(events)s::bytea[]) WITH ORDINALITY AS e(event, n);

-- name: clear_history
DELETE FROM history WHERE instance_id = %(instance_id)s;

-- name: add_messages
INSERT INTO inbox (msg_id, instance_id, app_id, event, visible_at, execution_id, ord)
SELECT * FROM unnest(%(msg_ids)s::bigint[], %(instance_ids)s::text[], %(app_ids)s::text[],
                     %(events)s::bytea[], %(visible_ats)s::bigint[], %(execution_ids)s::text[],
                     %(ords)s::bigint[]);

-- name: delete_messages
DELETE FROM inbox WHERE msg_id = ANY(%(msg_ids)s::bigint[]) RETURNING app_id, instance_id;

-- name: clear_messages
DELETE FROM inbox WHERE instance_id = %(instance_id)s
  AND (%(execution_id)s::text IS NULL OR execution_id = %(execution_id)s)
RETURNING app_id, instance_id;

-- name: add_tasks
-- A task with the same (instance, task id) is replaced, as a re-scheduled activity is.
INSERT INTO tasks (instance_id, task_id, execution_id, app_id, request, created_at, owner)
SELECT * FROM unnest(%(instance_ids)s::text[], %(task_ids)s::int[], %(execution_ids)s::text[],
                     %(app_ids)s::text[], %(requests)s::bytea[], %(created_ats)s::bigint[],
                     %(owners)s::text[])
ON CONFLICT (instance_id, task_id) DO UPDATE SET
    execution_id = excluded.execution_id, app_id = excluded.app_id,
    request = excluded.request, created_at = excluded.created_at, owner = excluded.owner;

-- name: take_task
-- A result is accepted by the one transaction that deletes its task (at most once).
DELETE FROM tasks WHERE instance_id = %(instance_id)s AND task_id = %(task_id)s
  AND (%(execution_id)s::text IS NULL OR execution_id = %(execution_id)s)
RETURNING task_id;

-- name: clear_tasks
DELETE FROM tasks WHERE instance_id = %(instance_id)s;

-- name: store_now
-- The store's clock: the server's, in ns (the same for every node).
SELECT (extract(epoch FROM clock_timestamp()) * 1000000000)::bigint;

-- name: fence
-- The instance's lease as it stands, its row locked until the commit (a claimer waits, then
-- sees the new owner), with the owner's node lease and the clock read in the same statement.
SELECT i.owner, i.epoch, n.lease_expires,
       (extract(epoch FROM clock_timestamp()) * 1000000000)::bigint, i.status
FROM instances i LEFT JOIN nodes n ON n.node_id = i.owner
WHERE i.instance_id = %(instance_id)s
FOR UPDATE OF i;

-- name: node_lease
SELECT (SELECT lease_expires FROM nodes WHERE node_id = %(node_id)s),
       (extract(epoch FROM clock_timestamp()) * 1000000000)::bigint;

-- name: claim_instances
-- Non-terminal instances of an app without a live owner, oldest first: at most the batch
-- bound and this node's fair share (the app's non-terminal instances over its live nodes, less
-- what it owns). Rows another transaction holds are skipped, not waited for: a claim never
-- queues behind an owner's write or another claimer; each claimed epoch grows by one, and
-- the owner it was taken from (NULL: never owned) comes back with it.
WITH live AS (SELECT node_id, app_id FROM nodes WHERE lease_expires > %(now)s),
counts AS (
    SELECT COUNT(*) AS total, COUNT(*) FILTER (WHERE owner = %(node_id)s) AS mine
    FROM instances WHERE app_id = %(app_id)s AND status <> ALL(%(terminal)s::int[])
),
share AS (
    SELECT LEAST(%(limit)s::bigint,
                 GREATEST(0, ceil(c.total::numeric
                                  / GREATEST(1, (SELECT COUNT(*) FROM live
                                                 WHERE app_id = %(app_id)s)))::bigint
                             - c.mine)) AS n
    FROM counts c
),
pick AS (
    SELECT instance_id, owner AS previous_owner FROM instances
    WHERE app_id = %(app_id)s AND status <> ALL(%(terminal)s::int[])
      AND (owner IS NULL OR owner NOT IN (SELECT node_id FROM live))
    ORDER BY created_at
    LIMIT (SELECT n FROM share)
    FOR UPDATE SKIP LOCKED
)
UPDATE instances i SET owner = %(node_id)s, epoch = i.epoch + 1
FROM pick WHERE i.instance_id = pick.instance_id
RETURNING i.instance_id, i.epoch, pick.previous_owner;

-- name: claim_tasks
-- Activity tasks of an app without a live owner: a share of them (over the app's live nodes),
-- at most the batch bound, skipping rows another transaction holds. The owner test is on the
-- locked row itself: a row another claimer took after this statement's snapshot is checked
-- again once locked (read committed), and must then fail it, or both would claim the task.
WITH live AS (SELECT node_id, app_id FROM nodes WHERE lease_expires > %(now)s),
share AS (
    SELECT LEAST(%(limit)s::bigint,
                 ceil((SELECT COUNT(*) FROM tasks
                       WHERE app_id = %(app_id)s
                         AND (owner IS NULL OR owner NOT IN (SELECT node_id FROM live)))::numeric
                      / GREATEST(1, (SELECT COUNT(*) FROM live WHERE app_id = %(app_id)s))
                 )::bigint) AS n
),
pick AS (
    SELECT instance_id, task_id FROM tasks
    WHERE app_id = %(app_id)s AND (owner IS NULL OR owner NOT IN (SELECT node_id FROM live))
    ORDER BY created_at
    LIMIT (SELECT n FROM share)
    FOR UPDATE SKIP LOCKED
)
UPDATE tasks t SET owner = %(node_id)s
FROM pick WHERE t.instance_id = pick.instance_id AND t.task_id = pick.task_id
RETURNING t.instance_id, t.task_id, t.execution_id, t.app_id, t.request, t.created_at, t.owner;

-- name: register_node
INSERT INTO nodes (node_id, app_id, host, pid, grpc_port, http_port, started_at, heartbeat_at,
                   lease_expires)
VALUES (%(node_id)s, %(app_id)s, %(host)s, %(pid)s, %(grpc_port)s, %(http_port)s,
        %(started_at)s, %(now)s, %(now)s + %(lease_ns)s)
ON CONFLICT (node_id) DO UPDATE SET
    app_id = excluded.app_id, host = excluded.host, pid = excluded.pid,
    grpc_port = excluded.grpc_port, http_port = excluded.http_port,
    started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,
    lease_expires = excluded.lease_expires;

-- name: renew_node
-- Only a lease still running is extended: an expired one may already have lost its work.
UPDATE nodes SET heartbeat_at = %(now)s, lease_expires = %(now)s + %(lease_ns)s
WHERE node_id = %(node_id)s AND lease_expires > %(now)s
RETURNING lease_expires;

-- name: expire_node
UPDATE nodes SET lease_expires = 0 WHERE node_id = %(node_id)s;

-- name: delete_node
DELETE FROM nodes WHERE node_id = %(node_id)s;

-- name: notify
-- Tell other stores on this schema what this transaction changed (delivered at commit).
SELECT pg_notify(%(channel)s, payload) FROM unnest(%(payloads)s::text[]) AS payload;

-- name: listen
-- The channel is an identifier, composed in by the listener.
LISTEN {channel};

-- name: migration_lock
-- Held until the migrating transaction ends: nodes starting together migrate once.
SELECT pg_advisory_xact_lock(hashtext('tether.migrate'), hashtext(%(schema)s));

-- name: create_migrations_table
CREATE TABLE IF NOT EXISTS tether_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- name: applied_migrations
SELECT version FROM tether_migrations ORDER BY version;

-- name: record_migration
INSERT INTO tether_migrations (version, name) VALUES (%(version)s, %(name)s);

-- name: has_tables
SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = %(schema)s AND tablename = 'instances');
