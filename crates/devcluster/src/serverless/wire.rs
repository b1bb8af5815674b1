//! The JSON shapes EMR Serverless answers with (restJson1: camelCase
//! fields, epoch-second timestamps): a job run as GetJobRun shows it, as
//! ListJobRuns and ListJobRunAttempts list it, and an application.

use chrono::Utc;
use serde_json::{Value, json};

use super::ACCOUNT_ID;
use super::state::{Application, Attempt, JobRun};
use crate::aws::epoch;

fn created_by() -> String {
    format!("arn:aws:iam::{ACCOUNT_ID}:user/drover-stand-in")
}

/// The GetJobRun view of `r` as of attempt `n` (the current one when n is the last).
pub(super) fn job_run(r: &JobRun, n: usize) -> Value {
    let a = &r.attempts[n - 1];
    let mut v = json!({
        "applicationId": r.application_id,
        "jobRunId": r.id,
        "name": r.name,
        "arn": r.arn,
        "createdBy": created_by(),
        "createdAt": epoch(r.created_at),
        "updatedAt": epoch(r.updated_at),
        "executionRole": r.execution_role,
        "state": a.state.as_str(),
        "stateDetails": a.details,
        "releaseLabel": r.release_label,
        "jobDriver": r.job_driver,
        "tags": r.tags,
        "totalResourceUtilization": {"vCPUHour": 0.0, "memoryGBHour": 0.0, "storageGBHour": 0.0},
        "totalExecutionDurationSeconds": r.started_at.map_or(0, |s| (r.ended_at.unwrap_or_else(Utc::now) - s).num_seconds()),
        "executionTimeoutMinutes": r.execution_timeout_minutes,
        "mode": "BATCH",
        "attempt": n,
        "attemptCreatedAt": epoch(a.created_at),
        "attemptUpdatedAt": epoch(a.updated_at),
    });
    if let Some(o) = &r.configuration_overrides {
        v["configurationOverrides"] = o.clone();
    }
    if let Some(p) = &r.retry_policy {
        v["retryPolicy"] = p.clone();
    }
    if let Some(t) = r.started_at {
        v["startedAt"] = json!(epoch(t));
    }
    if let Some(t) = r.ended_at {
        v["endedAt"] = json!(epoch(t));
    }
    v
}

pub(super) fn application(a: &Application) -> Value {
    json!({
        "applicationId": a.id,
        "name": a.name,
        "arn": a.arn,
        "releaseLabel": a.release_label,
        "type": a.kind,
        "state": "STARTED",
        "stateDetails": "",
        "createdAt": epoch(a.created_at),
        "updatedAt": epoch(a.created_at),
        "tags": a.tags,
        "autoStartConfiguration": {"enabled": true},
        "autoStopConfiguration": {"enabled": true, "idleTimeoutMinutes": 15},
        "architecture": "X86_64",
        "schedulerConfiguration": {
            "maxConcurrentRuns": a.max_concurrent_runs,
            "queueTimeoutMinutes": a.queue_timeout_minutes,
        },
    })
}

/// A job run as ListJobRuns lists it.
pub(super) fn job_run_summary(r: &JobRun) -> Value {
    json!({
        "applicationId": r.application_id,
        "id": r.id,
        "name": r.name,
        "mode": "BATCH",
        "arn": r.arn,
        "createdBy": created_by(),
        "createdAt": epoch(r.created_at),
        "updatedAt": epoch(r.updated_at),
        "executionRole": r.execution_role,
        "state": r.state.as_str(),
        "stateDetails": r.details,
        "releaseLabel": r.release_label,
        "type": "Spark",
        "attempt": r.attempts.len(),
        "attemptCreatedAt": r.attempts.last().map(|a| epoch(a.created_at)),
        "attemptUpdatedAt": r.attempts.last().map(|a| epoch(a.updated_at)),
    })
}

/// Attempt `n` of a job run as ListJobRunAttempts lists it.
pub(super) fn job_run_attempt(r: &JobRun, a: &Attempt, n: usize) -> Value {
    json!({
        "applicationId": r.application_id,
        "id": r.id,
        "name": r.name,
        "mode": "BATCH",
        "arn": r.arn,
        "createdBy": created_by(),
        "jobCreatedAt": epoch(r.created_at),
        "createdAt": epoch(a.created_at),
        "updatedAt": epoch(a.updated_at),
        "executionRole": r.execution_role,
        "state": a.state.as_str(),
        "stateDetails": a.details,
        "releaseLabel": r.release_label,
        "type": "Spark",
        "attempt": n,
    })
}

/// An application as ListApplications lists it.
pub(super) fn application_summary(a: &Application) -> Value {
    json!({
        "id": a.id, "name": a.name, "arn": a.arn, "releaseLabel": a.release_label,
        "type": a.kind, "state": "STARTED", "createdAt": epoch(a.created_at),
        "updatedAt": epoch(a.created_at),
    })
}
