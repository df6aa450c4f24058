//! The simulated Kubernetes control plane: an HTTP server that speaks the real Kubernetes REST
//! protocol (discovery, CRUD, list and watch with selectors, merge / JSON / strategic patches,
//! status and scale subresources, CRDs registered at runtime, finalizers and owner-reference
//! garbage collection), so kube-rs, kubectl and other clients talk to it unchanged.
//!
//! It is test equipment and the engine of `rollout-rs dev`. Product code must never know it is
//! talking to it. `docs/sim.md` lists what is faithful, approximated and missing.

mod api;
mod auth;
mod builtin_schemas;
mod crd;
mod deployments;
mod discovery;
mod error;
mod events;
mod faults;
mod health;
mod logs;
mod names;
mod nodes;
mod openapi;
mod ops;
mod patch;
mod printers;
mod protobuf;
mod registry;
mod scale;
mod schema;
mod selector;
mod services;
mod ssa;
mod store;
mod table;
mod tls;
mod workloads;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

pub use faults::{Faults, VerbFaults};

/// How to run the simulator.
#[derive(Clone, Debug)]
pub struct Config {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// How often watches that asked for bookmarks receive one.
    pub bookmark_interval: Duration,
    /// Changes kept for watches that resume from a resourceVersion; older ones get 410 Gone.
    pub event_log_capacity: usize,
    /// Injected faults (also settable at run time: `PUT /sim/faults`).
    pub faults: Faults,
    /// Simulated Nodes the cluster starts with (`sim-node-1`...); the ReplicaSet controller's
    /// pods are spread over them. With none, those pods stay Pending (Unschedulable).
    pub nodes: usize,
    /// Authenticate bearer tokens and authorize every request with RBAC, as kube-apiserver
    /// with `--authorization-mode=RBAC` (`rollout-rs-sim --authorization`). Off, every request
    /// is allowed and nothing about it is checked. On, the bootstrap ClusterRoles and bindings
    /// exist and [`Handle::kubeconfig`] carries a `system:masters` token.
    pub authorization: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 0,
            bookmark_interval: Duration::from_secs(10),
            event_log_capacity: 10_000,
            faults: Faults::default(),
            nodes: 3,
            authorization: false,
        }
    }
}

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("binding 127.0.0.1:{port}: {cause}")]
    Bind { port: u16, cause: std::io::Error },
    #[error("invalid faults: {0}")]
    Faults(String),
    #[error("TLS: {0}")]
    Tls(String),
}

/// A running simulator. Dropping it stops the server.
pub struct Handle {
    addr: SocketAddr,
    auth: Arc<auth::Auth>,
    task: JoinHandle<()>,
    controllers: JoinHandle<()>,
}

impl Handle {
    /// Base URL, e.g. `http://127.0.0.1:41234`. With authorization on the same port also
    /// speaks TLS: see [`Handle::https_url`].
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `https://127.0.0.1:PORT`, served only with authorization on (kubectl sends credentials
    /// to https servers only); the certificate is signed by [`Handle::ca_certificate`].
    pub fn https_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The PEM of the CA that signed the simulator's certificate (127.0.0.1 and localhost).
    pub fn ca_certificate(&self) -> &'static str {
        tls::CA_PEM
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// A kubeconfig whose current context points at this simulator, namespace `default`. With
    /// authorization on, it authenticates as `kubernetes-admin` (group `system:masters`).
    pub fn kubeconfig(&self) -> String {
        let token = self.auth.enabled.then(|| self.auth.admin_token());
        self.kubeconfig_for(token)
    }

    /// A kubeconfig like [`Handle::kubeconfig`] that authenticates with `token` (none: the
    /// requests are anonymous). With authorization on it names the https server and its CA.
    pub fn kubeconfig_for(&self, token: Option<&str>) -> String {
        let user = match token {
            // JSON quoting is YAML quoting for a token's characters.
            Some(t) => format!("\n    token: {}", serde_json::Value::from(t)),
            None => " {}".to_string(),
        };
        let server = if self.auth.enabled {
            use base64::Engine;
            let ca = base64::engine::general_purpose::STANDARD.encode(tls::CA_PEM);
            format!("{}\n    certificate-authority-data: {ca}", self.https_url())
        } else {
            self.url()
        };
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: rollout-rs-sim\n  cluster:\n    server: {server}\ncontexts:\n- name: rollout-rs-sim\n  context:\n    cluster: rollout-rs-sim\n    user: rollout-rs-sim\n    namespace: default\ncurrent-context: rollout-rs-sim\nusers:\n- name: rollout-rs-sim\n  user:{user}\npreferences: {{}}\n"
        )
    }

    /// Writes [`Handle::kubeconfig`] to `path`.
    pub fn write_kubeconfig(&self, path: &std::path::Path) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig())
    }

    /// Writes [`Handle::kubeconfig_for`] `token` to `path`.
    pub fn write_kubeconfig_for(
        &self,
        path: &std::path::Path,
        token: Option<&str>,
    ) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig_for(token))
    }

    /// A new bearer token that authenticates as `username` in `groups` (plus
    /// `system:authenticated`), valid until the simulator stops. Works whether or not
    /// authorization is on (`POST /sim/tokens` does the same over HTTP).
    pub fn token(&self, username: &str, groups: &[&str]) -> String {
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        self.auth.mint(username, "", &groups)
    }

    /// The token [`Handle::kubeconfig`] carries when authorization is on (`kubernetes-admin`,
    /// group `system:masters`).
    pub fn admin_token(&self) -> &str {
        self.auth.admin_token()
    }

    /// Stops the server and closes every connection, watches included.
    pub fn stop(&self) {
        self.task.abort();
        self.controllers.abort();
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts a simulator on 127.0.0.1 with the initial namespaces.
pub async fn start(config: Config) -> Result<Handle, StartError> {
    config.faults.validate().map_err(StartError::Faults)?;
    let listener = TcpListener::bind(("127.0.0.1", config.port))
        .await
        .map_err(|source| StartError::Bind {
            port: config.port,
            cause: source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        port: config.port,
        cause: source,
    })?;
    // Room for bursts (one pointer per event): a watcher that falls this far behind is cut.
    let (events, _) = broadcast::channel(65_536);
    let mut state = store::State::new(config.event_log_capacity, events);
    ops::bootstrap(&mut state);
    nodes::bootstrap(&mut state, config.nodes);
    let auth = Arc::new(auth::Auth::new(config.authorization));
    if config.authorization {
        auth::bootstrap(&mut state);
    }
    let server = Arc::new(api::Server {
        state: Mutex::new(state),
        faults: Mutex::new(faults::FaultState::new(config.faults.clone())),
        address: addr.to_string(),
        bookmark_interval: config.bookmark_interval,
        auth: auth.clone(),
    });
    let app = axum::Router::new()
        .fallback(api::handle)
        .with_state(server.clone());
    let controllers = tokio::spawn(workloads::run(server));
    if config.authorization {
        let tls = tls::acceptor().map_err(StartError::Tls)?;
        let task = tokio::spawn(tls::serve(listener, app, tls));
        return Ok(Handle {
            addr,
            auth,
            task,
            controllers,
        });
    }
    let task = tokio::spawn(async move {
        // As Go's net package does for the real API server: without TCP_NODELAY a watch
        // event written while the previous one is unacknowledged waits for the peer's delayed
        // ACK (40 ms on Linux).
        use axum::serve::ListenerExt;
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!("TCP_NODELAY on an accepted connection: {e}");
            }
        });
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("simulated API server stopped: {e}");
        }
    });
    Ok(Handle {
        addr,
        auth,
        task,
        controllers,
    })
}
