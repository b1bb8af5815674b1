-- Requests for the active scheduler, written by whichever drover took the
-- API call (several drovers serve the API; one schedules). The active
-- scheduler takes each open command under its fencing epoch, acts on it
-- once and writes the answer back; a command taken by a scheduler that
-- stopped before answering is answered as such, never done twice. Each
-- insert and answer is announced with NOTIFY (drover_commands,
-- drover_command_done), delivered when its transaction commits.
CREATE TABLE scheduler_commands (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    body          JSONB NOT NULL,
    sent_by       TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    taken_epoch   BIGINT,
    answer        JSONB,
    done_at_ms    BIGINT
);
CREATE INDEX scheduler_commands_open ON scheduler_commands (id) WHERE done_at_ms IS NULL;

-- Who held each epoch of the scheduler lease and where its API answers;
-- each try records the epoch that started it, so a client-mode driver's
-- log (on the disk of the drover that ran it) can be fetched from there.
CREATE TABLE scheduler_epochs (
    epoch          BIGINT PRIMARY KEY,
    holder         TEXT NOT NULL,
    api_url        TEXT NOT NULL,
    acquired_at_ms BIGINT NOT NULL
);
ALTER TABLE task_tries ADD COLUMN epoch BIGINT;
