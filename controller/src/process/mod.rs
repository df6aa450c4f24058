//! What the process around the controllers provides them: leadership (only the leader
//! writes), metrics, readiness (caches synced), the shutdown signal, and the one wrapper every
//! reconcile runs in (a span with namespace and name, its duration and error reason counted).
//! The controllers' decisions know none of this.

pub(crate) mod api_requests;
pub(crate) mod gate;
pub(crate) mod leader;
pub mod logs;
pub(crate) mod metrics;
pub(crate) mod server;
pub(crate) mod trim;

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::watch;
use tracing::Instrument;

use leader::Leadership;
use metrics::Metrics;

/// An error's reason for the errors metric: a fixed, short name (the variant), never text
/// that grows with the object.
pub(crate) trait Reason {
    fn reason(&self) -> &'static str;
}

/// The process's shared state, one per controller process.
#[derive(Clone)]
pub(crate) struct Process {
    pub metrics: Arc<Metrics>,
    pub leadership: Leadership,
    pub readiness: Arc<Readiness>,
    shutdown: watch::Receiver<bool>,
    /// Work started and queues drained: when memory freed by a burst is given back.
    pub activity: Arc<trim::Activity>,
    /// The writers working at once, across the controllers, most urgent first.
    pub gate: Arc<gate::Gate>,
}

/// Writers working at once: enough to keep the API server busy, few enough that a pause that
/// ends waits behind at most this many others' writes.
const WRITING_AT_ONCE: usize = 16;

impl Process {
    pub(crate) fn with_metrics(
        metrics: Arc<Metrics>,
        leadership: Leadership,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Process {
            metrics,
            leadership,
            readiness: Arc::default(),
            shutdown,
            activity: Arc::default(),
            gate: gate::Gate::new(WRITING_AT_ONCE),
        }
    }

    /// For tests and the developer cluster: always the leader, never shut down from outside.
    pub(crate) fn standalone() -> Self {
        let (tx, rx) = watch::channel(false);
        // Kept alive for ever, so the signal never fires.
        std::mem::forget(tx);
        Process::with_metrics(Arc::default(), Leadership::always(), rx)
    }

    /// Resolves when the process is asked to stop: what the controllers stop taking new work on
    /// (their reconciles in flight finish first).
    pub(crate) fn shutdown(&self) -> impl Future<Output = ()> + Send + Sync + 'static {
        let mut rx = self.shutdown.clone();
        async move {
            // An error means the sender is gone: nothing will ask any more, so wait for ever.
            if rx.wait_for(|stop| *stop).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// A work queue's depth, published as `controller`'s.
    pub(crate) fn queue(&self, controller: &'static str) -> Arc<Queue> {
        Arc::new(Queue {
            controller,
            waiting: Mutex::default(),
            metrics: self.metrics.clone(),
            activity: self.activity.clone(),
            parked: Mutex::default(),
        })
    }

    /// Runs one reconcile of `namespace/name` inside its span, timing it and counting its
    /// error reason.
    pub(crate) async fn reconcile<T, E>(
        &self,
        controller: &'static str,
        queue: &Queue,
        namespace: &str,
        name: &str,
        work: impl Future<Output = Result<T, E>> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: Reason + std::fmt::Display + Send + 'static,
    {
        queue.started(&format!("{namespace}/{name}"));
        let span = tracing::info_span!("reconcile", controller, namespace, name);
        let start = Instant::now();
        // On a task of its own: kube-runtime polls every reconcile, and every watch feeding
        // it, from the controller's one task, so a thousand reconciles would share one core.
        // The task goes with the controller: one stopped (or aborted) leaves no writer behind.
        let result = match Owned(tokio::spawn(work.instrument(span))).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Cancelled: only when the runtime shuts down, and then nothing waits for this.
            Err(_) => std::future::pending().await,
        };
        let reason = result.as_ref().err().map(Reason::reason);
        self.metrics.reconciled(controller, start.elapsed(), reason);
        result
    }
}

/// The objects of one controller that changed since their last reconcile and have not started
/// the next: the depth of its work queue (kube-runtime's own queue is not observable).
pub(crate) struct Queue {
    controller: &'static str,
    waiting: Mutex<HashSet<String>>,
    metrics: Arc<Metrics>,
    activity: Arc<trim::Activity>,
    /// Reconciles waiting for their turn to write, told when their object changes.
    parked: Mutex<std::collections::HashMap<String, Arc<tokio::sync::Notify>>>,
}

/// A reconcile waiting for its turn; told when its object changes meanwhile.
pub(crate) struct Parked<'a> {
    queue: &'a Queue,
    key: String,
    changed: Arc<tokio::sync::Notify>,
}

