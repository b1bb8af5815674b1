//! Being the one scheduler among several drovers on one PostgreSQL
//! database: wait for the scheduler lease, then keep it.
//!
//! A drover that starts while another holds the lease waits (a hot
//! standby, serving the API meanwhile) and takes it over once it expires. The holder renews it every
//! third of its time to live. Its store handle is fenced on the lease's
//! epoch, so nothing it writes lands once another took over, and it holds
//! a [`LeaseClock`] that runs out one time-to-live after the last renewal
//! was sent: the scheduler calls no cluster after that. A holder that
//! cannot renew in time exits (as Kubernetes controllers do when they lose
//! their leader election), to be restarted as a standby by its supervisor.

use std::time::{Duration, Instant};

use anyhow::Context;
use drover_store::{LeaseClock, Store};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// The exit status of a drover that lost the scheduler lease.
pub const LOST_LEASE: i32 = 75;

/// Waits until this drover holds the scheduler lease, then keeps it in the
/// background until `cancel` (then gives it up at once, for a fast
/// takeover). The store handle returned is fenced on the lease. While it
/// waits, `seen` is called each time the lease is found held (the active
/// scheduler is alive). `url` is where this drover's API answers other
/// drovers (for the client-mode driver logs on its disk).
pub async fn hold(
    store: &Store,
    holder: &str,
    url: &str,
    ttl: Duration,
    cancel: CancellationToken,
    seen: impl Fn(),
) -> anyhow::Result<Store> {
    let mut waiting_on: Option<String> = None;
    let (lease, sent) = loop {
        let sent = Instant::now();
        if let Some(lease) = store.acquire_lease(holder, ttl).await.context("cannot take the scheduler lease")? {
            break (lease, sent);
        }
        seen();
        if let Some(current) = store.lease().await?
            && waiting_on.as_deref() != Some(current.holder.as_str())
        {
            info!(holder = %current.holder, epoch = current.epoch, "another drover schedules; standing by to take over");
            waiting_on = Some(current.holder);
        }
        tokio::select! {
            _ = cancel.cancelled() => anyhow::bail!("stopped while standing by"),
            _ = tokio::time::sleep(ttl / 6) => {}
        }
    };
    info!(epoch = lease.epoch, "took the scheduler lease");
    store.record_epoch(lease.epoch, holder, url).await.context("cannot record the scheduler lease's holder")?;
    let clock = LeaseClock::new(sent + ttl);
    let fenced = store.fenced_until(lease.epoch, clock.clone());
    tokio::spawn(keep(store.clone(), lease.epoch, ttl, clock, cancel));
    Ok(fenced)
}

/// Renews the lease every third of its time to live; exits the process
/// when it cannot before its clock runs out.
async fn keep(store: Store, epoch: i64, ttl: Duration, clock: LeaseClock, cancel: CancellationToken) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => {
                if let Err(e) = store.release_lease(epoch).await {
                    warn!(error = %e, "cannot give the scheduler lease up; a standby takes over when it expires");
                }
                return;
            }
            _ = tokio::time::sleep(ttl / 3) => {}
        }
        // Woken late (the process was paused): the lease may be another's.
        if !clock.valid() {
            lost(epoch, "the scheduler lease ran out before it was renewed");
        }
        let sent = Instant::now();
        match store.renew_lease(epoch, ttl).await {
            Ok(Some(_)) => clock.extend(sent + ttl),
            Ok(None) => lost(epoch, "another drover took the scheduler lease over"),
            Err(e) if clock.valid() => warn!(error = %e, "cannot renew the scheduler lease; trying again"),
            Err(e) => lost(epoch, &format!("the scheduler lease could not be renewed in time: {e}")),
        }
    }
}

fn lost(epoch: i64, why: &str) -> ! {
    error!(epoch, "{why}; exiting so that this drover is restarted as a standby");
    eprintln!("drover: {why} (epoch {epoch}); exiting");
    std::process::exit(LOST_LEASE)
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user_info = &url[scheme + 3..at];
            let user = user_info.split(':').next().unwrap_or("");
            format!("{}{}{}", &url[..scheme + 3], user, &url[at..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_password_never_reaches_a_message() {
        assert_eq!(super::redact("postgres://drover:s3cret@db:5432/d"), "postgres://drover@db:5432/d");
        assert_eq!(super::redact("postgres://drover@db/d"), "postgres://drover@db/d");
        assert_eq!(super::redact("/tmp/x.db"), "/tmp/x.db");
    }
}
