//! A bounded number of writers at once, served by class: work that moves a Rollout along or
//! back (an abort, a pause that ended, a step, a run that failed) goes before follow-up work (a
//! promotion's bookkeeping), which goes before bulk work (status counts, measurements,
//! scale-downs, resyncs), whatever order they arrived in. One gate is shared by the process's
//! controllers. Without it a thousand Rollouts whose pauses end together wait behind every
//! other write in flight, and the API server sees a thousand requests at once.
//!
//! It only orders; it never decides what is urgent (the caller says) and holds no objects.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// Which queue a writer waits in, most urgent first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// Moves a Rollout along or back (a step, a pause's end, an abort, a run's verdict): served
    /// first.
    Urgent,
    /// Follows from such a move (a promotion's new stable side, a phase), or keeps an
    /// analysis on its schedule (a measurement): next.
    Soon,
    /// Everything else, in arrival order once nothing more urgent waits.
    Bulk,
}

impl Class {
    fn rank(self) -> usize {
        match self {
            Class::Urgent => 0,
            Class::Soon => 1,
            Class::Bulk => 2,
        }
    }
}

/// The slots, and who waits for one.
pub(crate) struct Gate {
    state: Mutex<State>,
}

struct State {
    free: usize,
    /// Waiters by [`Class::rank`].
    waiting: [VecDeque<oneshot::Sender<Permit>>; 3],
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
                waiting: Default::default(),
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
            state.waiting[class.rank()].push_back(tx);
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

    /// How many wait, in all classes.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.lock().waiting.iter().map(VecDeque::len).sum()
    }

    fn release(self: &Arc<Self>) {
        let mut state = self.lock();
        loop {
            let next = state.waiting.iter_mut().find_map(VecDeque::pop_front);
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
    async fn each_class_is_served_before_the_less_urgent_ones_that_came_first() {
        let gate = Gate::new(1);
        let (held, _) = gate.enter(Class::Bulk).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (name, class) in [
            ("bulk 1", Class::Bulk),
            ("soon 1", Class::Soon),
            ("bulk 2", Class::Bulk),
            ("urgent 1", Class::Urgent),
            ("soon 2", Class::Soon),
            ("urgent 2", Class::Urgent),
        ] {
            let (waiter, order) = (gate.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let (_permit, waited) = waiter.enter(class).await;
                assert!(waited);
                order.lock().unwrap().push(name);
            }));
            // Each is queued before the next arrives.
            while gate.waiting() < tasks.len() {
                tokio::task::yield_now().await;
            }
        }
        drop(held);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(
            *order.lock().unwrap(),
            [
                "urgent 1", "urgent 2", "soon 1", "soon 2", "bulk 1", "bulk 2"
            ]
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
        // The one that gave up is still queued, beside the live one.
        while gate.waiting() < 2 {
            tokio::task::yield_now().await;
        }
        drop(held);
        assert!(next.await.unwrap(), "the slot went to the live waiter");
        // And it came back: one slot free again.
        let (_again, waited) = gate.enter(Class::Bulk).await;
        assert!(!waited);
    }
}
