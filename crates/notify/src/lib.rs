//! Notifications: the notifiers of drover's config file (a webhook, Slack's
//! incoming webhooks, email over SMTP) and the task that delivers the
//! store's outbox to them.
//!
//! The scheduler never sends anything: it writes outbox rows in the same
//! transaction as the state change that causes them (see drover-store), so
//! a slow or dead receiver never holds up scheduling, and a notification
//! whose event was committed survives a crash. [`deliver`] sends pending rows
//! when the store says rows were added or when the next retry is due (no
//! polling), marks each sent after the receiver accepted it, and retries
//! failures with exponential backoff up to the notifier's `max_attempts`.
//!
//! Delivery is at-least-once: a process killed after a receiver accepted a
//! notification and before the mark was committed sends it again on
//! restart. Every delivery carries the row's idempotency key (in the JSON
//! body and the `Idempotency-Key` header; as the Message-ID of an email) so
//! a receiver can drop the repeat. Exactly-once over HTTP or SMTP would need
//! the receiver's cooperation; this is the honest bound.

mod config;
mod message;
mod outbox;
mod send;

pub use config::{ConfigError, NotifierConfig, NotifierKind, SmtpTls};
pub use message::Message;
pub use outbox::{Notifiers, deliver, retry_at};
