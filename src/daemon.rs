//! `frontdesk run`: opens the store, finishes whatever a previous run left half done, then
//! runs the IMAP loop and the outbox side by side until the shutdown future resolves. The
//! shutdown signal is a parameter so tests can trigger it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use crate::compose::Templates;
use crate::config::Config;
use crate::ingest::Ingest;
use crate::outbox::{Outbox, build_transport};
use crate::pipeline::Processor;
use crate::store::Store;

/// How long the workers get to finish their batch after the shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs the daemon until `shutdown` resolves, then drains and returns.
pub async fn run(cfg: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let templates =
        Templates::load(cfg.service.templates_dir.as_deref()).context("loading templates")?;
    templates
        .self_test()
        .context("rendering templates with sample data")?;
    let store = Store::open(&cfg.service.state_dir)
        .with_context(|| format!("opening the store in {}", cfg.service.state_dir.display()))?;
    let templates = Arc::new(templates);
    let cfg = Arc::new(cfg);
    let processor = Arc::new(Processor::new(
        store.clone(),
        cfg.clone(),
        templates.clone(),
    ));

    // Mail stored by a previous run but not processed (it was killed in between).
    let pending = store.pending()?;
    if !pending.is_empty() {
        info!(
            count = pending.len(),
            "processing mail left over from the previous run"
        );
        for seq in pending {
            processor.process(seq)?;
        }
        store.flush().await?;
    }

    let transport = build_transport(&cfg.smtp)?;
    let wake = Arc::new(Notify::new());
    wake.notify_one();
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ready_tx, mut ready_rx) = watch::channel(false);

    let mut outbox = tokio::spawn(
        Outbox::new(store.clone(), transport, cfg.smtp.clone(), wake.clone()).run(stop_rx.clone()),
    );
    let sla_on =
        cfg.sla.first_response.is_some() || cfg.teams.iter().any(|t| t.first_response.is_some());
    let mut sla = sla_on.then(|| {
        tokio::spawn(crate::sla::run(
            store.clone(),
            cfg.clone(),
            templates.clone(),
            wake.clone(),
            stop_rx.clone(),
        ))
    });
    // Ops commands beside the running daemon (it holds the store).
    let control = tokio::spawn(crate::ops::serve(
        cfg.service.state_dir.clone(),
        store.clone(),
        cfg.clone(),
        templates.clone(),
        wake.clone(),
        stop_rx.clone(),
    ));
    let mut ingest = tokio::spawn(
        Ingest::new(cfg.imap.clone(), store.clone(), processor, wake, ready_tx).run(stop_rx),
    );

    // Either worker ending on its own is a bug: exit non-zero so the supervisor restarts us,
    // rather than linger as a process that no longer reads mail.
    // The main loop: tell systemd when we are ready (the first IMAP session is up and caught
    // up), feed its watchdog while this loop runs, and notice a worker that died.
    let watchdog = sd_notify::watchdog_enabled();
    let mut ticker = tokio::time::interval(watchdog.map_or(Duration::from_secs(3600), |d| d / 2));
    ticker.tick().await; // the first tick is immediate: ping only from the loop
    let mut announced = false;
    tokio::pin!(shutdown);
    let failed = loop {
        tokio::select! {
            _ = &mut shutdown => break None,
            r = &mut ingest => break Some(("ingest", r)),
            r = &mut outbox => break Some(("outbox", r)),
            r = async {
                match sla.as_mut() {
                    Some(handle) => handle.await,
                    None => std::future::pending().await,
                }
            } => break Some(("sla", r)),
            Ok(()) = ready_rx.changed(), if !announced => {
                if *ready_rx.borrow() {
                    announced = true;
                    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
                }
            }
            _ = ticker.tick(), if watchdog.is_some() => {
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
            }
        }
    };
    if let Some((name, result)) = failed {
        let _ = stop_tx.send(true);
        store.flush().await?;
        anyhow::bail!(
            "the {name} task stopped unexpectedly ({result:?}); exiting so the service restarts"
        );
    }
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    info!(
        event = "daemon.stopping",
        "shutting down: finishing the work in flight"
    );
    let _ = stop_tx.send(true);
    let mut tasks = vec![("ingest", ingest), ("outbox", outbox), ("control", control)];
    if let Some(sla) = sla {
        tasks.push(("sla", sla));
    }
    // One deadline for all of them, well inside systemd's TimeoutStopSec (30 s).
    let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
    for (name, task) in tasks {
        let abort = task.abort_handle();
        match tokio::time::timeout_at(deadline, task).await {
            Ok(_) => {}
            Err(_) => {
                warn!(task = name, "did not finish in time; aborting it");
                abort.abort();
            }
        }
    }
    store.flush().await?;
    info!(event = "daemon.stopped", "stopped");
    Ok(())
}
