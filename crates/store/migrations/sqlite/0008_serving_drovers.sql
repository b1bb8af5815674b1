-- Requests for the active scheduler, written by whichever drover took the
-- API call (on PostgreSQL several drovers serve the API; one schedules).
-- The active scheduler takes each open command under its fencing epoch,
-- acts on it once and writes the answer back; a command taken by a
-- scheduler that stopped before answering is answered as such, never done
-- twice. Times are milliseconds since 1970.
CREATE TABLE scheduler_commands (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    body          TEXT NOT NULL,
    sent_by       TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    taken_epoch   INTEGER,
    answer        TEXT,
    done_at_ms    INTEGER
);
CREATE INDEX scheduler_commands_open ON scheduler_commands (id) WHERE done_at_ms IS NULL;

-- Who held each epoch of the scheduler lease and where its API answers;
-- each try records the epoch that started it, so a client-mode driver's
-- log (on the disk of the drover that ran it) can be fetched from there.
CREATE TABLE scheduler_epochs (
    epoch          INTEGER PRIMARY KEY,
    holder         TEXT NOT NULL,
    api_url        TEXT NOT NULL,
    acquired_at_ms INTEGER NOT NULL
);
ALTER TABLE task_tries ADD COLUMN epoch INTEGER;
