//! One delivery attempt per notifier kind. Errors are text a person can
//! read in the API, and never carry a secret (reqwest's errors name the
//! URL, which may hold a token, so it is stripped).

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::config::{NotifierKind, Smtp, SmtpTls, Target};
use crate::message::Message;

pub(crate) async fn http(client: &reqwest::Client, url: &str, key: &str, body: &serde_json::Value) -> Result<(), String> {
    let resp = client
        .post(url)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .map_err(|e| describe(&e.without_url()))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let text = resp.text().await.unwrap_or_default();
    let text: String = text.chars().take(200).collect();
    Err(format!("the receiver answered {status}: {}", text.trim()))
}

/// reqwest's error with its causes ("error sending request: connection refused").
fn describe(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

pub(crate) fn smtp_transport(s: &Smtp) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let builder = match s.tls {
        SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host).map_err(|e| e.to_string())?,
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host).map_err(|e| e.to_string())?,
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host),
    };
    let mut builder = builder.port(s.port);
    if let Some((user, password)) = &s.login {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    Ok(builder.build())
}

pub(crate) async fn email(transport: &AsyncSmtpTransport<Tokio1Executor>, s: &Smtp, m: &Message<'_>) -> Result<(), String> {
    let parse = |a: &str| a.parse::<Mailbox>().map_err(|e| format!("address \"{a}\": {e}"));
    let mut builder = lettre::Message::builder()
        .from(parse(&s.from)?)
        .subject(m.email_subject())
        // The idempotency key as the Message-ID: a repeat after a restart is
        // the same message to any mail system that deduplicates.
        .message_id(Some(format!("<{}@drover>", m.row.key)))
        .header(ContentType::TEXT_PLAIN);
    for to in &s.to {
        builder = builder.to(parse(to)?);
    }
    let mail = builder.body(m.email_body()).map_err(|e| e.to_string())?;
    transport.send(mail).await.map(|_| ()).map_err(|e| {
        let mut out = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            out.push_str(": ");
            out.push_str(&s.to_string());
            source = s.source();
        }
        out
    })
}

pub(crate) enum Sender {
    Http { kind: NotifierKind, url: String },
    Smtp { smtp: Smtp, transport: AsyncSmtpTransport<Tokio1Executor> },
}

impl Sender {
    pub(crate) fn new(kind: NotifierKind, target: Target) -> Result<Sender, String> {
        Ok(match target {
            Target::Http { url } => Sender::Http { kind, url },
            Target::Smtp(smtp) => {
                let transport = smtp_transport(&smtp)?;
                Sender::Smtp { smtp, transport }
            }
        })
    }

    pub(crate) async fn send(&self, client: &reqwest::Client, m: &Message<'_>) -> Result<(), String> {
        match self {
            Sender::Http { kind: NotifierKind::Slack, url } => http(client, url, &m.row.key, &m.slack()).await,
            Sender::Http { url, .. } => http(client, url, &m.row.key, &m.webhook()).await,
            Sender::Smtp { smtp, transport } => email(transport, smtp, m).await,
        }
    }
}
