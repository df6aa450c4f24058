//! Which cluster and namespace a command talks to, found the way kubectl finds them:
//! `--kubeconfig`, else every file of `KUBECONFIG` merged, else `~/.kube/config`; `--context`
//! or the current context; `-n/--namespace`, else the context's namespace, else `default`.
//! Owns nothing else: commands get a client and a namespace.

use std::path::PathBuf;

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::failure::Failure;

/// The global flags, as kubectl spells them.
#[derive(Clone, Debug, Default, clap::Args)]
pub(crate) struct Flags {
    /// Namespace of the rollout (default: the context's namespace, else `default`).
    #[arg(short = 'n', long, global = true)]
    pub(crate) namespace: Option<String>,
    /// Path to the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long, global = true)]
    pub(crate) kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: the current context).
    #[arg(long, global = true)]
    pub(crate) context: Option<String>,
}

/// A connected client and where it points, for commands and their messages.
#[derive(Clone)]
pub(crate) struct Cluster {
    pub(crate) client: kube::Client,
    pub(crate) namespace: String,
    /// The API server's URL, as errors name it.
    pub(crate) server: String,
    /// Where the configuration came from (a path, `$KUBECONFIG`, in-cluster), as errors name it.
    pub(crate) source: String,
}

impl Flags {
    /// The client, without contacting the API server yet.
    pub(crate) async fn connect(&self) -> Result<Cluster, Failure> {
        let options = KubeConfigOptions {
            context: self.context.clone(),
            ..Default::default()
        };
        let (config, source) = match &self.kubeconfig {
            Some(path) => {
                let kc = Kubeconfig::read_from(path).map_err(|e| Failure::Config {
                    from: path.display().to_string(),
                    cause: e.to_string(),
                })?;
                let config = kube::Config::from_custom_kubeconfig(kc, &options)
                    .await
                    .map_err(|e| Failure::Config {
                        from: path.display().to_string(),
                        cause: e.to_string(),
                    })?;
                (config, path.display().to_string())
            }
            None => {
                let source = match std::env::var("KUBECONFIG") {
                    Ok(v) if !v.is_empty() => format!("$KUBECONFIG ({v})"),
                    _ => "~/.kube/config".to_string(),
                };
                let config = match Kubeconfig::read() {
                    Ok(kc) => kube::Config::from_custom_kubeconfig(kc, &options)
                        .await
                        .map_err(|e| Failure::Config {
                            from: source.clone(),
                            cause: e.to_string(),
                        })?,
                    // No kubeconfig at all: inside a pod, the service account.
                    Err(read) if self.context.is_none() => {
                        kube::Config::incluster().map_err(|_| Failure::Config {
                            from: source.clone(),
                            cause: read.to_string(),
                        })?
                    }
                    Err(read) => {
                        return Err(Failure::Config {
                            from: source,
                            cause: read.to_string(),
                        });
                    }
                };
                (config, source)
            }
        };
        let namespace = self
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let server = config.cluster_url.to_string();
        let client = kube::Client::try_from(config).map_err(|e| Failure::Config {
            from: source.clone(),
            cause: e.to_string(),
        })?;
        Ok(Cluster {
            client,
            namespace,
            server,
            source,
        })
    }
}
