//! The API server's pods: the objects as the API shows them, the
//! resourceVersion and watch-event history, and create, get, list and
//! (graceful) delete. Running a pod's containers is the kubelet's
//! ([`super::kubelet`]).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::http::StatusCode;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::SUBMISSION_KEY_LABEL;
use super::selector::Selectors;
use super::wire::ApiError;
use crate::SubmissionRecord;
use crate::ids::random_u64;
use crate::process::Spawner;
use crate::stand_in::{Context, Drivers, StandIn};

/// Watch events kept for resuming a watch from a resourceVersion.
const HISTORY: usize = 4096;
pub(super) const DEFAULT_GRACE_SECONDS: u64 = 30;

/// One watch event as it goes out: `{"type": …, "object": pod}`.
#[derive(Debug, Clone)]
pub(super) struct Event {
    pub(super) rv: u64,
    pub(super) kind: &'static str,
    pub(super) pod: Value,
}

/// A pod and what runs it.
pub(super) struct PodEntry {
    /// The object as the API shows it (metadata, spec, status).
    pub(super) pod: Value,
    /// Process group of each running container, by container name.
    pub(super) pids: BTreeMap<String, u32>,
    /// Cancelled by a delete: the containers stop within `grace`.
    pub(super) stop: CancellationToken,
    pub(super) grace: Duration,
    /// The containers' processes are all gone (or never started).
    pub(super) done: bool,
    pub(super) dir: PathBuf,
}

#[derive(Default)]
pub(super) struct ApiState {
    pub(super) rv: u64,
    pub(super) pods: BTreeMap<(String, String), PodEntry>,
    pub(super) history: VecDeque<Event>,
    pub(super) submissions: Vec<SubmissionRecord>,
}

pub(super) struct Api {
    pub(super) addr: SocketAddr,
    pub(super) work_dir: PathBuf,
    pub(super) token: Option<String>,
    pub(super) spawner: Arc<Spawner>,
    /// Where driver pods' `s3a:` resources are fetched from.
    pub(super) s3: Option<crate::s3::S3Source>,
    pub(super) drivers: Drivers,
    pub(super) state: Mutex<ApiState>,
    pub(super) events: broadcast::Sender<Event>,
}

