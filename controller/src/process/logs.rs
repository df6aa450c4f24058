//! Logs: tracing to stderr as text (colours only at a terminal) or JSON lines, the level from
//! `RUST_LOG` (default `info`), changeable while running through the health server.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// For a person: one line per event, fields as `key=value`.
    #[default]
    Text,
    /// For a log collector: one JSON object per line, with the span's fields.
    Json,
}

/// The running filter, to read and change the level.
#[derive(Clone)]
pub struct LogLevel(Option<reload::Handle<EnvFilter, Registry>>);

impl LogLevel {
    /// A level that cannot change (tests, or logging set up elsewhere).
    pub fn fixed() -> Self {
        LogLevel(None)
    }

    /// The filter now, in `RUST_LOG` syntax.
    pub fn get(&self) -> String {
        self.0
            .as_ref()
            .and_then(|h| h.with_current(|f| f.to_string()).ok())
            .unwrap_or_default()
    }

    /// Replaces the filter; `spec` is in `RUST_LOG` syntax (`debug`, `info,kube=warn`).
    pub fn set(&self, spec: &str) -> Result<(), String> {
        let handle = self
            .0
            .as_ref()
            .ok_or("the log level of this process cannot be changed")?;
        let filter = EnvFilter::try_new(spec.trim())
            .map_err(|e| format!("invalid log filter {spec:?}: {e}"))?;
        handle
            .reload(filter)
            .map_err(|e| format!("changing the log filter: {e}"))?;
        tracing::info!(filter = spec.trim(), "log level changed");
        Ok(())
    }
}

/// Installs the process's logger. Call once, first thing.
pub fn init(format: LogFormat) -> LogLevel {
    // aws-lc-rs is the one rustls provider of the graph; installing it explicitly keeps the
    // choice visible (and a second install is a no-op).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    let installed = match format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(colours()),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    match installed {
        Ok(()) => LogLevel(Some(handle)),
        Err(_) => LogLevel::fixed(),
    }
}

/// Colours are for a person at a terminal: in a file or a log collector the escape codes are
/// noise. NO_COLOR (https://no-color.org) turns them off even there.
fn colours() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
