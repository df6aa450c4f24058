//! Traffic routers: for each data plane, the objects a Rollout names and the exact fields written
//! to them, computed as pure functions of the Rollout, the desired weights and the live objects,
//! so every write can be pinned in a unit test and nothing else of a user's object is touched.
//!
//! [`ROUTERS`] is the one list of routed kinds. The reconciler watches exactly what each router
//! says a Rollout refers to, and `traffic` reads exactly that and writes what the router plans:
//! the watch list, the reads and the writes cannot drift apart. Nothing here talks to the API
//! server (reading, writing and watching belong to `traffic` and `reconcile`), and a router
//! never decides a weight: it is told one.

pub(crate) mod gateway;
pub(crate) mod istio;
pub(crate) mod nginx;
mod router;
pub(crate) mod smi;

pub(crate) use router::{Config, Desired, Ref, Router, RouterError, Weights, Write};

/// Every routed kind, in the order their writes are made.
pub(crate) static ROUTERS: &[&dyn Router] = &[
    &nginx::Nginx,
    &gateway::HttpRoute,
    &istio::VirtualService,
    &istio::DestinationRule,
    &smi::TrafficSplit,
];

/// As the controller runs by default. Beside the list rather than with [`Config`]: it names
/// `smi`, which uses `router`, and siblings must not use each other both ways.
impl Default for Config {
    fn default() -> Self {
        Config {
            split_api_version: smi::DEFAULT_API_VERSION.into(),
        }
    }
}

#[cfg(test)]
mod tests;
