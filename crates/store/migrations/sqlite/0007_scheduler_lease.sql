-- The scheduler lease: at most one drover acts as the scheduler at a time.
-- The holder renews it well inside its time to live; another drover takes
-- it over only once it has expired, and each takeover moves the fencing
-- epoch on. Every write the scheduler makes checks, in its own transaction,
-- that the epoch it acquired is still current, so a scheduler that lost the
-- lease (paused, cut off) writes nothing after its successor took over.
-- Times are milliseconds since 1970 by the database's clock.
CREATE TABLE scheduler_lease (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    holder         TEXT NOT NULL,
    epoch          INTEGER NOT NULL,
    acquired_at_ms INTEGER NOT NULL,
    expires_at_ms  INTEGER NOT NULL
);
