-- drover's durable state. Every scheduler transition is a committed row
-- change here before it is acted on.

CREATE TABLE dags (
    dag_id            TEXT PRIMARY KEY,
    file              TEXT NOT NULL,
    source_hash       TEXT NOT NULL,
    description       TEXT,
    schedule          TEXT,
    is_paused         INTEGER NOT NULL DEFAULT 0,
    -- false once the file is gone; its runs and history stay.
    is_active         INTEGER NOT NULL DEFAULT 1,
    -- the newest logical date the cron schedule has created a run for.
    last_scheduled_at TEXT,
    updated_at        TEXT NOT NULL
);

-- Files that failed to load, with every diagnostic; cleared when fixed.
CREATE TABLE import_errors (
    file       TEXT PRIMARY KEY,
    message    TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE dag_runs (
    id           INTEGER PRIMARY KEY,
    dag_id       TEXT NOT NULL,
    run_id       TEXT NOT NULL,
    run_type     TEXT NOT NULL,          -- scheduled | manual
    logical_date TEXT NOT NULL,
    state        TEXT NOT NULL,          -- queued | running | success | failed
    conf         TEXT NOT NULL,          -- JSON object, as triggered
    params       TEXT NOT NULL,          -- JSON object, resolved
    dag_hash     TEXT NOT NULL,          -- the DAG file version the run uses
    dag_snapshot TEXT NOT NULL,          -- that file's text, so a run finishes as it began
    created_at   TEXT NOT NULL,
    start_date   TEXT,
    end_date     TEXT,
    UNIQUE (dag_id, run_id)
);
CREATE INDEX dag_runs_state ON dag_runs (state);

CREATE TABLE task_instances (
    id           INTEGER PRIMARY KEY,
    run          INTEGER NOT NULL REFERENCES dag_runs (id),
    task_id      TEXT NOT NULL,
    -- none | queued | running | up_for_retry | success | failed | upstream_failed
    state        TEXT NOT NULL,
    try_number   INTEGER NOT NULL DEFAULT 0,
    max_tries    INTEGER NOT NULL,
    next_try_at  TEXT,
    start_date   TEXT,
    end_date     TEXT,
    UNIQUE (run, task_id)
);

-- One row per try: drover's own retry counter. The driver record of the try
-- lives on the same row; the cluster's own attempts are `cluster_attempt`.
CREATE TABLE task_tries (
    id              INTEGER PRIMARY KEY,
    ti              INTEGER NOT NULL REFERENCES task_instances (id),
    try_number      INTEGER NOT NULL,
    state           TEXT NOT NULL,       -- running | success | failed
    backend         TEXT NOT NULL,
    deploy_mode     TEXT NOT NULL,       -- client | cluster | service
    submission_key  TEXT NOT NULL UNIQUE,
    application     TEXT,                -- JSON of the rendered application
    -- pending | submitted | queued | running | succeeded | failed | killed | lost | submit_failed
    driver_state    TEXT NOT NULL,
    raw_state       TEXT,
    cluster_id      TEXT,
    cluster_attempt INTEGER,
    location        TEXT,
    tracking_url    TEXT,
    pid             INTEGER,
    log_path        TEXT,
    message         TEXT,
    started_at      TEXT NOT NULL,
    deadline_at     TEXT,
    ended_at        TEXT,
    UNIQUE (ti, try_number)
);
CREATE INDEX task_tries_open ON task_tries (state);

-- The driver's state history, one row per change.
CREATE TABLE driver_events (
    id        INTEGER PRIMARY KEY,
    try       INTEGER NOT NULL REFERENCES task_tries (id),
    at        TEXT NOT NULL,
    state     TEXT NOT NULL,
    raw_state TEXT,
    attempt   INTEGER,
    message   TEXT
);
CREATE INDEX driver_events_try ON driver_events (try);