impl Api {
    pub(super) fn new(ctx: &Context, token: Option<String>) -> Self {
        let (events, _) = broadcast::channel(1024);
        Self {
            addr: ctx.addr,
            work_dir: ctx.work_dir.clone(),
            token,
            spawner: ctx.spawner.clone(),
            s3: ctx.s3.clone(),
            drivers: Drivers::new(ctx.cancel.clone()),
            state: Mutex::default(),
            events,
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, ApiState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bumps the resourceVersion, stamps it on the pod, records and sends the event.
    pub(super) fn publish(
        st: &mut ApiState,
        events: &broadcast::Sender<Event>,
        kind: &'static str,
        pod: &mut Value,
    ) {
        st.rv += 1;
        pod["metadata"]["resourceVersion"] = json!(st.rv.to_string());
        let event = Event {
            rv: st.rv,
            kind,
            pod: pod.clone(),
        };
        st.history.push_back(event.clone());
        if st.history.len() > HISTORY {
            st.history.pop_front();
        }
        let _ = events.send(event);
    }

    /// Changes a pod's status and tells the watchers.
    pub(super) fn update(&self, key: &(String, String), change: impl FnOnce(&mut PodEntry)) {
        let mut guard = self.lock();
        let st = &mut *guard;
        let Some(entry) = st.pods.get_mut(key) else {
            return;
        };
        change(entry);
        set_phase(&mut entry.pod);
        let mut pod = entry.pod.clone();
        Self::publish(st, &self.events, "MODIFIED", &mut pod);
        if let Some(entry) = st.pods.get_mut(key) {
            entry.pod["metadata"]["resourceVersion"] = pod["metadata"]["resourceVersion"].clone();
        }
    }

    /// Removes a pod for good (the end of a graceful delete).
    pub(super) fn remove(&self, key: &(String, String)) {
        let mut guard = self.lock();
        let st = &mut *guard;
        if let Some(mut entry) = st.pods.remove(key) {
            Self::publish(st, &self.events, "DELETED", &mut entry.pod);
            info!(pod = %format!("{}/{}", key.0, key.1), "pod deleted");
        }
    }

    pub(super) fn create(self: &Arc<Self>, ns: &str, body: &[u8]) -> Result<Value, ApiError> {
        let mut pod: Value = serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!(
                "the body of the request was in an unknown format: {e}"
            ))
        })?;
        if !pod.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be a Pod object",
            ));
        }
        if let Some(kind) = pod.get("kind").and_then(Value::as_str)
            && kind != "Pod"
        {
            return Err(ApiError::bad_request(format!(
                "the API version in the data (v1) does not match the expected kind Pod: got {kind}"
            )));
        }
        if !pod["metadata"].is_object() {
            pod["metadata"] = json!({});
        }
        if let Some(body_ns) = pod["metadata"]["namespace"].as_str()
            && body_ns != ns
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        let name = match (
            pod["metadata"]["name"].as_str(),
            pod["metadata"]["generateName"].as_str(),
        ) {
            (Some(n), _) if !n.is_empty() => n.to_string(),
            (_, Some(g)) if !g.is_empty() => format!("{g}{}", random_suffix()),
            _ => {
                return Err(ApiError::invalid(
                    "",
                    "metadata.name",
                    "Required value: name or generateName is required",
                ));
            }
        };
        if !is_dns_subdomain(&name) {
            return Err(ApiError::invalid(
                &name,
                "metadata.name",
                &format!(
                    "Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case \
                 alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
                ),
            ));
        }
        let containers = pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if containers.is_empty() {
            return Err(ApiError::invalid(
                &name,
                "spec.containers",
                "Required value",
            ));
        }
        for (i, c) in containers.iter().enumerate() {
            if c["name"].as_str().is_none_or(str::is_empty) {
                return Err(ApiError::invalid(
                    &name,
                    &format!("spec.containers[{i}].name"),
                    "Required value",
                ));
            }
            if c["image"].as_str().is_none_or(str::is_empty) {
                return Err(ApiError::invalid(
                    &name,
                    &format!("spec.containers[{i}].image"),
                    "Required value",
                ));
            }
        }
        let now = Utc::now();
        let meta = &mut pod["metadata"];
        meta["name"] = json!(name);
        meta["namespace"] = json!(ns);
        meta["uid"] = json!(uid());
        meta["creationTimestamp"] = json!(timestamp(now));
        let spec = &mut pod["spec"];
        for (k, v) in [
            ("restartPolicy", json!("Always")),
            (
                "terminationGracePeriodSeconds",
                json!(DEFAULT_GRACE_SECONDS),
            ),
            ("dnsPolicy", json!("ClusterFirst")),
            ("schedulerName", json!("default-scheduler")),
            ("serviceAccountName", json!("default")),
        ] {
            if spec.get(k).is_none_or(Value::is_null) {
                spec[k] = v;
            }
        }
        pod["status"] = json!({"phase": "Pending", "qosClass": qos_class(&containers)});
        if let Some(o) = pod.as_object_mut() {
            o.insert("apiVersion".into(), json!("v1"));
            o.insert("kind".into(), json!("Pod"));
        }

        let key = (ns.to_string(), name.clone());
        let dir = self.work_dir.join(ns).join(&name);
        let stop = self.drivers.cancel.child_token();
        {
            let mut guard = self.lock();
            let st = &mut *guard;
            if st.pods.contains_key(&key) {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "AlreadyExists",
                    format!("pods {name:?} already exists"),
                    Some(&name),
                ));
            }
            Self::publish(st, &self.events, "ADDED", &mut pod);
            st.submissions.push(SubmissionRecord {
                manager: "kubernetes",
                submission_id: format!("{ns}/{name}"),
                app_name: pod
                    .pointer("/metadata/annotations/spark-app-name")
                    .and_then(Value::as_str)
                    .unwrap_or(&name)
                    .to_string(),
                submission_key: pod
                    .pointer("/metadata/labels")
                    .and_then(|l| l.get(SUBMISSION_KEY_LABEL))
                    .and_then(Value::as_str)
                    .map(str::to_string),
                received_at: now,
            });
            st.pods.insert(
                key.clone(),
                PodEntry {
                    pod: pod.clone(),
                    pids: BTreeMap::new(),
                    stop: stop.clone(),
                    grace: Duration::from_secs(DEFAULT_GRACE_SECONDS),
                    done: false,
                    dir: dir.clone(),
                },
            );
        }
        info!(pod = %format!("{ns}/{name}"), "pod created");
        let api = self.clone();
        self.drivers
            .spawn(async move { api.run_pod(key, dir, stop).await });
        Ok(pod)
    }

    /// DELETE: graceful when containers run (deletionTimestamp now, object gone
    /// once they stopped), immediate otherwise.
    pub(super) fn delete(&self, ns: &str, name: &str, grace: Option<u64>) -> Result<Value, ApiError> {
        let key = (ns.to_string(), name.to_string());
        let mut guard = self.lock();
        let st = &mut *guard;
        let Some(entry) = st.pods.get_mut(&key) else {
            return Err(ApiError::not_found(name));
        };
        if entry.done {
            let mut entry = st.pods.remove(&key).expect("present");
            Self::publish(st, &self.events, "DELETED", &mut entry.pod);
            return Ok(entry.pod);
        }
        let grace = grace
            .or_else(|| entry.pod["spec"]["terminationGracePeriodSeconds"].as_u64())
            .unwrap_or(DEFAULT_GRACE_SECONDS);
        if entry.pod.pointer("/metadata/deletionTimestamp").is_none() {
            let when = Utc::now() + chrono::Duration::seconds(i64::try_from(grace).unwrap_or(0));
            entry.pod["metadata"]["deletionTimestamp"] = json!(timestamp(when));
            entry.pod["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
            entry.grace = Duration::from_secs(grace);
            entry.stop.cancel();
            let mut pod = entry.pod.clone();
            Self::publish(st, &self.events, "MODIFIED", &mut pod);
            if let Some(entry) = st.pods.get_mut(&key) {
                entry.pod = pod.clone();
            }
            info!(pod = %format!("{ns}/{name}"), grace, "pod terminating");
            return Ok(pod);
        }
        Ok(entry.pod.clone())
    }

    pub(super) fn get(&self, ns: &str, name: &str) -> Result<Value, ApiError> {
        self.lock()
            .pods
            .get(&(ns.to_string(), name.to_string()))
            .map(|e| e.pod.clone())
            .ok_or_else(|| ApiError::not_found(name))
    }

    pub(super) fn list(&self, ns: Option<&str>, sel: &Selectors) -> (u64, Vec<Value>) {
        let st = self.lock();
        let items = st
            .pods
            .iter()
            .filter(|((pod_ns, _), _)| ns.is_none_or(|n| n == pod_ns))
            .filter(|(_, e)| sel.matches(&e.pod))
            .map(|(_, e)| e.pod.clone())
            .collect();
        (st.rv, items)
    }

}