impl Parked<'_> {
    /// Resolves when the object changed since parking (or since the last time this resolved).
    pub(crate) async fn changed(&self) {
        self.changed.notified().await;
    }
}

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        let mut parked = self.queue.parked.lock().unwrap_or_else(|e| e.into_inner());
        parked.remove(&self.key);
    }
}

impl Queue {
    pub(crate) fn triggered(&self, key: String) {
        if let Some(changed) = self
            .parked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            changed.notify_one();
        }
        self.activity.worked();
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        waiting.insert(key);
        self.metrics.queue_depth(self.controller, waiting.len());
    }

    /// Marks `key`'s reconcile as waiting for its turn to write, until the guard is dropped.
    pub(crate) fn park(&self, key: &str) -> Parked<'_> {
        let changed = Arc::new(tokio::sync::Notify::new());
        let mut parked = self.parked.lock().unwrap_or_else(|e| e.into_inner());
        parked.insert(key.to_string(), changed.clone());
        Parked {
            queue: self,
            key: key.to_string(),
            changed,
        }
    }

    pub(crate) fn started(&self, key: &str) {
        // Also a reconcile no change triggered (a deadline: a pause's end, a measurement).
        self.activity.worked();
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if waiting.remove(key) && waiting.is_empty() {
            self.activity.drained();
        }
        self.metrics.queue_depth(self.controller, waiting.len());
    }
}

/// A watch's objects without its errors, each logged here as a warning. The watcher retries
/// on its own backoff; an error passed on to a kube-runtime controller would also pause that
/// controller's whole queue, for longer with each error in a row, and errors buffered on
/// [`on_own_task`] arrive in a row: a minute's outage (or a controller started before its
/// CRDs) held every Rollout, pause ends and aborts too, for many minutes after it ended.
pub(crate) fn errors_logged<K, S>(
    stream: S,
    what: &'static str,
) -> impl futures::Stream<Item = Result<K, kube::runtime::watcher::Error>> + Send + 'static
where
    K: Send + 'static,
    S: futures::Stream<Item = Result<K, kube::runtime::watcher::Error>> + Send + 'static,
{
    use futures::StreamExt;
    stream.filter_map(move |event| {
        std::future::ready(match event {
            Ok(object) => Some(Ok(object)),
            Err(e) => {
                tracing::warn!("watching {what} failed, retrying: {e}{}", hint(&e));
                None
            }
        })
    })
}

/// What a user can do about a watch that fails for want of its resource.
fn hint(e: &kube::runtime::watcher::Error) -> &'static str {
    use kube::runtime::watcher::Error;
    match e {
        Error::InitialListFailed(kube::Error::Api(s))
        | Error::WatchStartFailed(kube::Error::Api(s))
            if s.code == 404 =>
        {
            " (the API server does not serve this kind: are the rollout-rs CRDs installed?)"
        }
        _ => "",
    }
}

/// The stream's items, produced on a task of its own: a watch decodes and caches its objects
/// there, on any core, rather than inside the controller's task that polls it. Its order is
/// kept; a full buffer holds the watch back.
pub(crate) fn on_own_task<S>(stream: S) -> futures::stream::BoxStream<'static, S::Item>
where
    S: futures::Stream + Send + 'static,
    S::Item: Send + 'static,
{
    use futures::{SinkExt, StreamExt};
    let (tx, rx) = futures::channel::mpsc::channel(256);
    let task = Owned(tokio::spawn(async move {
        // An error means the controller is gone: nothing reads the stream any more.
        let _ = stream
            .map(Ok::<_, ()>)
            .forward(tx.sink_map_err(|_| ()))
            .await;
    }));
    // The task goes with the stream: a controller stopped (or aborted) keeps no watch.
    rx.map(move |item| {
        let _owned = &task;
        item
    })
    .boxed()
}

