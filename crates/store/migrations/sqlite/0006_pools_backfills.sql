-- Pools: named slot counts shared by every DAG (Airflow's pools). Tasks
-- name one (default_pool unless they say) and take `pool_slots` of it while
-- their driver runs. The config file's pools are written here at each
-- start; the API edits them in between. slots = -1: no limit.
CREATE TABLE pools (
    name        TEXT PRIMARY KEY,
    slots       INTEGER NOT NULL,
    description TEXT,
    updated_at  TEXT NOT NULL
);
INSERT INTO pools (name, slots, description, updated_at)
VALUES ('default_pool', 128, 'Default pool', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));

-- A task instance waiting for room (a pool slot, its DAG's
-- max_active_tasks, its backend's max_running_drivers) is `queued`, with
-- why and since when.
ALTER TABLE task_instances ADD COLUMN queued_reason TEXT;
ALTER TABLE task_instances ADD COLUMN queued_at TEXT;

-- Backfills: runs for every schedule tick in a date range, started at most
-- `max_active_runs` at a time (Airflow's backfill resource).
CREATE TABLE backfills (
    id                 INTEGER PRIMARY KEY,
    dag_id             TEXT NOT NULL,
    from_date          TEXT NOT NULL,
    to_date            TEXT NOT NULL,
    dag_run_conf       TEXT NOT NULL,        -- JSON object
    is_paused          INTEGER NOT NULL DEFAULT 0,
    reprocess_behavior TEXT NOT NULL,        -- none | failed | completed
    max_active_runs    INTEGER NOT NULL,
    run_backwards      INTEGER NOT NULL DEFAULT 0,
    created_at         TEXT NOT NULL,
    completed_at       TEXT,
    updated_at         TEXT NOT NULL
);
ALTER TABLE dag_runs ADD COLUMN backfill_id INTEGER REFERENCES backfills (id);
CREATE INDEX dag_runs_backfill ON dag_runs (backfill_id) WHERE backfill_id IS NOT NULL;
CREATE INDEX dag_runs_logical_date ON dag_runs (dag_id, logical_date);
