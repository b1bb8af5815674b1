//! What drivers write about themselves: test applications append
//! `<name> start|end <unix nanos>` lines to a file, and the tests read from
//! there, on the cluster's side, how many ran at once and in which order
//! they started.

/// (when, name, started), in time order; at the same instant an end counts
/// before a start.
pub fn events(text: &str) -> Vec<(u128, String, bool)> {
    let mut out: Vec<(u128, String, bool)> = text
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let (name, what, at) = (parts.next()?, parts.next()?, parts.next()?);
            Some((at.parse().ok()?, name.to_string(), what == "start"))
        })
        .collect();
    out.sort_by_key(|(at, _, start)| (*at, *start));
    out
}

/// The most that ran at once.
pub fn most_at_once(events: &[(u128, String, bool)]) -> usize {
    let (mut now, mut most) = (0usize, 0usize);
    for (_, _, start) in events {
        if *start {
            now += 1;
            most = most.max(now);
        } else {
            now = now.saturating_sub(1);
        }
    }
    most
}

/// The names that started, in order.
pub fn started(events: &[(u128, String, bool)]) -> Vec<String> {
    events.iter().filter(|e| e.2).map(|e| e.1.clone()).collect()
}
