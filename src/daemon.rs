//! `frontdesk run`: opens the store, finishes whatever a previous run left half done, then
//! runs the IMAP loop and the outbox side by side until the shutdown future resolves. The
//! shutdown signal is a parameter so tests can trigger it; SIGHUP reloads the configuration
//! file the daemon was started with.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use crate::config::Config;
use crate::ingest::{Ingest, Shared};
use crate::metrics::Metrics;
use crate::outbox::{Outbox, build_transport};
use crate::processor::Processor;
use crate::reload::{Live, Snapshot};
use crate::store::Store;

/// How long the workers get to finish their batch after the shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs the daemon until `shutdown` resolves, then drains and returns.
pub async fn run(cfg: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    // Early, so a SIGHUP during start-up is a reload request rather than the default action
    // (terminate).
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("installing the SIGHUP handler")?;
    let first = Snapshot::with_config(cfg)?;
    let cfg = first.cfg.clone();
    let store = Store::open(&cfg.service.state_dir)
        .with_context(|| format!("opening the store in {}", cfg.service.state_dir.display()))?;
    info!(
        event = "store.opened",
        took_ms = started.elapsed().as_secs_f64() * 1000.0,
        "store open"
    );
    let live = Arc::new(Live::new(first));
    let metrics = Arc::new(Metrics::new());
    let processor = Arc::new(Processor::new(store.clone(), live.clone(), metrics.clone()));

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
        Outbox::new(
            store.clone(),
            transport,
            cfg.smtp.clone(),
            wake.clone(),
            metrics.clone(),
        )
        .run(stop_rx.clone()),
    );
    let mut sla = tokio::spawn(crate::sla::run(
        store.clone(),
        live.clone(),
        wake.clone(),
        stop_rx.clone(),
    ));
    let backups = tokio::spawn(crate::backup::run(
        store.clone(),
        live.clone(),
        stop_rx.clone(),
    ));
    let retention = tokio::spawn(crate::privacy::run_retention(
        store.clone(),
        live.clone(),
        stop_rx.clone(),
    ));
    // Ops commands beside the running daemon (it holds the store).
    let control = tokio::spawn(crate::ops::serve(
        cfg.service.state_dir.clone(),
        store.clone(),
        live.clone(),
        metrics.clone(),
        wake.clone(),
        stop_rx.clone(),
    ));
    let http = match cfg.metrics_listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("metrics.listen: cannot listen on {addr}"))?;
            Some(tokio::spawn(crate::metrics::serve(
                listener,
                metrics.clone(),
                store.clone(),
                live.clone(),
                stop_rx.clone(),
            )))
        }
        None => None,
    };
    // One loop per inbox: a server that is down or slow delays only its own inbox.
    let shared = Shared {
        store: store.clone(),
        processor,
        outbox_wake: wake,
        ready: ready_tx,
        metrics: metrics.clone(),
        live: live.clone(),
    };
    let mut ingests: Vec<tokio::task::JoinHandle<()>> = cfg
        .all_inboxes()
        .into_iter()
        .map(|inbox| {
            tokio::spawn(Ingest::new(inbox.name, inbox.imap, shared.clone()).run(stop_rx.clone()))
        })
        .collect();
    drop(shared);

    // Either worker ending on its own is a bug: exit non-zero so the supervisor restarts us,
    // rather than linger as a process that no longer reads mail.
    // The main loop: tell systemd when we are ready (an IMAP session is up and caught up; an
    // inbox that is down must not keep the others from running), feed its watchdog while
    // this loop runs, and notice a worker that died.
    let watchdog = sd_notify::watchdog_enabled();
    let mut ticker = tokio::time::interval(watchdog.map_or(Duration::from_secs(3600), |d| d / 2));
    ticker.tick().await; // the first tick is immediate: ping only from the loop
    let mut announced = false;
    tokio::pin!(shutdown);
    let failed = loop {
        tokio::select! {
            _ = &mut shutdown => break None,
            (r, _, _) = futures::future::select_all(ingests.iter_mut()) => break Some(("ingest", r)),
            r = &mut outbox => break Some(("outbox", r)),
            r = &mut sla => break Some(("sla", r)),
            Some(()) = hangup.recv() => reload(&live, &metrics, &cfg.source).await,
            Ok(()) = ready_rx.changed(), if !announced => {
                if *ready_rx.borrow() {
                    announced = true;
                    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
                    info!(
                        event = "daemon.ready",
                        took_ms = started.elapsed().as_secs_f64() * 1000.0,
                        "ready"
                    );
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
    let mut tasks = vec![
        ("outbox", outbox),
        ("control", control),
        ("sla", sla),
        ("backup", backups),
        ("retention", retention),
    ];
    tasks.extend(ingests.into_iter().map(|i| ("ingest", i)));
    if let Some(http) = http {
        tasks.push(("metrics", tokio::spawn(async move { drop(http.await) })));
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

/// SIGHUP: load the configuration file and templates again and put them in force at once, or
/// refuse them (logged, counted) and keep the running ones.
async fn reload(live: &Live, metrics: &Metrics, path: &std::path::Path) {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Reloading]);
    info!(event = "config.reloading", file = %path.display(), "SIGHUP: reloading the configuration");
    let owned = path.to_path_buf();
    let loaded = tokio::task::spawn_blocking(move || Snapshot::load(&owned)).await;
    match loaded {
        Ok(Ok(next)) => {
            let (agents, routes) = (next.cfg.agents.len(), next.cfg.routes.len());
            let kept = live.replace(next);
            metrics.reload(true);
            info!(
                event = "config.reloaded",
                agents, routes, "configuration, agents, routes and templates reloaded"
            );
            for key in kept {
                warn!(
                    event = "config.restart-needed",
                    key,
                    "changed, but takes effect only when the service restarts; the running value stays"
                );
            }
        }
        Ok(Err(e)) => {
            metrics.reload(false);
            tracing::error!(event = "config.reload-refused", error = %e, "the new configuration is broken; still running the previous one");
        }
        Err(e) => {
            metrics.reload(false);
            tracing::error!(event = "config.reload-refused", error = %e, "reload failed; still running the previous one");
        }
    }
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
}
