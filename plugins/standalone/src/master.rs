//! The master's JSON view (`GET {master_ui_url}/json/`, Spark's
//! `JsonProtocol.writeMasterState`) as the driver statuses of many ids at
//! once, with no I/O. Each listed driver is mapped by [`rest::driver_status`],
//! the same function `status` uses, so both report the same phase.

use std::collections::HashMap;

use drover_plugin_sdk::DriverStatus;
use serde::Deserialize;

use crate::rest::{self, RestResponse};

/// The fields of `writeMasterState` this plugin reads; the rest are ignored.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct MasterState {
    pub workers: Vec<WorkerInfo>,
    pub activedrivers: Vec<DriverInfo>,
    /// The last `spark.deploy.retainedDrivers` (200) ended drivers only.
    pub completeddrivers: Vec<DriverInfo>,
}

/// `writeWorkerInfo`: the worker's RPC `host` and `port` make the
/// `workerHostPort` the REST status reply carries; `webuiaddress` is its UI.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct WorkerInfo {
    pub id: String,
    pub host: String,
    pub port: Option<u32>,
    /// The worker's web UI, where its drivers' log pages are.
    pub webuiaddress: String,
}

/// `writeDriverInfo`: `worker` is the worker's id, or the string "None"
/// before the driver is placed. There is no message or exception here.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct DriverInfo {
    pub id: String,
    pub state: String,
    pub worker: Option<String>,
}

/// States whose REST status carries more than the JSON view has: the
/// exception of an ERROR driver ("Exception from the cluster: …"), and
/// whatever message a FAILED one has. Both are terminal, so the extra
/// request is made once per driver; those ids are left to the per-id status.
const ASK_EACH: [&str; 2] = ["ERROR", "FAILED"];

/// One entry per id: the listed driver's status, or `None` when the JSON view
/// does not have it (no longer among the retained completed drivers, or never
/// known) or cannot tell enough about it; the caller asks the REST status for those.
pub fn listed_statuses(master: &MasterState, ids: &[String]) -> Vec<Option<DriverStatus>> {
    // Indexed once: a scan of the list per id is quadratic, and with 10,000
    // drivers that scan was most of drover's CPU. An active entry wins over
    // a completed one with the same id, as the scan's first match did.
    let mut by_id: HashMap<&str, &DriverInfo> =
        HashMap::with_capacity(master.activedrivers.len() + master.completeddrivers.len());
    for d in master.completeddrivers.iter().rev().chain(master.activedrivers.iter().rev()) {
        by_id.insert(d.id.as_str(), d);
    }
    ids.iter()
        .map(|id| {
            let driver = *by_id.get(id.as_str())?;
            if ASK_EACH.contains(&driver.state.trim()) {
                return None;
            }
            let worker_id = driver
                .worker
                .as_deref()
                .map(str::trim)
                .filter(|w| !w.is_empty() && *w != "None");
            let worker_host_port = worker_id
                .and_then(|w| master.workers.iter().find(|x| x.id == w))
                .filter(|w| !w.host.is_empty())
                .map(|w| match w.port {
                    Some(port) => format!("{}:{port}", w.host),
                    None => w.host.clone(),
                });
            // The same reply the REST server would give, so the same mapping applies.
            let reply = RestResponse {
                action: Some("SubmissionStatusResponse".into()),
                success: Some(true),
                message: None,
                submission_id: Some(id.clone()),
                server_spark_version: None,
                driver_state: Some(driver.state.clone()),
                worker_id: worker_id.map(str::to_string),
                worker_host_port,
            };
            // A state Spark does not define: the per-id status reports it.
            rest::driver_status(id, 200, &reply).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_plugin_sdk::DriverPhase;
    use serde_json::json;

    /// The shape a Spark 4 master answers (trimmed of fields nobody reads).
    fn master() -> MasterState {
        serde_json::from_value(json!({
            "url": "spark://m:7077",
            "workers": [{"id": "worker-1", "host": "10.0.0.5", "port": 7078,
                         "webuiaddress": "http://10.0.0.5:8081", "cores": 4, "state": "ALIVE"}],
            "aliveworkers": 1,
            "activeapps": [], "completedapps": [],
            "activedrivers": [
                {"id": "driver-1", "starttime": "1", "state": "RUNNING", "cores": 1, "memory": 1024,
                 "submitdate": "Thu Jan 01 00:00:00 UTC 2026", "worker": "worker-1", "mainclass": "M"},
                {"id": "driver-2", "state": "SUBMITTED", "worker": "None"},
                {"id": "driver-3", "state": "RELAUNCHING", "worker": "worker-1"}
            ],
            "completeddrivers": [
                {"id": "driver-4", "state": "FINISHED", "worker": "worker-1"},
                {"id": "driver-5", "state": "ERROR", "worker": "None"},
                {"id": "driver-6", "state": "KILLED", "worker": "worker-1"},
                {"id": "driver-7", "state": "EXPLODED", "worker": "None"},
                {"id": "driver-8", "state": "FAILED", "worker": "worker-1"}
            ],
            "status": "ALIVE"
        }))
        .unwrap()
    }

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn maps_listed_drivers_like_the_rest_status_in_request_order() {
        let out = listed_statuses(
            &master(),
            &ids(&["driver-4", "driver-1", "driver-2", "driver-3", "driver-6"]),
        );
        let phases: Vec<_> = out.iter().map(|s| s.as_ref().unwrap().phase).collect();
        assert_eq!(
            phases,
            [
                DriverPhase::Succeeded,
                DriverPhase::Running,
                DriverPhase::Submitted,
                DriverPhase::Running,
                DriverPhase::Killed
            ]
        );
        let running = out[1].as_ref().unwrap();
        assert_eq!(running.raw_state, "RUNNING");
        // The location the REST status gives: workerHostPort (workerId).
        assert_eq!(
            running.location.as_deref(),
            Some("10.0.0.5:7078 (worker-1)")
        );
        assert_eq!(out[2].as_ref().unwrap().location, None, "worker \"None\"");
        assert!(
            out[3]
                .as_ref()
                .unwrap()
                .message
                .as_deref()
                .unwrap()
                .contains("relaunching")
        );
    }

    #[test]
    fn the_same_status_as_the_rest_reply_for_the_same_driver() {
        let rest: RestResponse = serde_json::from_value(json!({
            "action": "SubmissionStatusResponse", "submissionId": "driver-1", "success": true,
            "driverState": "RUNNING", "workerId": "worker-1", "workerHostPort": "10.0.0.5:7078",
            "serverSparkVersion": "4.0.0"}))
        .unwrap();
        let from_rest = rest::driver_status("driver-1", 200, &rest).unwrap();
        let listed = listed_statuses(&master(), &ids(&["driver-1"]));
        assert_eq!(listed[0].as_ref(), Some(&from_rest));
    }

    #[test]
    fn missing_failed_and_undefined_states_are_left_to_the_rest_status() {
        let out = listed_statuses(
            &master(),
            &ids(&["driver-5", "driver-404", "driver-7", "driver-8"]),
        );
        // ERROR/FAILED: the REST status has the exception; gone from the
        // retained list or unknown: only the REST status can say;
        // an undefined state: the REST status reports the protocol error.
        assert_eq!(out, vec![None, None, None, None]);
    }

    #[test]
    fn an_empty_or_odd_master_reply_lists_nothing() {
        let empty: MasterState = serde_json::from_value(json!({})).unwrap();
        assert_eq!(listed_statuses(&empty, &ids(&["driver-1"])), vec![None]);
        assert!(serde_json::from_value::<MasterState>(json!({"activedrivers": 3})).is_err());
    }
}
