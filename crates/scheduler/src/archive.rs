//! Driver logs that outlive the cluster.
//!
//! When a cluster-mode try ends with its driver's fate known, the store marks
//! its log `pending` in the transaction that ends the try, and wakes this
//! archiver after the commit. The archiver copies the driver's stdout and
//! stderr from the cluster, page by page through the backend's `logs` call,
//! into drover's log folder beside the client-mode logs
//! (`<logs_dir>/<dag>/<run>/<task>/try-<n>.<stream>.log`), and records the
//! copy as done. It runs beside the scheduler loop, never in it, a few
//! copies at a time. A copy cut off by a crash or a stop stays `pending`
//! and is made again, from the start, by the next drover.
//!
//! Each stream's copy keeps at most `max_bytes` of the log, the end of it:
//! when the log is longer, the copy starts with one line that says how much
//! was cut (and the API serves that line first). Where the cluster says how
//! long the log is, the part that would be cut is never read.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use drover_plugin_host::{Backend, BackendSet, CallError, ErrorKind, LogChunk};
use drover_store::{ArchiveJob, ArchivedStreams, LogArchive, Store, StreamCopy, TryRow};

/// The streams a driver log has; a backend answers `unsupported` for one it
/// does not keep apart.
pub const STREAMS: [&str; 2] = ["stdout", "stderr"];
/// The default cap of one stream's copy: 16 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 16 << 20;
/// Bytes asked for per `logs` call.
const PAGE: u32 = 4 << 20;
/// Copies made at once.
const PARALLEL: usize = 4;
/// A stream whose cluster keeps answering "try again" is given up after
/// this many failed calls in a row (waits of 1, 2, 4, 8, 16 s between them).
const MAX_FAILURES: u32 = 6;

/// The archiver's settings.
#[derive(Debug, Clone)]
pub(crate) struct Archiver {
    pub store: Store,
    pub backends: BackendSet,
    pub logs_dir: PathBuf,
    /// The most of one stream's log a copy keeps (its end).
    pub max_bytes: u64,
}

