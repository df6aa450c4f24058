//! Traffic routers: for each data plane, the exact objects and fields it reads, computed as pure
//! functions of the live routing object and the desired weights, so every write can be pinned
//! in a unit test and nothing else of a user's object is touched.
//!
//! Each router gets the same [`Weights`]; the reconciler applies them (next to come: wiring into
//! the rollout plan, where traffic safety decides the weight).

pub mod gateway;
pub mod istio;
pub mod nginx;
pub mod smi;

/// What the routers are told: the canary's share out of `total` and the two Services.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Weights {
    /// Share sent to the canary, 0..=total.
    pub canary: i32,
    /// `trafficRouting.maxTrafficWeight`, default 100.
    pub total: i32,
    pub canary_service: String,
    pub stable_service: String,
}

impl Weights {
    pub fn stable(&self) -> i32 {
        self.total - self.canary
    }
}

/// A routing object that cannot carry the weights.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RouterError {
    #[error("{kind} {name}: no rule routes to the stable Service {service}")]
    NoStableRoute {
        kind: &'static str,
        name: String,
        service: String,
    },
    #[error("{kind} {name}: {what}")]
    Missing {
        kind: &'static str,
        name: String,
        what: String,
    },
    #[error("{kind} {name} is owned by {owner}, not by this Rollout: refusing to change it")]
    NotOwned {
        kind: &'static str,
        name: String,
        owner: String,
    },
}
