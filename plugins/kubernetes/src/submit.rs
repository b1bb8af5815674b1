//! Creating the driver pod so that sending one try twice starts one driver.
//!
//! The pod's name comes from the submission key alone ([`pod::pod_name`]), so
//! the API server itself refuses a second create of the same try with 409
//! AlreadyExists, and that refusal means "already submitted": the pod is read
//! back and, when it carries this key, followed as the submission, the way
//! `find` follows a pod it finds by the key. A retry after a lost reply, or a
//! restart between the send and the record of its answer, so never makes a
//! second driver, whatever the scheduler knows.
//!
//! The HTTP exchange is an argument, so the whole path runs in unit tests
//! against a scripted API server.

use drover_plugin_sdk::http::{self, Method, Response};
use drover_plugin_sdk::{Application, PluginError};
use serde_json::Value;

use crate::pod::{self, PodSettings};
use crate::status;

/// Creates the driver pod of `app` for the submission `key` (or adopts the
/// one an earlier send of it created) and returns its id; `now_ms` is the
/// plugin's clock at the send. `exchange` sends one request and gives back
/// the reply whatever its status (an `Err` only when there is no reply).
pub fn create_driver(
    ps: &PodSettings,
    key: &str,
    app: &Application,
    now_ms: u64,
    mut exchange: impl FnMut(Method, &str, Option<Vec<u8>>) -> Result<Response, PluginError>,
) -> Result<String, PluginError> {
    let body = pod::driver_pod(ps, key, app)?;
    let url = http::join(
        &ps.api_url,
        &format!("/api/v1/namespaces/{}/pods", ps.namespace),
    );
    let bytes = serde_json::to_vec(&body)
        .map_err(|e| PluginError::Invalid(format!("cannot encode the driver pod: {e}")))?;
    let reply = exchange(Method::Post, &url, Some(bytes))?;
    if reply.is_success() {
        let created: Value = reply.json(&url)?;
        let name = created
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                PluginError::Protocol(format!(
                    "{url} created a pod but answered no metadata.name"
                ))
            })?;
        // The pod's creation time, as `find` reads it, so both give the
        // same id (the plugin's clock if the server sent none).
        return Ok(pod::driver_id(&ps.namespace, name, status::seen_at(&created, now_ms)));
    }
    if !status::already_exists(&reply) {
        return Err(status::api_error(&reply, &url));
    }
    let name = body
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let pod_url = pod::pod_url(ps, &ps.namespace, name);
    let reply = exchange(Method::Get, &pod_url, None)?;
    if reply.status == 404 {
        // Refused as existing, then gone: deleted between the two calls (a
        // kill of the first send's driver, say), its key no longer readable;
        // a name is the digest of a key, so it was all but surely this
        // try's. Creating it again would run the try a second time;
        // following the id lets `status` say what became of it (not visible
        // yet within the grace, deleted after).
        return Ok(pod::driver_id(&ps.namespace, name, now_ms));
    }
    if !reply.is_success() {
        return Err(status::api_error(&reply, &pod_url));
    }
    let existing: Value = reply.json(&pod_url)?;
    let id = pod::driver_id(&ps.namespace, name, status::seen_at(&existing, now_ms));
    status::adopt(&existing, key, &format!("{}/{name}", ps.namespace))?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_plugin_sdk::DeployMode;
    use drover_plugin_sdk::testing::{bare_app, settings};
    use serde_json::json;

    const KEY: &str = "drover-0123456789abcdef0123456789abcdef";
    const NOW: u64 = 1_767_225_600_000;

    fn ps() -> PodSettings {
        PodSettings::from_settings(&settings(&[
            ("api_url", "https://k8s:6443"),
            ("namespace", "jobs"),
        ]))
        .unwrap()
    }

    fn app() -> Application {
        let mut a = bare_app("/jobs/etl.py", DeployMode::Cluster);
        a.name = "etl".into();
        a
    }

    fn reply(status: u16, body: &Value) -> Response {
        Response {
            status,
            headers: vec![],
            body: body.to_string().into_bytes(),
        }
    }

    fn status_object(code: u16, reason: &str, message: &str) -> Value {
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": message, "reason": reason, "code": code,
               "details": {"name": "etl-x3bxbq5cebboqvh7-driver", "kind": "pods"}})
    }

    /// A scripted API server: one pod store, a count of creates it accepted,
    /// and every request it saw.
    #[derive(Default)]
    struct FakeApi {
        pods: Vec<Value>,
        created: usize,
        seen: Vec<(Method, String)>,
    }

    impl FakeApi {
        fn exchange(&mut self, method: Method, url: &str, body: Option<Vec<u8>>) -> Response {
            self.seen.push((method, url.to_string()));
            let name_of =
                |p: &Value| p["metadata"]["name"].as_str().unwrap_or_default().to_string();
            match method {
                Method::Post => {
                    let mut pod: Value = serde_json::from_slice(&body.unwrap()).unwrap();
                    let name = name_of(&pod);
                    if self.pods.iter().any(|p| name_of(p) == name) {
                        let message = format!("pods {name:?} already exists");
                        return reply(409, &status_object(409, "AlreadyExists", &message));
                    }
                    pod["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
                    self.pods.push(pod.clone());
                    self.created += 1;
                    reply(201, &pod)
                }
                Method::Get => {
                    let name = url.rsplit('/').next().unwrap();
                    match self.pods.iter().find(|p| name_of(p) == name) {
                        Some(p) => reply(200, p),
                        None => reply(404, &status_object(404, "NotFound", "not found")),
                    }
                }
                _ => panic!("unexpected {method:?} {url}"),
            }
        }
    }

    fn submit(api: &mut FakeApi, key: &str, now: u64) -> Result<String, PluginError> {
        create_driver(&ps(), key, &app(), now, |m: Method, u: &str, b: Option<Vec<u8>>| {
            Ok(api.exchange(m, u, b))
        })
    }

    #[test]
    fn a_second_send_of_a_try_adopts_its_pod_instead_of_making_another() {
        let mut api = FakeApi::default();
        let first = submit(&mut api, KEY, NOW).unwrap();
        assert_eq!(first, format!("jobs/etl-x3bxbq5cebboqvh7-driver@{NOW}"));
        let again = submit(&mut api, KEY, NOW + 60_000).unwrap();
        assert_eq!(api.created, 1, "one pod");
        assert_eq!(api.pods.len(), 1);
        // The second create was sent and refused, then the pod read back.
        let calls: Vec<_> = api.seen.iter().map(|(m, u)| format!("{m:?} {u}")).collect();
        assert_eq!(
            calls,
            [
                "Post https://k8s:6443/api/v1/namespaces/jobs/pods",
                "Post https://k8s:6443/api/v1/namespaces/jobs/pods",
                "Get https://k8s:6443/api/v1/namespaces/jobs/pods/etl-x3bxbq5cebboqvh7-driver",
            ]
        );
        // Same pod; its time is the pod's creationTimestamp (2026-01-01),
        // not the second send's.
        assert_eq!(again, format!("jobs/etl-x3bxbq5cebboqvh7-driver@{NOW}"));
    }

    #[test]
    fn a_pod_of_that_name_with_another_key_is_a_clash_not_a_submission() {
        let mut api = FakeApi::default();
        submit(&mut api, KEY, NOW).unwrap();
        api.pods[0]["metadata"]["labels"][pod::SUBMISSION_KEY_LABEL] = json!("drover-someone-else");
        let err = submit(&mut api, KEY, NOW).unwrap_err();
        let PluginError::Rejected(m) = err else { panic!("{err:?}") };
        assert!(m.contains("jobs/etl-x3bxbq5cebboqvh7-driver"), "{m}");
        assert!(m.contains("\"drover-someone-else\"") && m.contains(KEY), "{m}");
        api.pods[0]["metadata"]["labels"] = json!({});
        let err = submit(&mut api, KEY, NOW).unwrap_err();
        assert!(
            matches!(&err, PluginError::Rejected(m) if m.contains("label is missing")),
            "{err:?}"
        );
        assert_eq!(api.created, 1);
    }

    #[test]
    fn a_pod_deleted_between_the_conflict_and_the_read_is_followed_not_recreated() {
        let mut api = FakeApi::default();
        submit(&mut api, KEY, NOW).unwrap();
        let mut answers = vec![
            reply(409, &status_object(409, "AlreadyExists", "exists")),
            reply(404, &status_object(404, "NotFound", "not found")),
        ]
        .into_iter();
        let scripted = |_: Method, _: &str, _: Option<Vec<u8>>| Ok(answers.next().expect("two calls"));
        let id = create_driver(&ps(), KEY, &app(), NOW + 5, scripted).unwrap();
        assert_eq!(id, format!("jobs/etl-x3bxbq5cebboqvh7-driver@{}", NOW + 5));
    }

    #[test]
    fn other_refusals_stay_errors() {
        for (code, reason, want_rejected) in [(409, "Conflict", true), (422, "Invalid", false)] {
            let refused = |_: Method, _: &str, _: Option<Vec<u8>>| {
                Ok(reply(code, &status_object(code, reason, "no")))
            };
            let r = create_driver(&ps(), KEY, &app(), NOW, refused);
            match r {
                Err(PluginError::Rejected(_)) if want_rejected => {}
                Err(PluginError::Invalid(_)) if !want_rejected => {}
                other => panic!("{code} {reason}: {other:?}"),
            }
        }
        // A 409 whose body is not a Status object is not "already exists".
        let html = |_: Method, _: &str, _: Option<Vec<u8>>| {
            Ok(Response {
                status: 409,
                headers: vec![],
                body: b"<html>".to_vec(),
            })
        };
        let r = create_driver(&ps(), KEY, &app(), NOW, html);
        assert!(matches!(r, Err(PluginError::Rejected(_))), "{r:?}");
    }
}
