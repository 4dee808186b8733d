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
use crate::liveness::Liveness;
use crate::metrics::Metrics;
use crate::outbox::Outbox;
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
    // Opening may migrate a big store, for minutes: systemd hears that start-up goes on.
    let starting = crate::liveness::StartingUp::keep_alive(
        Duration::from_secs(10),
        Duration::from_secs(3600),
        || {
            let _ = sd_notify::notify(&[sd_notify::NotifyState::ExtendTimeoutUsec(30_000_000)]);
        },
    );
    let store = Store::open(&cfg.service.state_dir)
        .with_context(|| format!("opening the store in {}", cfg.service.state_dir.display()))?;
    drop(starting);
    info!(
        event = "store.opened",
        took_ms = started.elapsed().as_secs_f64() * 1000.0,
        "store open"
    );
    let live = Arc::new(Live::new(first));
    let metrics = Arc::new(Metrics::new());
    let processor = Arc::new(Processor::new(store.clone(), live.clone(), metrics.clone()));
    finish_pending(&store, &processor).await?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let (ready_tx, ready_rx) = watch::channel(false);
    let core = Core {
        store: store.clone(),
        live: live.clone(),
        metrics: metrics.clone(),
        wake: Arc::new(Notify::new()),
        stop: stop_rx,
        liveness: Liveness::default(),
    };
    core.wake.notify_one();
    let mut workers = Workers::spawn(&core, &cfg, processor, ready_tx).await?;
    let supervisor = Supervisor {
        live: &live,
        metrics: &metrics,
        liveness: &core.liveness,
        config_file: &cfg.source,
        started,
    };
    let failed = supervisor
        .watch(&mut workers, &mut hangup, ready_rx, shutdown)
        .await;
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
    workers.drain().await;
    store.flush().await?;
    info!(event = "daemon.stopped", "stopped");
    Ok(())
}

/// Processes mail a previous run stored but did not process (it was killed in between).
async fn finish_pending(store: &Store, processor: &Processor) -> anyhow::Result<()> {
    let pending = store.pending()?;
    if pending.is_empty() {
        return Ok(());
    }
    info!(
        count = pending.len(),
        "processing mail left over from the previous run"
    );
    for seq in pending {
        processor.process(seq)?;
    }
    store.flush().await?;
    Ok(())
}

/// What every worker shares: the store, the live configuration, the metrics, the outbox's
/// wake-up, the stop signal, and the heartbeats the watchdog waits for.
struct Core {
    store: Store,
    live: Arc<Live>,
    metrics: Arc<Metrics>,
    wake: Arc<Notify>,
    stop: watch::Receiver<bool>,
    liveness: Liveness,
}

type Task = tokio::task::JoinHandle<()>;

/// The running workers. The ones that must never end on their own are watched.
struct Workers {
    outbox: Task,
    sla: Task,
    ingests: Vec<Task>,
    /// Backups, retention, the control socket and the metrics listener.
    others: Vec<(&'static str, Task)>,
}

impl Workers {
    /// Spawns one ingest loop per inbox (a server that is down or slow delays only its own
    /// inbox), the outbox, the SLA loop, backups, retention, the control socket and, when
    /// configured, the metrics listener.
    async fn spawn(
        core: &Core,
        cfg: &Config,
        processor: Arc<Processor>,
        ready: watch::Sender<bool>,
    ) -> anyhow::Result<Workers> {
        let (store, live, metrics, stop) = (&core.store, &core.live, &core.metrics, &core.stop);
        let outbox = Outbox::new(
            store.clone(),
            live.clone(),
            core.wake.clone(),
            metrics.clone(),
            core.liveness.register("outbox"),
        )?;
        let outbox = tokio::spawn(outbox.run(stop.clone()));
        let sla = crate::sla::run(
            store.clone(),
            live.clone(),
            core.wake.clone(),
            core.liveness.register("sla"),
            stop.clone(),
        );
        let sla = tokio::spawn(sla);
        let mut others = vec![
            (
                "backup",
                tokio::spawn(crate::backup::run(
                    store.clone(),
                    live.clone(),
                    metrics.clone(),
                    stop.clone(),
                )),
            ),
            (
                "retention",
                tokio::spawn(crate::privacy::run_retention(
                    store.clone(),
                    live.clone(),
                    stop.clone(),
                )),
            ),
            // Ops commands beside the running daemon (it holds the store).
            (
                "control",
                tokio::spawn(crate::ops::serve(
                    cfg.service.state_dir.clone(),
                    store.clone(),
                    live.clone(),
                    metrics.clone(),
                    core.wake.clone(),
                    stop.clone(),
                )),
            ),
        ];
        if let Some(addr) = cfg.metrics_listen {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("metrics.listen: cannot listen on {addr}"))?;
            let serve = crate::metrics::serve(
                listener,
                metrics.clone(),
                store.clone(),
                live.clone(),
                stop.clone(),
            );
            let http = tokio::spawn(serve);
            others.push(("metrics", tokio::spawn(async move { drop(http.await) })));
        }
        let shared = Shared {
            store: store.clone(),
            processor,
            outbox_wake: core.wake.clone(),
            ready,
            metrics: metrics.clone(),
            live: live.clone(),
            liveness: core.liveness.clone(),
        };
        let ingests = cfg
            .all_inboxes()
            .into_iter()
            .map(|inbox| {
                tokio::spawn(Ingest::new(inbox.name, inbox.imap, shared.clone()).run(stop.clone()))
            })
            .collect();
        Ok(Workers {
            outbox,
            sla,
            ingests,
            others,
        })
    }

