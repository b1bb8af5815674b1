//! Weight rules: how a task's `priority_weight` adds up with its relatives'
//! into the priority the scheduler orders ready tasks by, with Airflow's names
//! and arithmetic so a DAG moved from Airflow keeps its order.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::dag::Task;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightRule {
    /// Its own weight plus every downstream task's (the default): the tasks
    /// that hold up the most work go first.
    #[default]
    Downstream,
    /// Its own weight plus every upstream task's: runs further along finish
    /// before new ones advance.
    Upstream,
    /// Its own weight alone.
    Absolute,
}

impl WeightRule {
    pub const ALL: [WeightRule; 3] = [WeightRule::Downstream, WeightRule::Upstream, WeightRule::Absolute];

    pub fn as_str(self) -> &'static str {
        match self {
            WeightRule::Downstream => "downstream",
            WeightRule::Upstream => "upstream",
            WeightRule::Absolute => "absolute",
        }
    }

    /// The rule of this name, as a DAG file spells it.
    pub fn from_name(name: &str) -> Option<WeightRule> {
        WeightRule::ALL.into_iter().find(|r| r.as_str() == name)
    }

    pub fn is_default(&self) -> bool {
        *self == WeightRule::Downstream
    }
}

impl std::fmt::Display for WeightRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Sets each task's `effective_priority` from its weight rule: its own
/// weight plus, once each, the weights of all its descendants (downstream)
/// or ancestors (upstream). `depends_on` must name tasks in `tasks`.
pub(crate) fn set_effective_priorities(tasks: &mut [Task]) {
    let priorities: Vec<i64> = {
        let index: HashMap<&str, usize> = tasks.iter().enumerate().map(|(i, t)| (t.id.as_str(), i)).collect();
        let upstream: Vec<Vec<usize>> = tasks
            .iter()
            .map(|t| t.depends_on.iter().filter_map(|d| index.get(d.as_str()).copied()).collect())
            .collect();
        let mut downstream: Vec<Vec<usize>> = vec![Vec::new(); tasks.len()];
        for (i, ups) in upstream.iter().enumerate() {
            for &j in ups {
                downstream[j].push(i);
            }
        }
        tasks
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let own = i64::from(t.priority_weight);
                let relatives = match t.weight_rule {
                    WeightRule::Absolute => return own,
                    WeightRule::Downstream => &downstream,
                    WeightRule::Upstream => &upstream,
                };
                reachable(i, relatives)
                    .into_iter()
                    .fold(own, |sum, j| sum.saturating_add(i64::from(tasks[j].priority_weight)))
            })
            .collect()
    };
    for (task, priority) in tasks.iter_mut().zip(priorities) {
        task.effective_priority = priority;
    }
}

/// Every node reachable from `start` along `edges`, each once, `start` left out.
fn reachable(start: usize, edges: &[Vec<usize>]) -> Vec<usize> {
    let mut seen = vec![false; edges.len()];
    seen[start] = true;
    let mut stack = vec![start];
    let mut out = Vec::new();
    while let Some(i) = stack.pop() {
        for &j in &edges[i] {
            if !seen[j] {
                seen[j] = true;
                out.push(j);
                stack.push(j);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_reads_back_from_its_name_and_serializes_as_it() {
        for rule in WeightRule::ALL {
            assert_eq!(WeightRule::from_name(rule.as_str()), Some(rule));
            assert_eq!(serde_json::to_value(rule).unwrap(), rule.as_str());
        }
        assert_eq!(WeightRule::from_name("Downstream"), None);
    }

    /// a -> b, a -> c, b -> d, c -> d, weighing 1, 2, 4 and 8, all under `rule`.
    fn diamond(rule: WeightRule) -> Vec<Task> {
        let task = |id: &str, depends_on: &[&str], priority_weight: i32| Task {
            depends_on: depends_on.iter().map(|d| d.to_string()).collect(),
            priority_weight,
            weight_rule: rule,
            ..Task::stub(id)
        };
        let mut tasks = vec![task("a", &[], 1), task("b", &["a"], 2), task("c", &["a"], 4), task("d", &["b", "c"], 8)];
        set_effective_priorities(&mut tasks);
        tasks
    }

    fn priorities(tasks: &[Task]) -> Vec<(&str, i64)> {
        tasks.iter().map(|t| (t.id.as_str(), t.effective_priority)).collect()
    }

    #[test]
    fn downstream_weight_counts_a_task_reached_two_ways_once() {
        assert_eq!(priorities(&diamond(WeightRule::Downstream)), [("a", 15), ("b", 10), ("c", 12), ("d", 8)]);
    }

    #[test]
    fn upstream_weight_adds_every_ancestor_once() {
        assert_eq!(priorities(&diamond(WeightRule::Upstream)), [("a", 1), ("b", 3), ("c", 5), ("d", 15)]);
    }

    #[test]
    fn absolute_weight_is_the_task_own_alone() {
        assert_eq!(priorities(&diamond(WeightRule::Absolute)), [("a", 1), ("b", 2), ("c", 4), ("d", 8)]);
    }

    #[test]
    fn each_task_adds_up_by_its_own_rule_and_negative_weights_subtract() {
        let mut tasks = diamond(WeightRule::Downstream);
        tasks[1].priority_weight = -20;
        tasks[3].weight_rule = WeightRule::Upstream;
        set_effective_priorities(&mut tasks);
        assert_eq!(priorities(&tasks), [("a", -7), ("b", -12), ("c", 12), ("d", -7)]);
    }
}
