-- Migration 4: indexes led by the workflow name for the dashboard's per-name statistics, which
-- count index ranges and read percentiles in index order instead of sorting (store/postgres/stats.py).
-- Instances by name and creation time: runs started per time bucket, and listings by name in
-- creation order; by name, status and creation time: runs created per status.
CREATE INDEX instances_name_created ON instances (name, created_at, status, app_id);
CREATE INDEX instances_name_status_created ON instances (name, status, created_at, app_id);
-- A run's duration, kept by the server (a stored generated column: no writer sets it), so that
-- an index holds it and percentiles are read by index-only scans.
ALTER TABLE instances ADD COLUMN duration BIGINT
    GENERATED ALWAYS AS (completed_at - COALESCE(started_at, created_at)) STORED;
-- Finished runs by name, status and completion time (replaces instances_finished): runs
-- finished per status, failures, and durations over a narrow window.
DROP INDEX instances_finished;
CREATE INDEX instances_name_finished
    ON instances (name, status, completed_at, app_id, duration)
    WHERE completed_at IS NOT NULL;
-- Completed runs by name and duration: a percentile is the k-th entry in the window.
CREATE INDEX instances_completed_duration
    ON instances (name, duration, completed_at, app_id)
    WHERE status = 1;