    /// Waits for every worker to finish its work in flight, within one deadline well inside
    /// systemd's TimeoutStopSec (30 s); those that do not are aborted.
    async fn drain(self) {
        let mut tasks = vec![("outbox", self.outbox)];
        tasks.extend(self.others);
        tasks.push(("sla", self.sla));
        tasks.extend(self.ingests.into_iter().map(|i| ("ingest", i)));
        let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
        for (name, task) in tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                warn!(task = name, "did not finish in time; aborting it");
                abort.abort();
            }
        }
    }
}

/// The main loop's duties besides waiting for the shutdown signal.
struct Supervisor<'a> {
    live: &'a Live,
    metrics: &'a Metrics,
    /// The heartbeats of the ingest loops, the outbox and the SLA loop.
    liveness: &'a Liveness,
    config_file: &'a std::path::Path,
    started: std::time::Instant,
}

/// How often the supervisor looks at the workers' heartbeats, and how long a worker may work
/// without progress before it is stalled: half of systemd's watchdog interval and the
/// interval itself; without a watchdog every 30 s and a minute (a stall is then only logged
/// and reported on `/healthz`).
fn liveness_timing(watchdog: Option<Duration>) -> (Duration, Duration) {
    let limit = watchdog.unwrap_or(Duration::from_secs(60));
    (limit / 2, limit)
}

/// A watched worker that ended on its own, and how.
type Failure = (&'static str, Result<(), tokio::task::JoinError>);

impl Supervisor<'_> {
    /// Tells systemd when we are ready (an IMAP session is up and caught up; an inbox that is
    /// down must not keep the others from running), feeds its watchdog while every worker
    /// makes progress or has nothing to do (so a worker stuck in our code or the store gets
    /// the daemon restarted), reloads on SIGHUP, and notices a worker that died. A worker
    /// ending on its own is a bug: it is returned, so the daemon exits non-zero and the
    /// supervisor restarts it rather than leaving a process that no longer reads mail.
    /// `None`: shutdown.
    async fn watch(
        &self,
        workers: &mut Workers,
        hangup: &mut tokio::signal::unix::Signal,
        mut ready: watch::Receiver<bool>,
        shutdown: impl Future<Output = ()>,
    ) -> Option<Failure> {
        let watchdog = sd_notify::watchdog_enabled();
        let (period, limit) = liveness_timing(watchdog);
        let mut ticker = tokio::time::interval(period);
        ticker.tick().await; // the first tick is immediate: ping only from the loop
        let mut announced = false;
        let mut stalled = false;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return None,
                (r, _, _) = futures::future::select_all(workers.ingests.iter_mut()) => return Some(("ingest", r)),
                r = &mut workers.outbox => return Some(("outbox", r)),
                r = &mut workers.sla => return Some(("sla", r)),
                Some(()) = hangup.recv() => reload(self.live, self.metrics, self.config_file).await,
                Ok(()) = ready.changed(), if !announced => {
                    if *ready.borrow() {
                        announced = true;
                        let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
                        info!(
                            event = "daemon.ready",
                            took_ms = self.started.elapsed().as_secs_f64() * 1000.0,
                            "ready"
                        );
                    }
                }
                _ = ticker.tick() => {
                    let alive = self.look(limit, &mut stalled, watchdog.is_some());
                    if alive && watchdog.is_some() {
                        let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
                    }
                }
            }
        }
    }

    /// Looks at the workers' heartbeats: records the stalled ones for `/healthz`, logs when a
    /// stall begins and when it ends, and tells whether the pipeline is alive (the watchdog
    /// may be fed). `stalled` carries what the previous look found.
    fn look(&self, limit: Duration, stalled: &mut bool, watchdog: bool) -> bool {
        let stalls = self.liveness.stalls(std::time::Instant::now(), limit);
        self.metrics.stalls(&stalls);
        let now_stalled = !stalls.is_empty();
        if now_stalled && !*stalled {
            let workers = stalls
                .iter()
                .map(|s| s.worker.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let silent_s = stalls
                .iter()
                .map(|s| s.silent_for.as_secs())
                .max()
                .unwrap_or_default();
            if watchdog {
                tracing::error!(
                    event = "daemon.stalled",
                    workers,
                    silent_s,
                    "no progress: stuck in the daemon's own work or the store; no longer feeding systemd's watchdog, which restarts the service"
                );
            } else {
                tracing::error!(
                    event = "daemon.stalled",
                    workers,
                    silent_s,
                    "no progress: stuck in the daemon's own work or the store; restart the service (no watchdog is configured to do it)"
                );
            }
        } else if !now_stalled && *stalled {
            info!(
                event = "daemon.progressing",
                "the stalled workers make progress again; the watchdog is fed again"
            );
        }
        *stalled = now_stalled;
        !now_stalled
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_are_checked_at_half_the_watchdog_interval_and_stalled_after_it() {
        let minute = Duration::from_secs(60);
        assert_eq!(
            liveness_timing(Some(minute)),
            (Duration::from_secs(30), minute)
        );
        assert_eq!(
            liveness_timing(Some(Duration::from_secs(2))),
            (Duration::from_secs(1), Duration::from_secs(2))
        );
        assert_eq!(liveness_timing(None), (Duration::from_secs(30), minute));
    }
}
