//! What a notification says, built from its outbox row; the same facts in
//! each notifier's format.

use drover_store::{NotificationRow, NotifyEvent};
use serde_json::{Value, json};

/// One notification's content.
pub struct Message<'a> {
    pub row: &'a NotificationRow,
    /// Where people reach drover's UI, without a trailing slash.
    pub base_url: &'a str,
}

/// Like the UI's `encodeURIComponent` for a hash route part.
fn encode(part: &str) -> String {
    let mut out = String::new();
    for b in part.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

impl Message<'_> {
    pub fn run_url(&self) -> String {
        format!("{}/#/dags/{}/runs/{}", self.base_url, encode(&self.row.dag_id), encode(&self.row.run_id))
    }

    pub fn task_url(&self) -> Option<String> {
        let task = self.row.task_id.as_deref()?;
        Some(format!("{}/tasks/{}", self.run_url(), encode(task)))
    }

    /// "task etl.load failed (try 2)", "run etl / manual__… succeeded".
    pub fn summary(&self) -> String {
        let r = self.row;
        let what = match r.event {
            NotifyEvent::OnFailure => "failed",
            NotifyEvent::OnRetry => "failed and will be retried",
            NotifyEvent::OnSuccess => "succeeded",
            NotifyEvent::OnRunFailure => "failed",
            NotifyEvent::OnRunSuccess => "succeeded",
        };
        match (&r.task_id, r.try_number) {
            (Some(task), Some(n)) => format!("task {}.{task} {what} (try {n}, run {})", r.dag_id, r.run_id),
            (Some(task), None) => format!("task {}.{task} {what} (run {})", r.dag_id, r.run_id),
            _ => format!("run {} of {} {what}", r.run_id, r.dag_id),
        }
    }

    /// The generic webhook's JSON body.
    pub fn webhook(&self) -> Value {
        let r = self.row;
        json!({
            "idempotency_key": r.key,
            "event": r.event,
            "dag_id": r.dag_id,
            "run_id": r.run_id,
            "task_id": r.task_id,
            "try_number": r.try_number,
            "state": r.state,
            "message": r.message,
            "cluster_id": r.cluster_id,
            "tracking_url": r.tracking_url,
            "task_url": self.task_url(),
            "run_url": self.run_url(),
            "timestamp": r.created_at.to_rfc3339(),
        })
    }

    /// Slack's incoming-webhook format: `text` (the notification's fallback)
    /// and one section block with the links.
    pub fn slack(&self) -> Value {
        let r = self.row;
        let link = self.task_url().unwrap_or_else(|| self.run_url());
        let mut lines = vec![format!("*<{link}|{}>*", slack_escape(&self.summary()))];
        if let Some(m) = &r.message {
            lines.push(format!("> {}", slack_escape(m)));
        }
        if let Some(t) = &r.tracking_url {
            lines.push(format!("driver: <{t}|{}>", slack_escape(r.cluster_id.as_deref().unwrap_or("tracking page"))));
        }
        json!({
            "text": format!("drover: {}", self.summary()),
            "blocks": [{ "type": "section", "text": { "type": "mrkdwn", "text": lines.join("\n") } }],
        })
    }

    pub fn email_subject(&self) -> String {
        format!("[drover] {}", self.summary())
    }

    pub fn email_body(&self) -> String {
        let r = self.row;
        let mut out = format!("{}\n\n", self.summary());
        let mut field = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                out.push_str(&format!("{k:<13}{v}\n"));
            }
        };
        field("DAG:", Some(r.dag_id.clone()));
        field("Run:", Some(r.run_id.clone()));
        field("Task:", r.task_id.clone());
        field("Try:", r.try_number.map(|n| n.to_string()));
        field("State:", Some(r.state.clone()));
        field("Message:", r.message.clone());
        field("Driver:", r.cluster_id.clone());
        field("Tracking:", r.tracking_url.clone());
        field("Open:", Some(self.task_url().unwrap_or_else(|| self.run_url())));
        field("At:", Some(r.created_at.to_rfc3339()));
        out
    }
}

fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use drover_store::NotificationStatus;

    fn row() -> NotificationRow {
        NotificationRow {
            id: 1,
            key: "k1".into(),
            notifier: "ops".into(),
            event: NotifyEvent::OnFailure,
            dag_id: "etl".into(),
            run_id: "manual__2026-01-01T00:00:00+00:00".into(),
            task_id: Some("load".into()),
            try_number: Some(2),
            r#try: Some(7),
            state: "failed".into(),
            message: Some("exit code 1 <boom>".into()),
            created_at: Utc::now(),
            status: NotificationStatus::Pending,
            attempts: 0,
            next_attempt_at: Utc::now(),
            last_error: None,
            sent_at: None,
            cluster_id: Some("driver-1".into()),
            tracking_url: Some("http://master/app".into()),
        }
    }

    #[test]
    fn links_to_the_task_page_as_the_ui_routes_it() {
        let r = row();
        let m = Message { row: &r, base_url: "http://drover:8080" };
        assert_eq!(
            m.task_url().unwrap(),
            "http://drover:8080/#/dags/etl/runs/manual__2026-01-01T00%3A00%3A00%2B00%3A00/tasks/load"
        );
        let body = m.webhook();
        assert_eq!(body["idempotency_key"], "k1");
        assert_eq!(body["event"], "on_failure");
        assert_eq!(body["cluster_id"], "driver-1");
    }

    #[test]
    fn slack_text_escapes_what_slack_reads_as_markup() {
        let r = row();
        let m = Message { row: &r, base_url: "http://d" };
        let s = m.slack();
        assert!(s["text"].as_str().unwrap().starts_with("drover: task etl.load failed (try 2"));
        assert!(s["blocks"][0]["text"]["text"].as_str().unwrap().contains("&lt;boom&gt;"));
    }
}
