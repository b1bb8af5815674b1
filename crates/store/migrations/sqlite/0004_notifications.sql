-- The notification outbox. A row is written in the same transaction as the
-- state change that causes it (a try's end, a run's end), so an event that
-- was committed is never without its notification; the delivery task sends
-- pending rows and marks them, and a restarted drover picks up what is left.
CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY,
    -- Sent with every delivery (body and Idempotency-Key header): a
    -- receiver that sees it twice (drover killed between send and mark)
    -- can drop the repeat.
    key             TEXT NOT NULL UNIQUE,
    notifier        TEXT NOT NULL,       -- a [notifiers.NAME] of the config file
    -- on_failure | on_retry | on_success | on_run_failure | on_run_success
    event           TEXT NOT NULL,
    dag_id          TEXT NOT NULL,
    run_id          TEXT NOT NULL,
    task_id         TEXT,                -- none for run events
    try_number      INTEGER,
    try             INTEGER REFERENCES task_tries (id),
    state           TEXT NOT NULL,       -- the task instance's or run's state
    message         TEXT,
    created_at      TEXT NOT NULL,
    -- pending | sent | failed (gave up after the notifier's max_attempts)
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    sent_at         TEXT
);
CREATE INDEX notifications_due ON notifications (status, next_attempt_at);
