-- Migration 3: indexes for the dashboard's listings and per-name statistics.
-- (created_at, name, status) covers listings by creation time filtered by name or status and
-- the per-name statistics; it replaces the index on created_at alone.
DROP INDEX instances_created;
CREATE INDEX instances_created_name_status ON instances (created_at, name, status);
-- Finished runs only (a running instance's turns never touch it): durations and outcomes by
-- completion time.
CREATE INDEX instances_finished
    ON instances (completed_at, name, status, started_at, created_at)
    WHERE completed_at IS NOT NULL;
