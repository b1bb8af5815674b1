//! Where a try's files live under the logs folder:
//! `<logs_dir>/<dag>/<run>/<task>/try-<n>.log` (and the archived streams
//! beside it).

use std::path::{Path, PathBuf};

/// `<logs_dir>/<dag>/<run>/<task>`.
pub(crate) fn task_dir(logs_dir: &Path, dag_id: &str, run_id: &str, task_id: &str) -> PathBuf {
    run_dir(logs_dir, dag_id, run_id).join(sanitize(task_id))
}

/// `<logs_dir>/<dag>/<run>`: every file of a run's tries.
pub fn run_dir(logs_dir: &Path, dag_id: &str, run_id: &str) -> PathBuf {
    logs_dir.join(sanitize(dag_id)).join(sanitize(run_id))
}

/// Path-safe form of an id (run ids carry colons and plus signs).
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scheduled_run_id_becomes_a_path_safe_folder() {
        let dir = task_dir(Path::new("/logs"), "etl.daily", "scheduled__2026-03-01T02:00:00+00:00", "load");
        assert_eq!(dir, Path::new("/logs/etl.daily/scheduled__2026-03-01T02_00_00_00_00/load"));
    }

    #[test]
    fn slashes_in_an_id_make_no_folders() {
        let dir = task_dir(Path::new("/logs"), "d", "../../etc", "t/x");
        assert_eq!(dir, Path::new("/logs/d/.._.._etc/t_x"));
    }
}
