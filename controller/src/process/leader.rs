//! Leader election on a coordination.k8s.io Lease (kube-lease-manager): every replica keeps its
//! caches warm, only the leader writes. [`Leadership`] is what the controllers read before a
//! write and what tells them to reconcile everything when leadership is gained.
//!
//! kube-lease-manager renews and takes over expired Leases, but a standby sleeps until the
//! holder's lease would expire even when the holder released it, and trusts the Lease it last
//! read until then: a SIGTERM hand-over would wait out the lease. So a standby also watches the
//! Lease and, when it sees it released, makes the manager read it again and asks at once.

use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Client;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder};
use tokio::sync::watch;

/// The Lease every replica competes for.
pub(crate) const LEASE_NAME: &str = "rollout-rs-controller";
/// How long a holder's lease lasts after its last renewal: a standby takes over this long
/// (plus under a second) after the leader died.
const LEASE_SECONDS: u64 = 10;
/// How long before expiry the holder renews.
const RENEW_BEFORE_SECONDS: u64 = 4;

/// Whether this replica may write now.
#[derive(Clone, Debug)]
pub(crate) struct Leadership(watch::Receiver<bool>);

impl Leadership {
    /// No election: this replica always leads.
    pub(crate) fn always() -> Self {
        let (tx, rx) = watch::channel(true);
        // The sender is dropped: the value stays true for ever.
        drop(tx);
        Leadership(rx)
    }

    pub(crate) fn is_leader(&self) -> bool {
        *self.0.borrow()
    }

    /// Yields each time this replica becomes the leader (at the start too, if it leads):
    /// what the controllers reconcile everything on.
    pub(crate) fn gained(&self) -> impl Stream<Item = ()> + Send + 'static {
        futures::stream::unfold((self.0.clone(), false), |(mut rx, mut was)| async move {
            loop {
                let leading = *rx.borrow_and_update();
                if leading && !was {
                    return Some(((), (rx, true)));
                }
                was = leading;
                if rx.changed().await.is_err() {
                    return None;
                }
            }
        })
    }
}

/// Why the election could not start.
#[derive(Debug, thiserror::Error)]
#[error("leader election on Lease {namespace}/{LEASE_NAME}: {cause}")]
pub(crate) struct ElectionError {
    namespace: String,
    cause: kube_lease_manager::LeaseManagerError,
}

/// A running election: the leadership it publishes, and how to step down.
pub(crate) struct Election {
    pub leadership: Leadership,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Election {
    /// Joins the election under `identity` for the Lease in `namespace`.
    pub(crate) async fn start(
        client: Client,
        namespace: &str,
        identity: &str,
        on_change: impl Fn(bool) + Send + 'static,
    ) -> Result<Election, ElectionError> {
        let failed = |cause| ElectionError {
            namespace: namespace.to_string(),
            cause,
        };
        let manager = LeaseManagerBuilder::new(client.clone(), LEASE_NAME)
            .with_namespace(namespace)
            .with_identity(identity)
            .with_duration(LEASE_SECONDS)
            .with_grace(RENEW_BEFORE_SECONDS)
            .with_field_manager(format!("rollout-rs-leader-{identity}"))
            .build()
            .await
            .map_err(failed)?;
        let (leading_tx, leading_rx) = watch::channel(false);
        let (stop, stopped) = watch::channel(false);
        let leases: Api<Lease> = Api::namespaced(client, namespace);
        let task = tokio::spawn(campaign(manager, leases, leading_tx, stopped, on_change));
        Ok(Election {
            leadership: Leadership(leading_rx),
            stop,
            task,
        })
    }

    /// Steps down: stops renewing and releases the Lease at once, so a standby takes over
    /// without waiting for it to expire.
    pub(crate) async fn resign(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::warn!("leader election task: {e}");
        }
    }
}

/// The election loop: the manager's verdicts published, released Leases noticed at once.
async fn campaign(
    manager: LeaseManager,
    leases: Api<Lease>,
    leading: watch::Sender<bool>,
    mut stop: watch::Receiver<bool>,
    on_change: impl Fn(bool),
) {
    let released = watcher(
        leases,
        watcher::Config::default().fields(&format!("metadata.name={LEASE_NAME}")),
    )
    .default_backoff()
    .applied_objects()
    .filter_map(|lease| async move {
        let lease = lease.ok()?;
        let holder = lease.spec.and_then(|s| s.holder_identity);
        holder.is_none_or(|h| h.is_empty()).then_some(())
    });
    futures::pin_mut!(released);
    loop {
        let is_leader = *leading.borrow();
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            verdict = manager.changed() => match verdict {
                Ok(now) => {
                    if now != is_leader {
                        tracing::info!(leader = now, "leadership changed");
                        on_change(now);
                        let _ = leading.send(now);
                    }
                }
                Err(e) => {
                    tracing::warn!("leader election: {e}");
                    if is_leader {
                        // Unsure whether the Lease is still ours: stop writing.
                        on_change(false);
                        let _ = leading.send(false);
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            },
            // The holder let go: ask again now rather than at its lease's end. The manager
            // keeps the Lease it last read until that expires; `release` (which writes nothing
            // for a replica that holds nothing) is its one public way to read it again.
            Some(()) = released.next(), if !is_leader => {
                if let Err(e) = manager.release().await {
                    tracing::debug!("re-reading the released Lease: {e}");
                }
            }
        }
    }
    let was_leader = *leading.borrow();
    let _ = leading.send(false);
    on_change(false);
    if was_leader {
        match manager.release().await {
            Ok(()) => tracing::info!("released the leader Lease"),
            Err(e) => tracing::warn!("releasing the leader Lease: {e}"),
        }
    }
}
