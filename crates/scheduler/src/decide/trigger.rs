//! What a task's trigger rule makes of its upstream tasks' states: run it,
//! wait, or end it skipped or upstream-failed without running. Airflow's
//! rules and meanings (`trigger_rule_dep.py`), so a task moved from Airflow
//! behaves the same: a rule that can no longer be met ends the task, and
//! a rule that is met runs it without waiting for the other upstream tasks
//! where Airflow does not wait (`one_success`, `one_failed`, `one_done`).

use drover_dag::TriggerRule;
use drover_store::TiState;

/// What the rule says now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Run,
    Wait,
    Skip,
    UpstreamFailed,
}

/// How the upstream tasks stand.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    upstream: usize,
    success: usize,
    failed: usize,
    upstream_failed: usize,
    skipped: usize,
}

impl Counts {
    fn of(states: &[Option<TiState>]) -> Counts {
        let mut c = Counts { upstream: states.len(), ..Counts::default() };
        for s in states {
            match s {
                Some(TiState::Success) => c.success += 1,
                Some(TiState::Failed) => c.failed += 1,
                Some(TiState::UpstreamFailed) => c.upstream_failed += 1,
                Some(TiState::Skipped) => c.skipped += 1,
                _ => {}
            }
        }
        c
    }

    fn done(&self) -> bool {
        self.success + self.failed + self.upstream_failed + self.skipped >= self.upstream
    }
}

/// The verdict of `rule` over the upstream tasks' states (`None` for one
/// without a task instance, which counts as not ended). A task without
/// upstream tasks runs whatever its rule, as in Airflow.
pub(crate) fn verdict(rule: TriggerRule, upstream: &[Option<TiState>]) -> Verdict {
    use TriggerRule as R;
    use Verdict::{Run, Skip, UpstreamFailed, Wait};
    let c = Counts::of(upstream);
    if c.upstream == 0 {
        return Run;
    }
    let failed = c.failed + c.upstream_failed;
    let done = c.done();
    let run_if = |ok: bool| if ok { Run } else { Wait };
    match rule {
        R::AllSuccess if failed > 0 => UpstreamFailed,
        R::AllSuccess if c.skipped > 0 => Skip,
        R::AllSuccess => run_if(c.success == c.upstream),
        R::AllFailed if c.success + c.skipped > 0 => Skip,
        R::AllFailed => run_if(failed == c.upstream),
        R::AllDone => run_if(done),
        R::AllDoneMinOneSuccess if done && c.success == 0 && c.skipped == c.upstream => Skip,
        R::AllDoneMinOneSuccess if done && c.success == 0 => UpstreamFailed,
        R::AllDoneMinOneSuccess => run_if(done),
        R::OneSuccess if c.success > 0 => Run,
        R::OneSuccess if done && c.skipped == c.upstream => Skip,
        R::OneSuccess if done => UpstreamFailed,
        R::OneSuccess => Wait,
        R::OneFailed if failed > 0 => Run,
        R::OneFailed => if done { Skip } else { Wait },
        R::OneDone if c.success + c.failed > 0 => Run,
        R::OneDone => if done { Skip } else { Wait },
        R::NoneFailed if failed > 0 => UpstreamFailed,
        R::NoneFailed => run_if(c.success + c.skipped == c.upstream),
        R::NoneFailedMinOneSuccess if failed > 0 => UpstreamFailed,
        R::NoneFailedMinOneSuccess if c.skipped == c.upstream => Skip,
        R::NoneFailedMinOneSuccess => run_if(c.success + c.skipped == c.upstream),
        R::NoneSkipped if c.skipped > 0 => Skip,
        R::NoneSkipped => run_if(done),
        R::AllSkipped if c.success + failed > 0 => Skip,
        R::AllSkipped => run_if(c.skipped == c.upstream),
        R::Always => Run,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TiState::{Failed as F, Running as R, Skipped as K, Success as S, UpstreamFailed as U};
    use Verdict::{Run, Skip, UpstreamFailed as UF, Wait};

    /// Each rule against a table of upstream outcomes: two upstream tasks.
    #[test]
    fn each_rule_against_a_table_of_upstream_outcomes() {
        // Columns: [S,S] [S,F] [F,F] [S,K] [K,K] [F,U] [S,R] [F,R] [K,R] [R,R]
        let cases: [[TiState; 2]; 10] = [[S, S], [S, F], [F, F], [S, K], [K, K], [F, U], [S, R], [F, R], [K, R], [R, R]];
        let table: [(TriggerRule, [Verdict; 10]); 12] = [
            (TriggerRule::AllSuccess, [Run, UF, UF, Skip, Skip, UF, Wait, UF, Skip, Wait]),
            (TriggerRule::AllFailed, [Skip, Skip, Run, Skip, Skip, Run, Skip, Wait, Skip, Wait]),
            (TriggerRule::AllDone, [Run, Run, Run, Run, Run, Run, Wait, Wait, Wait, Wait]),
            (TriggerRule::AllDoneMinOneSuccess, [Run, Run, UF, Run, Skip, UF, Wait, Wait, Wait, Wait]),
            (TriggerRule::OneSuccess, [Run, Run, UF, Run, Skip, UF, Run, Wait, Wait, Wait]),
            (TriggerRule::OneFailed, [Skip, Run, Run, Skip, Skip, Run, Wait, Run, Wait, Wait]),
            (TriggerRule::OneDone, [Run, Run, Run, Run, Skip, Run, Run, Run, Wait, Wait]),
            (TriggerRule::NoneFailed, [Run, UF, UF, Run, Run, UF, Wait, UF, Wait, Wait]),
            (TriggerRule::NoneFailedMinOneSuccess, [Run, UF, UF, Run, Skip, UF, Wait, UF, Wait, Wait]),
            (TriggerRule::NoneSkipped, [Run, Run, Run, Skip, Skip, Run, Wait, Wait, Skip, Wait]),
            (TriggerRule::AllSkipped, [Skip, Skip, Skip, Skip, Run, Skip, Skip, Skip, Wait, Wait]),
            (TriggerRule::Always, [Run; 10]),
        ];
        for (rule, want) in table {
            for (case, want) in cases.iter().zip(want) {
                let states: Vec<Option<TiState>> = case.iter().map(|s| Some(*s)).collect();
                assert_eq!(verdict(rule, &states), want, "{rule} with upstream {case:?}");
            }
        }
    }

    #[test]
    fn a_task_without_upstream_runs_whatever_its_rule() {
        for rule in TriggerRule::ALL {
            assert_eq!(verdict(rule, &[]), Run, "{rule}");
        }
    }

    #[test]
    fn an_upstream_task_not_started_yet_counts_as_not_ended() {
        assert_eq!(verdict(TriggerRule::AllDone, &[Some(S), None]), Wait);
        assert_eq!(verdict(TriggerRule::OneFailed, &[Some(S), Some(TiState::None)]), Wait);
        assert_eq!(verdict(TriggerRule::AllDone, &[Some(S), Some(TiState::UpForRetry)]), Wait);
    }
}
