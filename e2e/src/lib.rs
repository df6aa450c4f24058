//! End-to-end harness (arrives with the rollout controller issue): starts the simulated cluster
//! (or uses `KUBECONFIG` when `ROLLOUT_RS_E2E_REAL=1`), installs the CRDs, runs the controller,
//! and offers helpers to apply manifests and wait on conditions with timeouts. The scenarios of
//! `shared/scenarios.md` live under `e2e/tests/`.
