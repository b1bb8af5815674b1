//! When a DAG runs: never on its own, or on a cron expression evaluated in the DAG's timezone.
//!
//! The `cron` crate wants 6 or 7 fields and numbers days of the week from 1 = Sunday. DAG
//! authors write Unix cron, so 5-field expressions get a `0` seconds field, and numeric days
//! of the week are read the Unix way (0 and 7 = Sunday, 1 = Monday) in both forms. The
//! expression is kept as written for display.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Schedule {
    /// Runs only when triggered.
    Manual,
    Cron {
        /// As written in the DAG file.
        expr: String,
        #[serde(skip)]
        parsed: Box<cron::Schedule>,
    },
}

/// Shown with every cron error, since the accepted forms are the usual confusion.
pub const SCHEDULE_HINT: &str = "use 5 fields (minute hour day-of-month month day-of-week), 6 fields with seconds first, \
     @hourly, @daily, @weekly, @monthly, @yearly, or \"none\"";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid schedule \"{expr}\": {reason}")]
pub struct ScheduleError {
    pub expr: String,
    pub reason: String,
}

impl Schedule {
    /// Parses a schedule as written in a DAG file: "none" is manual.
    pub fn parse(expr: &str) -> Result<Schedule, ScheduleError> {
        let expr = expr.trim();
        if expr == "none" {
            return Ok(Schedule::Manual);
        }
        let fail = |reason: String| ScheduleError {
            expr: expr.to_string(),
            reason,
        };
        let normalized = if expr.starts_with('@') {
            expr.to_string()
        } else {
            let mut fields: Vec<String> = expr.split_whitespace().map(str::to_string).collect();
            match fields.len() {
                5 => fields.insert(0, "0".to_string()),
                6 => {}
                n => return Err(fail(format!("expected 5 or 6 fields, found {n}"))),
            }
            fields[5] = unix_days_of_week(&fields[5]).map_err(fail)?;
            fields.join(" ")
        };
        let parsed = cron::Schedule::from_str(&normalized).map_err(|e| {
            // The cron crate draws the (normalized) expression with a caret above its reason;
            // the reason alone reads better next to the expression as written.
            let text = e.to_string();
            fail(
                text.lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or(&text)
                    .trim()
                    .to_string(),
            )
        })?;
        Ok(Schedule::Cron {
            expr: expr.to_string(),
            parsed: Box::new(parsed),
        })
    }

    /// The next fire time strictly after `after`, with the expression read as wall-clock time
    /// in `tz`. `None` for manual schedules or when the expression never fires again.
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Manual => None,
            Schedule::Cron { parsed, .. } => parsed
                .after(&after.with_timezone(&tz))
                .next()
                .map(|t| t.with_timezone(&Utc)),
        }
    }

    pub fn is_manual(&self) -> bool {
        matches!(self, Schedule::Manual)
    }
}