/// A spawned task aborted when this handle is dropped, so that work a controller moved onto
/// tasks of its own ends with the controller (tokio's tasks otherwise outlive whoever
/// spawned them: a stopped controller's reconcile would still write).
struct Owned<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for Owned<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

/// Resolves once `store` has listed (false: its writer is gone). kube-runtime's
/// `wait_until_ready` wakes only the last of several concurrent waiters, and each controller's
/// runner waits on its store too, so this waiter asks again every half second until the store
/// is ready; after that every ask answers at once.
pub(crate) async fn listed<K>(store: &kube::runtime::reflector::Store<K>) -> bool
where
    K: kube::runtime::reflector::Lookup + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    loop {
        let ask = tokio::time::timeout(
            std::time::Duration::from_millis(500),
            store.wait_until_ready(),
        );
        if let Ok(answer) = ask.await {
            return answer.is_ok();
        }
    }
}

/// Whether every controller's caches have listed: `/readyz`.
#[derive(Default)]
pub(crate) struct Readiness {
    /// Check name → passed.
    checks: Mutex<BTreeMap<&'static str, bool>>,
}

impl Readiness {
    /// A check that must pass before the process is ready.
    pub(crate) fn expect(&self, check: &'static str) {
        self.lock().entry(check).or_insert(false);
    }

    pub(crate) fn pass(&self, check: &'static str) {
        let mut checks = self.lock();
        let was_ready = checks.values().all(|ok| *ok);
        checks.insert(check, true);
        if !was_ready && checks.values().all(|ok| *ok) {
            tracing::info!("ready: every cache has listed");
        }
    }

    /// The checks not passed yet (empty: ready).
    pub(crate) fn failing(&self) -> Vec<&'static str> {
        self.lock()
            .iter()
            .filter(|(_, ok)| !**ok)
            .map(|(name, _)| *name)
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, bool>> {
        self.checks.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod owned_tests {
    use futures::StreamExt;

    use super::*;

    #[tokio::test]
    async fn a_dropped_reconcile_or_stream_leaves_no_task_behind() {
        // A reconcile whose controller is gone (its future dropped) stops.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
        let process = Process::standalone();
        let queue = process.queue("test");
        let work = async move {
            std::future::pending::<()>().await;
            let _ = tx.send(()).await;
            Ok::<(), TestError>(())
        };
        let mut reconcile = Box::pin(process.reconcile("test", &queue, "ns", "a", work));
        assert!(futures::FutureExt::now_or_never(&mut reconcile).is_none());
        drop(reconcile);
        let ended = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv()).await;
        assert!(
            matches!(ended, Ok(None)),
            "the task ended and dropped its sender"
        );

        // A stream moved onto its own task stops with its reader.
        let (tx, rx) = tokio::sync::mpsc::channel::<u32>(1);
        let stream = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        let mut items = on_own_task(stream);
        tx.send(1).await.unwrap();
        assert_eq!(items.next().await, Some(1));
        drop(items);
        let closed = tokio::time::timeout(std::time::Duration::from_secs(10), tx.closed()).await;
        assert!(closed.is_ok(), "the watch's task ended with its reader");
    }

    #[derive(Debug)]
    struct TestError;

    impl std::fmt::Display for TestError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("test")
        }
    }

    impl Reason for TestError {
        fn reason(&self) -> &'static str {
            "Test"
        }
    }
}

#[cfg(test)]
mod queue_tests {
    use futures::FutureExt;

    use super::*;

    #[tokio::test]
    async fn a_parked_reconcile_is_told_when_its_object_changes() {
        let queue = Process::standalone().queue("test");
        let parked = queue.park("ns/a");
        queue.triggered("ns/b".into());
        assert!(parked.changed().now_or_never().is_none(), "another object");
        queue.triggered("ns/a".into());
        assert!(parked.changed().now_or_never().is_some());
        drop(parked);
        assert!(queue.parked.lock().unwrap().is_empty(), "unparked on drop");
    }
}
