-- Intent to stop, committed before the stop is acted on, so a restarted
-- scheduler honours it instead of retrying what it was killing.

-- A run a user marked failed: nothing more starts in it, and none of its
-- tries is retried, whatever happens before its kills are confirmed.
ALTER TABLE dag_runs ADD COLUMN failing INTEGER NOT NULL DEFAULT 0;

-- Why drover is stopping this try (killed | run_failed | timed_out |
-- never_started | unreachable), and since when: a kill in progress.
ALTER TABLE task_tries ADD COLUMN stop_reason TEXT;
ALTER TABLE task_tries ADD COLUMN stop_requested_at TEXT;
