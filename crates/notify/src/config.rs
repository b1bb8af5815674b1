//! `[notifiers.NAME]` tables of the config file, and their secrets.
//!
//! ```toml
//! [notifiers.ops]
//! kind = "webhook"
//! url_env = "OPS_WEBHOOK_URL"      # or url = "https://…" when it holds no token
//!
//! [notifiers.team]
//! kind = "slack"
//! url_env = "SLACK_WEBHOOK_URL"
//!
//! [notifiers.oncall]
//! kind = "email"
//! smtp_host = "smtp.example.com"
//! smtp_port = 587                  # default: 587 (starttls), 465 (tls), 25 (none)
//! smtp_tls = "starttls"            # starttls | tls | none
//! username = "drover"
//! password_env = "SMTP_PASSWORD"
//! from = "drover@example.com"
//! to = ["oncall@example.com"]
//! ```

use std::time::Duration;

use serde::Deserialize;

/// What a notifier sends to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifierKind {
    Webhook,
    Slack,
    Email,
}

/// How drover talks to an SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (refused if the server cannot).
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
    /// No encryption: for a relay on this machine.
    None,
}

/// One `[notifiers.NAME]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifierConfig {
    pub kind: NotifierKind,
    /// Webhook and Slack: the URL, when it holds no secret…
    pub url: Option<String>,
    /// …or the environment variable holding it (Slack's URLs carry a token).
    pub url_env: Option<String>,
    pub smtp_host: Option<String>,
    pub smtp_port: Option<u16>,
    pub smtp_tls: Option<SmtpTls>,
    pub username: Option<String>,
    /// The environment variable holding the SMTP password.
    pub password_env: Option<String>,
    pub from: Option<String>,
    #[serde(default)]
    pub to: Vec<String>,
    /// Attempts before a notification is given up as failed (default 10).
    pub max_attempts: Option<u32>,
    /// How long one attempt may take (default 10s).
    pub timeout: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("notifier `{name}`: {message}")]
pub struct ConfigError {
    pub name: String,
    pub message: String,
}

pub(crate) const DEFAULT_MAX_ATTEMPTS: u32 = 10;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the config says, with secrets read from the environment.
pub(crate) enum Target {
    Http { url: String },
    Smtp(Smtp),
}

pub(crate) struct Smtp {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub login: Option<(String, String)>,
    pub from: String,
    pub to: Vec<String>,
}

pub(crate) struct Checked {
    pub kind: NotifierKind,
    pub target: Target,
    pub max_attempts: u32,
    pub timeout: Duration,
}

impl NotifierConfig {
    pub(crate) fn check(&self, name: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Checked, ConfigError> {
        let err = |message: String| ConfigError { name: name.to_string(), message };
        let secret = |var: &str| env(var).filter(|v| !v.is_empty()).ok_or_else(|| err(format!("environment variable {var} is not set")));
        let timeout = match &self.timeout {
            None => DEFAULT_TIMEOUT,
            Some(t) => humantime::parse_duration(t).map_err(|e| err(format!("timeout \"{t}\": {e}")))?,
        };
        let max_attempts = self.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS).max(1);
        let http_only = [
            ("smtp_host", self.smtp_host.is_some()),
            ("smtp_port", self.smtp_port.is_some()),
            ("smtp_tls", self.smtp_tls.is_some()),
            ("username", self.username.is_some()),
            ("password_env", self.password_env.is_some()),
            ("from", self.from.is_some()),
            ("to", !self.to.is_empty()),
        ];
        let target = match self.kind {
            NotifierKind::Webhook | NotifierKind::Slack => {
                if let Some((key, _)) = http_only.iter().find(|(_, set)| *set) {
                    return Err(err(format!("`{key}` is for email notifiers")));
                }
                let url = match (&self.url, &self.url_env) {
                    (Some(u), None) => u.clone(),
                    (None, Some(var)) => secret(var)?,
                    _ => return Err(err("set one of `url` and `url_env`".into())),
                };
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(err("the URL must start with http:// or https://".into()));
                }
                Target::Http { url }
            }
            NotifierKind::Email => {
                if self.url.is_some() || self.url_env.is_some() {
                    return Err(err("`url` and `url_env` are for webhook and slack notifiers".into()));
                }
                let host = self.smtp_host.clone().ok_or_else(|| err("`smtp_host` is required".into()))?;
                let tls = self.smtp_tls.unwrap_or(SmtpTls::Starttls);
                let login = match (&self.username, &self.password_env) {
                    (Some(u), Some(var)) => Some((u.clone(), secret(var)?)),
                    (None, None) => None,
                    _ => return Err(err("set both `username` and `password_env`, or neither".into())),
                };
                let loopback = matches!(host.as_str(), "localhost" | "127.0.0.1" | "::1");
                if tls == SmtpTls::None && login.is_some() && !loopback {
                    return Err(err("a password is never sent unencrypted: use smtp_tls = \"starttls\" or \"tls\"".into()));
                }
                let from = self.from.clone().ok_or_else(|| err("`from` is required".into()))?;
                if self.to.is_empty() {
                    return Err(err("`to` needs at least one address".into()));
                }
                let port = self.smtp_port.unwrap_or(match tls {
                    SmtpTls::Starttls => 587,
                    SmtpTls::Tls => 465,
                    SmtpTls::None => 25,
                });
                Target::Smtp(Smtp { host, port, tls, login, from, to: self.to.clone() })
            }
        };
        Ok(Checked { kind: self.kind, target, max_attempts, timeout })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> NotifierConfig {
        toml_like(text)
    }

    // serde_json stands in for TOML here: the fields are the same.
    fn toml_like(json: &str) -> NotifierConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_slack_url_comes_from_the_environment() {
        let c = parse(r#"{"kind": "slack", "url_env": "HOOK"}"#);
        let env = |v: &str| (v == "HOOK").then(|| "https://hooks.example/T/B/x".to_string());
        let checked = c.check("team", &env).unwrap();
        assert!(matches!(checked.target, Target::Http { url } if url == "https://hooks.example/T/B/x"));
        let none = |_: &str| None;
        let e = c.check("team", &none).err().unwrap();
        assert_eq!(e.to_string(), "notifier `team`: environment variable HOOK is not set");
    }

    #[test]
    fn refuses_a_password_over_plain_smtp_to_another_host() {
        let c = parse(
            r#"{"kind": "email", "smtp_host": "smtp.example.com", "smtp_tls": "none", "username": "u",
                "password_env": "P", "from": "a@example.com", "to": ["b@example.com"]}"#,
        );
        let env = |_: &str| Some("secret".to_string());
        assert!(c.check("mail", &env).err().unwrap().message.contains("never sent unencrypted"));
    }

    #[test]
    fn refuses_smtp_keys_on_a_webhook() {
        let c = parse(r#"{"kind": "webhook", "url": "http://x", "to": ["b@example.com"]}"#);
        assert!(c.check("w", &|_| None).err().unwrap().message.contains("`to` is for email"));
    }
}
