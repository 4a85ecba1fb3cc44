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
    /// failure), then stops the modules in reverse start order (the gateway
    /// stops taking requests and finishes those in flight, services stop
    /// their relays and consumers, which commit what they applied, then the
    /// broker), all within `deadline`. When the deadline passes, the modules
    /// still running are named in the error and nothing more is awaited.
    pub(crate) async fn wait_and_stop(mut self, deadline: Duration) -> anyhow::Result<()> {
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
        let until = tokio::time::Instant::now() + deadline;
        let mut modules = self.modules.into_iter().rev();
        let mut still_running: Vec<&'static str> = Vec::new();
        for m in modules.by_ref() {
            m.shutdown.cancel();
            // A task that already ended was awaited above; polling it again
            // would panic.
            let pending = m.tasks.into_iter().filter(|t| !t.is_finished());
            match tokio::time::timeout_at(until, futures::future::join_all(pending)).await {
                Ok(results) => {
                    for r in results {
                        if let Ok(Err(e)) | Err(e) = r.map_err(|e| e.to_string()) {
                            tracing::warn!(module = m.name, error = %e, "module stopped with an error");
                        }
                    }
                    tracing::debug!(module = m.name, "stopped");
                }
                Err(_) => {
                    still_running.push(m.name);
                    break;
                }
            }
        }
        if !still_running.is_empty() {
            still_running.extend(modules.map(|m| {
                m.shutdown.cancel();
                m.name
            }));
            let names = still_running.join(", ");
            tracing::error!(
                still_running = %names,
                deadline_seconds = deadline.as_secs(),
                "shutdown deadline passed; exiting without waiting for them"
            );
            anyhow::bail!(
                "shutdown deadline of {} s passed; still running: {names}",
                deadline.as_secs()
            );
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

#[cfg(test)]
mod tests {
    use super::*;

    fn started(task: tokio::task::JoinHandle<Result<(), String>>) -> Started {
        Started {
            addr: ([127, 0, 0, 1], 0).into(),
            tasks: vec![task],
        }
    }

    /// A module that ignores the stop signal holds the shutdown no longer
    /// than the deadline, and the error names it.
    #[tokio::test(start_paused = true)]
    async fn the_deadline_names_what_did_not_stop() {
        let mut running = Running::default();
        let stuck = CancellationToken::new();
        running.push(
            "broker",
            CancellationToken::new(),
            started(tokio::spawn(std::future::pending())),
        );
        running.push(
            "comms",
            stuck,
            started(tokio::spawn(async {
                // Never looks at its token.
                std::future::pending::<()>().await;
                Ok(())
            })),
        );
        // A module failing starts the shutdown.
        running.push(
            "gateway",
            CancellationToken::new(),
            started(tokio::spawn(async { Err("bind failed".to_owned()) })),
        );
        let began = tokio::time::Instant::now();
        let err = running
            .wait_and_stop(Duration::from_secs(5))
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(began.elapsed(), Duration::from_secs(5));
        assert!(err.contains("still running: comms, broker"), "{err}");
    }

    /// Modules that stop when told end the shutdown at once, in reverse
    /// start order.
    #[tokio::test(start_paused = true)]
    async fn modules_stop_in_reverse_start_order() {
        let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut running = Running::default();
        for name in ["broker", "contacts", "gateway"] {
            let token = CancellationToken::new();
            let (t, o) = (token.clone(), order.clone());
            running.push(
                name,
                token,
                started(tokio::spawn(async move {
                    t.cancelled().await;
                    o.lock().unwrap().push(name);
                    Ok(())
                })),
            );
        }
        let failing = CancellationToken::new();
        running.push(
            "failing",
            failing,
            started(tokio::spawn(async { Err("gone".to_owned()) })),
        );
        let began = tokio::time::Instant::now();
        let err = running.wait_and_stop(Duration::from_secs(5)).await;
        assert_eq!(err.unwrap_err().to_string(), "failing: gone");
        assert!(began.elapsed() < Duration::from_secs(1));
        assert_eq!(*order.lock().unwrap(), ["gateway", "contacts", "broker"]);
    }
}
