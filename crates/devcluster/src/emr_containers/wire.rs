//! The JSON shapes EMR on EKS answers with (restJson1: camelCase fields,
//! epoch-second timestamps, optional fields left out): a job run and the
//! virtual cluster.

use serde_json::{Value, json};

use super::state::JobRun;
use super::{ACCOUNT_ID, REGION, VIRTUAL_CLUSTER_ID};
use crate::aws::epoch;

impl JobRun {
    /// The job run as DescribeJobRun and ListJobRuns show it.
    pub(super) fn json(&self) -> Value {
        let mut v = json!({
            "id": self.id,
            "name": self.name,
            "virtualClusterId": VIRTUAL_CLUSTER_ID,
            "arn": self.arn,
            "state": self.state.as_str(),
            "clientToken": self.client_token,
            "executionRoleArn": self.execution_role_arn,
            "releaseLabel": self.release_label,
            "jobDriver": self.job_driver,
            "createdAt": epoch(self.created_at),
            "createdBy": format!("arn:aws:iam::{ACCOUNT_ID}:user/drover-stand-in"),
            "tags": self.tags,
        });
        let optional = [
            ("configurationOverrides", self.configuration_overrides.clone()),
            ("retryPolicyConfiguration", self.retry_policy.clone()),
            ("retryPolicyExecution", self.retry_policy.as_ref().map(|_| json!({"currentAttemptCount": self.attempt}))),
            ("finishedAt", self.finished_at.map(|t| json!(epoch(t)))),
            ("stateDetails", self.details.clone().map(Value::String)),
            ("failureReason", self.failure_reason.map(|r| json!(r))),
        ];
        for (k, value) in optional {
            if let Some(value) = value {
                v[k] = value;
            }
        }
        v
    }
}

/// DescribeVirtualCluster's answer for the one virtual cluster.
pub(super) fn virtual_cluster() -> Value {
    json!({"virtualCluster": {
        "id": VIRTUAL_CLUSTER_ID,
        "name": "drover-stand-in",
        "arn": format!("arn:aws:emr-containers:{REGION}:{ACCOUNT_ID}:/virtualclusters/{VIRTUAL_CLUSTER_ID}"),
        "state": "RUNNING",
        "containerProvider": {"type": "EKS", "id": "drover-stand-in", "info": {"eksInfo": {"namespace": "default"}}},
    }})
}
