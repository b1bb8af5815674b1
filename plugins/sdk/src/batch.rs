//! `status-many`: what every plugin does after reading its cluster's list
//! endpoint, with no I/O of its own.
//!
//! A plugin maps each requested id it found in the list with the same
//! function its `status` uses, and leaves the others to [`resolve`], which
//! asks the per-id `status` for them inside the same call. That fallback is
//! bounded (a call runs under the host's deadline, and thousands of ids could
//! be missing from a list), and one driver's per-id error must not fail the
//! whole batch (drover would count it against every driver of the backend):
//!
//! - per-id `NotFound` → `None` (the cluster does not know the id);
//! - any other per-id error → an [`DriverPhase::Unknown`] status carrying the
//!   error (not terminal: drover asks again at the next poll);
//! - ids past the budget → [`DriverPhase::Unknown`] too, saying the check was
//!   put off; which ids get the budget rotates with `rotation`, so every id
//!   is checked within a few polls even when some stay missing for long.

use crate::{DriverPhase, DriverStatus, PluginError};

/// Per-id fallbacks one `status-many` call may make (each one HTTP request or
/// two), so that the call stays well inside the host's deadline.
pub const MAX_FALLBACKS: usize = 32;

/// The status for an id the plugin could not check in this call.
pub fn unknown_status(message: String) -> DriverStatus {
    DriverStatus {
        phase: DriverPhase::Unknown,
        raw_state: String::new(),
        attempt: None,
        location: None,
        message: Some(message),
        tracking_url: None,
    }
}

/// One entry per id: `listed[i]` when the list had it, else the per-id
/// fallback's answer (see the module docs). `listed` has one entry per id.
///
/// `out_of_time` is asked before each fallback; once it says yes, the rest are
/// put off like those past `max_fallbacks`. `rotation` picks where among the
/// missing ids the fallbacks start (any number; e.g. the clock's seconds).
pub fn resolve(
    ids: &[String],
    listed: Vec<Option<DriverStatus>>,
    max_fallbacks: usize,
    rotation: u64,
    mut out_of_time: impl FnMut() -> bool,
    mut per_id: impl FnMut(&str) -> Result<DriverStatus, PluginError>,
) -> Vec<Option<DriverStatus>> {
    debug_assert_eq!(ids.len(), listed.len());
    let missing: Vec<usize> = listed
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_none())
        .map(|(i, _)| i)
        .collect();
    let mut out: Vec<Option<DriverStatus>> = listed;
    if missing.is_empty() {
        return out;
    }
    let start = usize::try_from(rotation % missing.len() as u64).unwrap_or(0);
    let mut asked = 0;
    for k in 0..missing.len() {
        let i = missing[(start + k) % missing.len()];
        let id = &ids[i];
        if asked >= max_fallbacks || out_of_time() {
            out[i] = Some(unknown_status(format!(
                "{id} was not in the cluster's list and this poll had no time left to ask for it \
                 alone; it is asked at a later poll"
            )));
            continue;
        }
        asked += 1;
        out[i] = match per_id(id) {
            Ok(status) => Some(status),
            Err(PluginError::NotFound(_)) => None,
            Err(e) => Some(unknown_status(format!(
                "the status of {id} could not be read: {}",
                e.message()
            ))),
        };
    }
    out
}

/// How long after the call started per-id fallbacks may still begin: half
/// the host's default 30 s call deadline, the list requests included.
pub const FALLBACK_WINDOW: std::time::Duration = std::time::Duration::from_secs(15);

/// An `out_of_time` for [`resolve`]: true once [`FALLBACK_WINDOW`] has passed since `started`.
pub fn window_from(started: std::time::Instant) -> impl FnMut() -> bool {
    move || started.elapsed() >= FALLBACK_WINDOW
}

/// A rotation that changes from one poll to the next: wall-clock seconds.
pub fn clock_rotation() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(raw: &str) -> DriverStatus {
        DriverStatus {
            phase: DriverPhase::Running,
            raw_state: raw.into(),
            attempt: None,
            location: None,
            message: None,
            tracking_url: None,
        }
    }

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("d{i}")).collect()
    }

    #[test]
    fn listed_ids_are_kept_and_only_missing_ones_are_asked() {
        let ids = ids(4);
        let listed = vec![Some(status("L0")), None, Some(status("L2")), None];
        let mut asked = Vec::new();
        let out = resolve(
            &ids,
            listed,
            10,
            0,
            || false,
            |id| {
                asked.push(id.to_string());
                match id {
                    "d1" => Ok(status("P1")),
                    _ => Err(PluginError::NotFound("gone".into())),
                }
            },
        );
        assert_eq!(asked, ["d1", "d3"]);
        let raw: Vec<Option<&str>> = out
            .iter()
            .map(|s| s.as_ref().map(|s| s.raw_state.as_str()))
            .collect();
        assert_eq!(raw, [Some("L0"), Some("P1"), Some("L2"), None]);
    }

    #[test]
    fn a_per_id_error_is_unknown_for_that_id_only() {
        let ids = ids(2);
        let out = resolve(
            &ids,
            vec![None, Some(status("L1"))],
            10,
            0,
            || false,
            |_| Err(PluginError::Unavailable("busy".into())),
        );
        let first = out[0].as_ref().unwrap();
        assert_eq!(first.phase, DriverPhase::Unknown);
        assert!(first.message.as_deref().unwrap().contains("busy"));
        assert_eq!(out[1].as_ref().unwrap().raw_state, "L1");
    }

    #[test]
    fn fallbacks_are_bounded_and_rotate() {
        let ids = ids(5);
        let run = |rotation| {
            let mut asked = Vec::new();
            let out = resolve(
                &ids,
                vec![None; 5],
                2,
                rotation,
                || false,
                |id| {
                    asked.push(id.to_string());
                    Ok(status("P"))
                },
            );
            let put_off = out
                .iter()
                .filter(|s| s.as_ref().unwrap().phase == DriverPhase::Unknown)
                .count();
            (asked, put_off)
        };
        assert_eq!(run(0), (vec!["d0".to_string(), "d1".to_string()], 3));
        assert_eq!(run(3), (vec!["d3".to_string(), "d4".to_string()], 3));
        assert_eq!(run(9), (vec!["d4".to_string(), "d0".to_string()], 3));
    }

    #[test]
    fn no_time_left_puts_the_rest_off() {
        let ids = ids(3);
        let mut budget = 1;
        let out = resolve(
            &ids,
            vec![None; 3],
            10,
            0,
            || {
                if budget == 0 {
                    return true;
                }
                budget -= 1;
                false
            },
            |_| Ok(status("P")),
        );
        assert_eq!(out[0].as_ref().unwrap().raw_state, "P");
        assert!(
            out[1..]
                .iter()
                .all(|s| s.as_ref().unwrap().phase == DriverPhase::Unknown)
        );
    }
}
