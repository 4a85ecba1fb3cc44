//! Starting modules in order and stopping them in reverse.

use std::time::Duration;

use futures::{StreamExt, stream::FuturesUnordered};
use rapport_platform::Started;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A started module: its stop signal and its tasks.
pub(crate) struct RunningModule {
    pub(crate) name: &'static str,
    pub(crate) shutdown: CancellationToken,
    pub(crate) tasks: Vec<JoinHandle<Result<(), String>>>,
}

/// The modules of this process, in start order.
#[derive(Default)]
pub(crate) struct Running {
    modules: Vec<RunningModule>,
}

impl Running {
    /// Records a started module.
    pub(crate) fn push(
        &mut self,
        name: &'static str,
        shutdown: CancellationToken,
        started: Started,
    ) {
        self.modules.push(RunningModule {
            name,
            shutdown,
            tasks: started.tasks,
        });
    }

    /// Waits for SIGTERM/SIGINT, or for any task to end on its own (a
    /// failure), then stops the modules in reverse start order, giving each
    /// up to `grace` to drain. Returns an error if a task failed.
    pub(crate) async fn wait_and_stop(mut self, grace: Duration) -> anyhow::Result<()> {
        let mut failure: Option<String> = None;
        {
            let mut watch: FuturesUnordered<_> = self
                .modules
                .iter_mut()
                .flat_map(|m| {
                    let name = m.name;
                    m.tasks
                        .iter_mut()
                        .map(move |t| async move { (name, t.await) })
                })
                .collect();
            tokio::select! {
                signal = shutdown_signal() => tracing::info!(signal, "shutting down"),
                Some((name, result)) = watch.next() => {
                    let why = match result {
                        Ok(Ok(())) => "stopped unexpectedly".to_owned(),
                        Ok(Err(e)) => e,
                        Err(e) => format!("panicked: {e}"),
                    };
                    tracing::error!(module = name, error = %why, "module failed, shutting down");
                    failure = Some(format!("{name}: {why}"));
                }
            }
        }
        for m in self.modules.into_iter().rev() {
            m.shutdown.cancel();
            // A task that already ended was awaited above; polling it again
            // would panic.
            let pending = m.tasks.into_iter().filter(|t| !t.is_finished());
            let drained = tokio::time::timeout(grace, futures::future::join_all(pending)).await;
            if drained.is_err() {
                tracing::warn!(module = m.name, "did not drain within the grace period");
            }
        }
        match failure {
            Some(f) => Err(anyhow::anyhow!(f)),
            None => Ok(()),
        }
    }
}

/// Resolves on SIGTERM (Kubernetes) or SIGINT (Ctrl-C).
async fn shutdown_signal() -> &'static str {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = tokio::signal::ctrl_c() => "SIGINT",
    }
}