impl Archiver {
    /// Copies every pending log, then each one the store announces, until
    /// `cancel` fires (copies under way are dropped and stay pending).
    pub(crate) async fn run(self, cancel: CancellationToken) {
        let wake = self.store.archive_added();
        let mut running: JoinSet<()> = JoinSet::new();
        // The try each copy under way is for, by its task.
        let mut in_flight: HashMap<tokio::task::Id, i64> = HashMap::new();
        // Copies that panicked: left pending for the next start.
        let mut given_up: Vec<i64> = Vec::new();
        loop {
            let room = PARALLEL.saturating_sub(in_flight.len());
            let mut retry = false;
            if room > 0 {
                let busy: Vec<i64> = in_flight.values().chain(&given_up).copied().collect();
                match self.store.pending_archives(&busy, room as i64).await {
                    Ok(jobs) => {
                        for job in jobs {
                            let try_id = job.try_id;
                            let me = self.clone();
                            let task = running.spawn(async move { me.archive(job).await });
                            in_flight.insert(task.id(), try_id);
                        }
                    }
                    Err(e) => {
                        warn!(error = %e, "cannot read the driver logs left to archive; trying again shortly");
                        retry = true;
                    }
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = wake.notified() => {}
                Some(done) = running.join_next_with_id() => match done {
                    Ok((id, ())) => {
                        in_flight.remove(&id);
                    }
                    Err(e) => {
                        warn!(error = %e, "a driver-log copy failed; it stays pending for the next start");
                        given_up.extend(in_flight.remove(&e.id()));
                    }
                },
                _ = tokio::time::sleep(Duration::from_secs(5)), if retry => {}
            }
        }
        running.shutdown().await;
    }

    /// Copies one try's streams and records the copy.
    async fn archive(&self, job: ArchiveJob) {
        let base = try_dir(&self.logs_dir, &job).join(format!("try-{}", job.try_number));
        let mut streams = ArchivedStreams::new();
        for stream in STREAMS {
            let copy = match self.backends.get(&job.backend) {
                Some(backend) => {
                    let path = stream_path(&base, stream);
                    copy_stream(backend, &job.cluster_id, stream, self.max_bytes, &path).await
                }
                None => StreamCopy {
                    error: Some(format!("backend `{}` is no longer configured", job.backend)),
                    ..StreamCopy::default()
                },
            };
            streams.insert(stream.to_string(), copy);
        }
        let mut wait = Duration::from_millis(100);
        for attempt in 1.. {
            match self.store.finish_archive(job.try_id, &streams, Utc::now()).await {
                Ok(()) => break,
                Err(e) if attempt < 6 => {
                    warn!(try_id = job.try_id, error = %e, "cannot record the archived driver log; retrying");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                Err(e) => {
                    warn!(try_id = job.try_id, error = %e, "cannot record the archived driver log; the next start copies it again");
                    return;
                }
            }
        }
        let summary: Vec<String> = streams
            .iter()
            .map(|(s, c)| match (&c.file, &c.error) {
                (Some(_), None) => format!("{s}: {} of {} bytes", c.kept, c.total),
                (Some(_), Some(e)) => format!("{s}: {} bytes, incomplete: {e}", c.kept),
                (None, e) => format!("{s}: none ({})", e.as_deref().unwrap_or("empty")),
            })
            .collect();
        info!(try_id = job.try_id, dag_id = %job.dag_id, run_id = %job.run_id, task = %job.task_id,
              try_number = job.try_number, copy = %summary.join("; "), "driver log archived");
    }
}

/// `<logs_dir>/<dag>/<run>/<task>`, where the try's client-mode log would be.
fn try_dir(logs_dir: &Path, job: &ArchiveJob) -> PathBuf {
    crate::paths::task_dir(logs_dir, &job.dag_id, &job.run_id, &job.task_id)
}

fn stream_path(base: &Path, stream: &str) -> PathBuf {
    let mut name = base.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{stream}.log"));
    base.with_file_name(name)
}

/// What is known of one stream while it is read.
struct Reading {
    /// The end of the log read so far, at most `max` bytes.
    tail: Vec<u8>,
    max: usize,
    /// Where the next read starts, in the cluster's bytes.
    offset: u64,
}

impl Reading {
    fn push(&mut self, data: &[u8]) {
        self.tail.extend_from_slice(data);
        // Trimmed once it holds a page more than it keeps.
        if self.tail.len() > self.max.saturating_add(PAGE as usize) {
            let cut = self.tail.len() - self.max;
            self.tail.drain(..cut);
        }
    }

    /// The kept end: at most `max` bytes, starting on a character boundary.
    fn kept(mut self) -> Vec<u8> {
        if self.tail.len() > self.max {
            let cut = self.tail.len() - self.max;
            self.tail.drain(..cut);
            // Not in the middle of a UTF-8 character (at most 3 continuation bytes).
            let skip = self.tail.iter().take(3).take_while(|b| (**b & 0xC0) == 0x80).count();
            self.tail.drain(..skip);
        }
        self.tail
    }
}

/// Reads one stream from the cluster and writes its copy to `path`.
async fn copy_stream(backend: &Backend, cluster_id: &str, stream: &str, max_bytes: u64, path: &Path) -> StreamCopy {
    let max = usize::try_from(max_bytes).unwrap_or(usize::MAX);
    let mut r = Reading { tail: Vec::new(), max, offset: 0 };
    let mut failures = 0;
    let mut wait = Duration::from_secs(1);
    let mut error: Option<String> = None;
    let mut read_any = false;
    loop {
        match backend.logs(cluster_id, stream, r.offset, PAGE).await {
            Ok(LogChunk { data, next_offset, total }) => {
                failures = 0;
                read_any = true;
                let before = r.offset;
                r.push(&data);
                r.offset = next_offset.max(before + data.len() as u64);
                if data.is_empty() || r.offset <= before {
                    break;
                }
                if let Some(total) = total {
                    if r.offset >= total {
                        break;
                    }
                    // The cluster says how long the log is: skip what the
                    // copy would drop anyway.
                    if total - r.offset > max_bytes {
                        r.tail.clear();
                        r.offset = total - max_bytes;
                    }
                }
            }
            Err(CallError::Plugin { kind: ErrorKind::Unsupported, message }) => {
                error = Some(format!("unsupported: {message}"));
                break;
            }
            Err(e) if e.is_not_found() => {
                error = Some(format!("the cluster no longer has this log: {e}"));
                break;
            }
            Err(e) if transient(&e) && failures + 1 < MAX_FAILURES => {
                failures += 1;
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(16));
            }
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        }
    }
    let total = r.offset;
    let kept = r.kept();
    if !read_any || (kept.is_empty() && error.is_some()) {
        return StreamCopy { total, error, ..StreamCopy::default() };
    }
    let cut = total.saturating_sub(kept.len() as u64);
    let note = note(stream, kept.len() as u64, total, cut, max_bytes, error.as_deref());
    match write_copy(path, note.as_bytes(), &kept).await {
        Ok(()) => StreamCopy {
            file: Some(path.display().to_string()),
            kept: kept.len() as u64,
            total,
            note_bytes: note.len() as u64,
            error,
        },
        Err(e) => StreamCopy {
            total,
            error: Some(format!("cannot write {}: {e}", path.display())),
            ..StreamCopy::default()
        },
    }
}

/// A failure worth asking again about: the cluster or the call did not answer.
fn transient(e: &CallError) -> bool {
    matches!(
        e,
        CallError::Plugin { kind: ErrorKind::Unavailable | ErrorKind::InDoubt, .. } | CallError::TimedOut { .. }
    )
}

/// The line at the top of a copy that is not the whole log; empty when it is.
fn note(stream: &str, kept: u64, total: u64, cut: u64, max_bytes: u64, error: Option<&str>) -> String {
    let mut parts = Vec::new();
    if cut > 0 {
        parts.push(format!(
            "the driver's {stream} was {total} bytes; this copy keeps its last {kept} (the first {cut} are cut: \
             the archive keeps at most {max_bytes} bytes of each log)"
        ));
    }
    if let Some(e) = error {
        parts.push(format!("the copy stopped after {total} bytes: {e}"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("[drover: {}]\n", parts.join("; "))
    }
}

/// Writes the copy beside its place and moves it there, so a copy is whole
/// or absent.
async fn write_copy(path: &Path, note: &[u8], data: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let mut partial = path.as_os_str().to_os_string();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let mut bytes = Vec::with_capacity(note.len() + data.len());
    bytes.extend_from_slice(note);
    bytes.extend_from_slice(data);
    tokio::fs::write(&partial, bytes).await?;
    tokio::fs::rename(&partial, path).await
}

/// What the archive has of one stream of a try's driver log.
#[derive(Debug)]
pub enum ArchivedLog {
    /// Nothing is archived (yet): the try runs, its copy is pending, or it
    /// never had one (client mode, an unknown fate).
    NotArchived,
    /// The copy is done and holds no copy of this stream, for this reason.
    Missing(String),
    /// Bytes of the copy (its note first), and the offset to ask for next.
    Chunk { data: Vec<u8>, next_offset: u64 },
}

/// Reads `max_bytes` of a try's archived `stream` from `offset` (an offset
/// in the copy, which is the driver's own when nothing was cut).
pub async fn read_archived_log(t: &TryRow, stream: &str, offset: u64, max_bytes: u32) -> ArchivedLog {
    if t.log_archive != Some(LogArchive::Done) {
        return ArchivedLog::NotArchived;
    }
    let streams: BTreeMap<String, StreamCopy> = t.log_archive_streams.as_ref().map(|s| s.0.clone()).unwrap_or_default();
    let Some(copy) = streams.get(stream) else {
        return ArchivedLog::Missing(format!("no {stream} was archived"));
    };
    let Some(file) = &copy.file else {
        return ArchivedLog::Missing(copy.error.clone().unwrap_or_else(|| format!("the driver's {stream} was empty")));
    };
    match read_range(Path::new(file), offset, max_bytes).await {
        Ok(data) => {
            let next_offset = offset + data.len() as u64;
            ArchivedLog::Chunk { data, next_offset }
        }
        Err(e) => ArchivedLog::Missing(format!("the archived copy cannot be read: {e}")),
    }
}

async fn read_range(path: &Path, offset: u64, max_bytes: u32) -> std::io::Result<Vec<u8>> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut f = tokio::fs::File::open(path).await?;
    let len = f.metadata().await?.len();
    let from = offset.min(len);
    f.seek(std::io::SeekFrom::Start(from)).await?;
    let mut data = Vec::with_capacity(usize::try_from((len - from).min(u64::from(max_bytes))).unwrap_or(0));
    f.take(u64::from(max_bytes)).read_to_end(&mut data).await?;
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_the_last_bytes_on_a_character_boundary() {
        let mut r = Reading { tail: Vec::new(), max: 5, offset: 0 };
        r.push(b"abc\n");
        r.push("déf\n".as_bytes());
        r.push(b"gh");
        // "abc\ndéf\ngh" is 11 bytes; the last 5 are "f\ngh" plus the second
        // byte of "é", which is skipped.
        assert_eq!(r.kept(), b"f\ngh");
        let mut whole = Reading { tail: Vec::new(), max: 100, offset: 0 };
        whole.push(b"short");
        assert_eq!(whole.kept(), b"short");
    }

    #[test]
    fn bulk_trimming_keeps_enough() {
        let mut r = Reading { tail: Vec::new(), max: 10, offset: 0 };
        for i in 0..(3 * PAGE as usize / 1000) {
            r.push(format!("{i:0>999}\n").as_bytes());
        }
        assert!(r.tail.len() <= 2 * PAGE as usize + 1000);
        let kept = r.kept();
        assert_eq!(kept.len(), 10);
        assert!(kept.ends_with(b"\n"));
    }

    #[test]
    fn a_note_says_what_was_cut_and_why_a_copy_stopped() {
        assert_eq!(note("stdout", 10, 10, 0, 100, None), "");
        let n = note("stdout", 100, 1000, 900, 100, None);
        assert!(n.starts_with("[drover: the driver's stdout was 1000 bytes; this copy keeps its last 100"), "{n}");
        assert!(n.ends_with("]\n"));
        let n = note("stderr", 5, 5, 0, 100, Some("plugin crashed"));
        assert_eq!(n, "[drover: the copy stopped after 5 bytes: plugin crashed]\n");
    }

    #[test]
    fn stream_files_sit_beside_the_client_mode_log() {
        assert_eq!(stream_path(Path::new("/l/d/r/t/try-2"), "stderr"), Path::new("/l/d/r/t/try-2.stderr.log"));
    }
}
