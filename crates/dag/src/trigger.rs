//! Trigger rules: when a task runs given how its upstream tasks ended,
//! with Airflow's names and meanings, so a DAG moved from Airflow keeps its
//! `trigger_rule`s. What each rule decides is the scheduler's (it holds the
//! states); this is the name a DAG file gives.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerRule {
    /// Every upstream task succeeded (the default).
    #[default]
    AllSuccess,
    /// Every upstream task failed or was upstream-failed.
    AllFailed,
    /// Every upstream task ended, however.
    AllDone,
    /// Every upstream task ended and at least one succeeded.
    AllDoneMinOneSuccess,
    /// One upstream task succeeded (without waiting for the others).
    OneSuccess,
    /// One upstream task failed (without waiting for the others).
    OneFailed,
    /// One upstream task succeeded or failed.
    OneDone,
    /// No upstream task failed: each succeeded or was skipped.
    NoneFailed,
    /// No upstream task failed, and they were not all skipped.
    NoneFailedMinOneSuccess,
    /// Every upstream task ended and none was skipped.
    NoneSkipped,
    /// Every upstream task was skipped.
    AllSkipped,
    /// Whatever happened upstream, at once.
    Always,
}

impl TriggerRule {
    pub const ALL: [TriggerRule; 12] = [
        TriggerRule::AllSuccess,
        TriggerRule::AllFailed,
        TriggerRule::AllDone,
        TriggerRule::AllDoneMinOneSuccess,
        TriggerRule::OneSuccess,
        TriggerRule::OneFailed,
        TriggerRule::OneDone,
        TriggerRule::NoneFailed,
        TriggerRule::NoneFailedMinOneSuccess,
        TriggerRule::NoneSkipped,
        TriggerRule::AllSkipped,
        TriggerRule::Always,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TriggerRule::AllSuccess => "all_success",
            TriggerRule::AllFailed => "all_failed",
            TriggerRule::AllDone => "all_done",
            TriggerRule::AllDoneMinOneSuccess => "all_done_min_one_success",
            TriggerRule::OneSuccess => "one_success",
            TriggerRule::OneFailed => "one_failed",
            TriggerRule::OneDone => "one_done",
            TriggerRule::NoneFailed => "none_failed",
            TriggerRule::NoneFailedMinOneSuccess => "none_failed_min_one_success",
            TriggerRule::NoneSkipped => "none_skipped",
            TriggerRule::AllSkipped => "all_skipped",
            TriggerRule::Always => "always",
        }
    }

    /// The rule of this name, as a DAG file spells it.
    pub fn from_name(name: &str) -> Option<TriggerRule> {
        TriggerRule::ALL.into_iter().find(|r| r.as_str() == name)
    }

    pub fn is_default(&self) -> bool {
        *self == TriggerRule::AllSuccess
    }
}

impl std::fmt::Display for TriggerRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_reads_back_from_its_name_and_serializes_as_it() {
        for rule in TriggerRule::ALL {
            assert_eq!(TriggerRule::from_name(rule.as_str()), Some(rule));
            assert_eq!(serde_json::to_value(rule).unwrap(), rule.as_str());
        }
        assert_eq!(TriggerRule::from_name("dummy"), None);
    }
}
