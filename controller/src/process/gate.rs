//! A bounded number of reconciles carrying out their plans at once, served by class: work
//! that moves a Rollout along or back (a pause that ended, an abort, a step) goes before bulk
//! work (status counts, scale-downs, resyncs), whatever order they arrived in. Without it a
//! thousand Rollouts whose pauses end together wait behind every other write in flight, and the
//! API server sees a thousand requests at once.
//!
//! It only orders; it never decides what is urgent (the caller says) and holds no objects.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// Which queue a reconcile waits in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// Moves a Rollout along or back: served first.
    Urgent,
    /// Everything else, in arrival order once no urgent work waits.
    Bulk,
}

/// The slots, and who waits for one.
pub(crate) struct Gate {
    state: Mutex<State>,
}

struct State {
    free: usize,
    urgent: VecDeque<oneshot::Sender<Permit>>,
    bulk: VecDeque<oneshot::Sender<Permit>>,
}

/// One slot, held while a plan is carried out; the next waiter gets it on drop.
pub(crate) struct Permit {
    gate: Option<Arc<Gate>>,
}

impl Gate {
    pub(crate) fn new(slots: usize) -> Arc<Gate> {
        Arc::new(Gate {
            state: Mutex::new(State {
                free: slots.max(1),
                urgent: VecDeque::new(),
                bulk: VecDeque::new(),
            }),
        })
    }

    /// A slot, and whether it had to be waited for (the world may have changed meanwhile).
    pub(crate) async fn enter(self: &Arc<Self>, class: Class) -> (Permit, bool) {
        let rx = {
            let mut state = self.lock();
            if state.free > 0 {
                state.free -= 1;
                return (
                    Permit {
                        gate: Some(self.clone()),
                    },
                    false,
                );
            }
            let (tx, rx) = oneshot::channel();
            match class {
                Class::Urgent => state.urgent.push_back(tx),
                Class::Bulk => state.bulk.push_back(tx),
            }
            rx
        };
        // A waiter dropped before its turn leaves a closed sender behind, skipped on release;
        // one dropped after being handed a permit drops that permit, which passes it on.
        match rx.await {
            Ok(permit) => (permit, true),
            // The gate handed nothing and dropped the sender: only when it is gone itself.
            Err(_) => (Permit { gate: None }, true),
        }
    }

    /// How many wait, urgent and bulk.
    #[cfg(test)]
    fn waiting(&self) -> (usize, usize) {
        let state = self.lock();
        (state.urgent.len(), state.bulk.len())
    }

    fn release(self: &Arc<Self>) {
        let mut state = self.lock();
        loop {
            let next = state.urgent.pop_front().or_else(|| state.bulk.pop_front());
            let Some(tx) = next else {
                state.free += 1;
                return;
            };
            let permit = Permit {
                gate: Some(self.clone()),
            };
            match tx.send(permit) {
                Ok(()) => return,
                // That waiter is gone: the permit comes back unused. Defuse it, or dropping it
                // here would release again under the lock.
                Err(mut unused) => unused.gate = None,
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(gate) = self.gate.take() {
            gate.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[tokio::test]
    async fn free_slots_are_taken_without_waiting() {
        let gate = Gate::new(2);
        let (_a, waited_a) = gate.enter(Class::Bulk).await;
        let (_b, waited_b) = gate.enter(Class::Urgent).await;
        assert!(!waited_a && !waited_b);
        assert!(gate.enter(Class::Urgent).now_or_never().is_none(), "full");
    }

    #[tokio::test]
    async fn urgent_waiters_are_served_before_bulk_ones_that_came_first() {
        let gate = Gate::new(1);
        let (held, _) = gate.enter(Class::Bulk).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (name, class) in [
            ("bulk 1", Class::Bulk),
            ("bulk 2", Class::Bulk),
            ("urgent 1", Class::Urgent),
            ("urgent 2", Class::Urgent),
        ] {
            let (waiter, order) = (gate.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let (_permit, waited) = waiter.enter(class).await;
                assert!(waited);
                order.lock().unwrap().push(name);
            }));
            // Each is queued before the next arrives.
            while gate.waiting().0 + gate.waiting().1 < tasks.len() {
                tokio::task::yield_now().await;
            }
        }
        drop(held);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(
            *order.lock().unwrap(),
            ["urgent 1", "urgent 2", "bulk 1", "bulk 2"]
        );
    }

    #[tokio::test]
    async fn a_waiter_that_gave_up_does_not_lose_the_slot() {
        let gate = Gate::new(1);
        let (held, _) = gate.enter(Class::Bulk).await;
        let mut gone = Box::pin(gate.enter(Class::Urgent));
        assert!((&mut gone).now_or_never().is_none());
        drop(gone);
        let next = tokio::spawn({
            let gate = gate.clone();
            async move { gate.enter(Class::Bulk).await.1 }
        });
        while gate.waiting().1 == 0 {
            tokio::task::yield_now().await;
        }
        drop(held);
        assert!(next.await.unwrap(), "the slot went to the live waiter");
        // And it came back: one slot free again.
        let (_again, waited) = gate.enter(Class::Bulk).await;
        assert!(!waited);
    }
}