/// Rewrites a Unix day-of-week field (0-7, 0 and 7 = Sunday) into the cron crate's numbering
/// (1-7, 1 = Sunday). Named days pass through untouched.
fn unix_days_of_week(field: &str) -> Result<String, String> {
    if field == "*" || field == "?" {
        return Ok(field.to_string());
    }
    let mut out: Vec<String> = Vec::new();
    for item in field.split(',') {
        let (base, step) = match item.split_once('/') {
            Some((base, step)) => {
                let step: u32 = step
                    .parse()
                    .map_err(|_| format!("invalid step \"{step}\" in day-of-week"))?;
                if step == 0 {
                    return Err("day-of-week step must be at least 1".to_string());
                }
                (base, step)
            }
            None => (item, 1),
        };
        let day = |s: &str| -> Result<Option<u32>, String> {
            if !s.chars().all(|c| c.is_ascii_digit()) {
                return Ok(None);
            }
            match s.parse::<u32>() {
                Ok(n) if n <= 7 => Ok(Some(n)),
                _ => Err(format!("day-of-week {s} is out of range 0-7")),
            }
        };
        let range = if base == "*" {
            Some((0, 6))
        } else if let Some((a, b)) = base.split_once('-') {
            match (day(a)?, day(b)?) {
                (Some(a), Some(b)) if a <= b => Some((a, b)),
                (Some(a), Some(b)) => {
                    return Err(format!("day-of-week range {a}-{b} runs backwards"));
                }
                _ => None,
            }
        } else {
            // "a/step" runs to the end of the week, like Vixie cron.
            day(base)?.map(|a| (a, if step > 1 { 6 } else { a }))
        };
        match range {
            Some((a, b)) => {
                let mut days: Vec<u32> =
                    (a..=b).step_by(step as usize).map(|d| d % 7 + 1).collect();
                days.sort_unstable();
                days.dedup();
                out.extend(days.iter().map(u32::to_string));
            }
            None => out.push(item.to_string()),
        }
    }
    out.dedup();
    Ok(out.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn five_field_cron_fires_on_the_minute() {
        let s = Schedule::parse("*/15 * * * *").unwrap();
        assert_eq!(
            s.next_after(utc("2026-01-01T10:07:30Z"), Tz::UTC),
            Some(utc("2026-01-01T10:15:00Z"))
        );
    }

    #[test]
    fn next_after_is_strictly_after() {
        let s = Schedule::parse("0 * * * *").unwrap();
        assert_eq!(
            s.next_after(utc("2026-01-01T10:00:00Z"), Tz::UTC),
            Some(utc("2026-01-01T11:00:00Z"))
        );
    }

    #[test]
    fn six_field_cron_has_seconds_first() {
        let s = Schedule::parse("*/10 * * * * *").unwrap();
        assert_eq!(
            s.next_after(utc("2026-01-01T10:00:01Z"), Tz::UTC),
            Some(utc("2026-01-01T10:00:10Z"))
        );
    }

    #[test]
    fn presets_are_accepted() {
        let daily = Schedule::parse("@daily").unwrap();
        assert_eq!(
            daily.next_after(utc("2026-01-01T10:00:00Z"), Tz::UTC),
            Some(utc("2026-01-02T00:00:00Z"))
        );
        let hourly = Schedule::parse("@hourly").unwrap();
        assert_eq!(
            hourly.next_after(utc("2026-01-01T10:00:00Z"), Tz::UTC),
            Some(utc("2026-01-01T11:00:00Z"))
        );
        let monthly = Schedule::parse("@monthly").unwrap();
        assert_eq!(
            monthly.next_after(utc("2026-01-15T00:00:00Z"), Tz::UTC),
            Some(utc("2026-02-01T00:00:00Z"))
        );
    }

    #[test]
    fn cron_is_wall_clock_time_in_the_dag_timezone() {
        let s = Schedule::parse("0 3 * * *").unwrap();
        let paris = chrono_tz::Europe::Paris;
        // Winter: Paris is UTC+1.
        assert_eq!(
            s.next_after(utc("2026-01-10T12:00:00Z"), paris),
            Some(utc("2026-01-11T02:00:00Z"))
        );
        // Summer: Paris is UTC+2.
        assert_eq!(
            s.next_after(utc("2026-07-10T12:00:00Z"), paris),
            Some(utc("2026-07-11T01:00:00Z"))
        );
        let local = paris
            .with_ymd_and_hms(2026, 7, 11, 3, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            s.next_after(utc("2026-07-10T12:00:00Z"), paris),
            Some(local)
        );
    }

    #[test]
    fn numeric_days_of_week_follow_unix_cron() {
        // 2026-01-05 is a Monday.
        let monday = Schedule::parse("0 9 * * 1").unwrap();
        assert_eq!(
            monday.next_after(utc("2026-01-01T00:00:00Z"), Tz::UTC),
            Some(utc("2026-01-05T09:00:00Z"))
        );
        for sunday in ["0 9 * * 0", "0 9 * * 7", "0 0 9 * * SUN"] {
            let s = Schedule::parse(sunday).unwrap();
            assert_eq!(
                s.next_after(utc("2026-01-01T00:00:00Z"), Tz::UTC),
                Some(utc("2026-01-04T09:00:00Z")),
                "{sunday}"
            );
        }
        let weekend = Schedule::parse("0 9 * * 6-7").unwrap();
        assert_eq!(
            weekend.next_after(utc("2026-01-03T10:00:00Z"), Tz::UTC),
            Some(utc("2026-01-04T09:00:00Z"))
        );
        let workdays = Schedule::parse("0 9 * * 1-5").unwrap();
        assert_eq!(
            workdays.next_after(utc("2026-01-03T00:00:00Z"), Tz::UTC),
            Some(utc("2026-01-05T09:00:00Z"))
        );
    }

    #[test]
    fn none_means_manual() {
        let s = Schedule::parse("none").unwrap();
        assert!(s.is_manual());
        assert_eq!(s.next_after(utc("2026-01-01T00:00:00Z"), Tz::UTC), None);
    }

    #[test]
    fn rejects_wrong_field_counts_and_bad_fields() {
        assert!(
            Schedule::parse("* * *")
                .unwrap_err()
                .reason
                .contains("expected 5 or 6 fields")
        );
        assert!(Schedule::parse("61 * * * *").is_err());
        assert!(Schedule::parse("0 0 * * 8").is_err());
        assert!(Schedule::parse("@fortnightly").is_err());
    }
}
