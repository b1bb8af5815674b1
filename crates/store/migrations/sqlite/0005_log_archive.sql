-- Driver logs that outlive the cluster. When a cluster-mode try ends with
-- its driver's fate known (succeeded, failed, killed), the same transaction
-- that ends it marks its log `pending`; drover then copies the driver's
-- stdout and stderr from the cluster into its own log folder and marks it
-- `done`. A restart finds what was pending and copies it again, so a copy
-- cut off by a crash is finished.
ALTER TABLE task_tries ADD COLUMN log_archive TEXT;          -- NULL (nothing to copy) | pending | done
-- JSON: per stream, the copy's file, the bytes kept and the log's length on
-- the cluster, the note at its top (what was cut), or why there is no copy.
ALTER TABLE task_tries ADD COLUMN log_archive_streams TEXT;
ALTER TABLE task_tries ADD COLUMN log_archived_at TEXT;
CREATE INDEX task_tries_log_archive_pending ON task_tries (log_archive) WHERE log_archive = 'pending';