impl StandIn for Api {
    fn submissions(&self) -> Vec<SubmissionRecord> {
        self.lock().submissions.clone()
    }
    fn drivers(&self) -> &Drivers {
        &self.drivers
    }
    fn running_pids(&self) -> Vec<u32> {
        self.lock().pods.values().flat_map(|e| e.pids.values().copied()).collect()
    }
}

/// The pod phase and conditions from its containers, as the kubelet computes them.
pub(super) fn set_phase(pod: &mut Value) {
    let statuses = pod["status"]["containerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if statuses.is_empty() {
        return;
    }
    let terminated: Vec<i64> = statuses
        .iter()
        .filter_map(|c| c.pointer("/state/terminated/exitCode")?.as_i64())
        .collect();
    let running = statuses
        .iter()
        .filter(|c| c.pointer("/state/running").is_some())
        .count();
    let restarting = statuses
        .iter()
        .any(|c| c["restartCount"].as_u64().unwrap_or(0) > 0);
    let phase = if terminated.len() == statuses.len() {
        if terminated.iter().all(|c| *c == 0) {
            "Succeeded"
        } else {
            "Failed"
        }
    } else if running > 0 || !terminated.is_empty() || restarting {
        "Running"
    } else {
        "Pending"
    };
    let ready = running == statuses.len();
    let now = timestamp(Utc::now());
    let condition = |kind: &str, ok: bool, reason: Option<&str>| {
        let mut c = json!({"type": kind, "status": if ok { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": now});
        if let Some(r) = reason {
            c["reason"] = json!(r);
        }
        c
    };
    let done_reason = (phase == "Succeeded" || phase == "Failed").then_some("PodCompleted");
    pod["status"]["phase"] = json!(phase);
    pod["status"]["conditions"] = json!([
        condition("PodScheduled", true, None),
        condition("Initialized", true, None),
        condition(
            "ContainersReady",
            ready,
            if ready {
                None
            } else {
                done_reason.or(Some("ContainersNotReady"))
            }
        ),
        condition(
            "Ready",
            ready,
            if ready {
                None
            } else {
                done_reason.or(Some("ContainersNotReady"))
            }
        ),
    ]);
}

fn qos_class(containers: &[Value]) -> &'static str {
    let mut any = false;
    let mut guaranteed = true;
    for c in containers {
        let (req, lim) = (&c["resources"]["requests"], &c["resources"]["limits"]);
        any |= req.as_object().is_some_and(|o| !o.is_empty())
            || lim.as_object().is_some_and(|o| !o.is_empty());
        for r in ["cpu", "memory"] {
            let limit = &lim[r];
            if limit.is_null() || (!req[r].is_null() && req[r] != *limit) {
                guaranteed = false;
            }
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}


pub(super) fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}


pub(super) fn uid() -> String {
    let (a, b) = (random_u64(), random_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

/// What `generateName` appends: five characters of the apiserver's alphabet.
fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut n = random_u64();
    (0..5)
        .map(|_| {
            let c = ALPHABET[(n % ALPHABET.len() as u64) as usize] as char;
            n /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric()
}

