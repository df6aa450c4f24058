//! The simulated Kubernetes control plane (arrives with the simulator issue): an HTTP server
//! that speaks the real Kubernetes REST protocol (discovery, OpenAPI v3, CRUD, watch, patch,
//! server-side apply, CRDs with schema validation, garbage collection) and simulates pods for
//! ReplicaSets, so kube-rs, kubectl and the Python client talk to it unchanged.
//!
//! It is test equipment and the engine of `rollout-rs dev`. Product code must never know it is
//! talking to it.
