//! The Spark UI link of a driver pod. Where a driver's UI is reachable
//! depends on the cluster's ingress (or a proxy, or port-forwarding), so the
//! backend says it with a template: `spark_ui_url_template =
//! "https://spark.example.com/{namespace}/{pod}"`. No I/O.

use drover_plugin_sdk::http::parse_url;
use drover_plugin_sdk::{DriverStatus, Problem, Settings};

/// The backend setting that holds the template.
pub const TEMPLATE_KEY: &str = "spark_ui_url_template";

/// The placeholders a template may use.
const PLACEHOLDERS: [&str; 2] = ["{namespace}", "{pod}"];

/// The link for the pod `namespace/name`; `None` without a template.
pub fn link(template: Option<&str>, namespace: &str, pod: &str) -> Option<String> {
    let t = template?;
    Some(
        t.replace("{namespace}", &encode(namespace))
            .replace("{pod}", &encode(pod)),
    )
}

/// `status` with the tracking link of driver `id` (`namespace/name@ms`, or
/// an older id), when
/// the backend has a template and the status has no link of its own.
pub fn with_link(mut status: DriverStatus, settings: &Settings, id: &str) -> DriverStatus {
    let default_ns = settings.get_or("namespace", crate::pod::DEFAULT_NAMESPACE);
    if status.tracking_url.is_none()
        && let Ok(id) = crate::pod::DriverId::parse(id, default_ns)
    {
        status.tracking_url = link(settings.get(TEMPLATE_KEY), id.namespace, id.name);
    }
    status
}

/// What is wrong with the backend's template, checked when a DAG loads.
pub fn problems(settings: &Settings) -> Vec<Problem> {
    let Some(t) = settings.get(TEMPLATE_KEY) else {
        return Vec::new();
    };
    let hint = "e.g. spark_ui_url_template = \"https://spark.example.com/{namespace}/{pod}\"";
    let mut out = Vec::new();
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').map(|c| open + c + 1);
        let Some(close) = close else { break };
        let placeholder = &rest[open..close];
        if !PLACEHOLDERS.contains(&placeholder) {
            out.push(Problem::new(
                "backend",
                format!("{TEMPLATE_KEY} has the placeholder {placeholder}, which is none of {{namespace}} and {{pod}}"),
                hint,
            ));
        }
        rest = &rest[close..];
    }
    if let Err(e) = parse_url(&link(Some(t), "default", "driver").unwrap_or_default()) {
        out.push(Problem::new(
            "backend",
            format!("{TEMPLATE_KEY} does not make an http(s) URL: {}", e.message()),
            hint,
        ));
    }
    out
}

/// Namespace and pod names are DNS labels; anything else is escaped anyway.
fn encode(s: &str) -> String {
    drover_plugin_sdk::http::encode_component(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_plugin_sdk::DriverPhase;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        Settings::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    fn running() -> DriverStatus {
        DriverStatus {
            phase: DriverPhase::Running,
            raw_state: "Running".into(),
            attempt: None,
            location: None,
            message: None,
            tracking_url: None,
        }
    }

    #[test]
    fn the_template_makes_the_link_of_each_pod() {
        let s = settings(&[(TEMPLATE_KEY, "https://spark.example.com/{namespace}/{pod}/jobs/")]);
        let st = with_link(running(), &s, "etl/etl-1-driver");
        assert_eq!(
            st.tracking_url.as_deref(),
            Some("https://spark.example.com/etl/etl-1-driver/jobs/")
        );
        assert_eq!(with_link(running(), &settings(&[]), "etl/p").tracking_url, None);
        let bare = with_link(running(), &settings(&[(TEMPLATE_KEY, "http://ui/{namespace}/{pod}")]), "p");
        assert_eq!(bare.tracking_url.as_deref(), Some("http://ui/default/p"));
        assert!(problems(&s).is_empty());
    }

    #[test]
    fn unknown_placeholders_and_non_urls_are_problems() {
        let p = problems(&settings(&[(TEMPLATE_KEY, "https://x/{app}/{pod}")]));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].message.contains("{app}"), "{p:?}");
        let p = problems(&settings(&[(TEMPLATE_KEY, "spark.example.com/{pod}")]));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].message.contains("http(s) URL"), "{p:?}");
    }
}
