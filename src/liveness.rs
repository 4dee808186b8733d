//! Whether the pipeline makes progress, for systemd's watchdog and `/healthz`. Each worker
//! that must keep going (one ingest loop per inbox, the outbox, the SLA loop) holds a
//! [`Heartbeat`] and says what it is doing: working in our own code, reporting progress as
//! it goes; waiting on a server, for at most that command's timeout; or idle, waiting for
//! mail, a timer, or a server that is down to come back. [`stalls`] is the rule, a pure
//! function of what the workers said and of the time: a worker is stalled when it has
//! worked without progress for longer than the limit, beyond any server wait it declared.
//! Idle is never a stall, however long (an IDLE of 25 minutes, a reconnect backoff).
//!
//! The supervisor feeds the watchdog only while no worker is stalled, so a worker stuck in
//! our own code or in the store (a flush that never returns) gets the daemon restarted.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What one worker last said, as the rule reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beat {
    /// Waiting for work, a timer, or a server that is down: no stall, however long.
    Idle,
    /// Working: it made progress at `due`, or a server wait it declared ends then.
    Busy {
        /// The later of its last progress and the timeout of its server waits in flight.
        due: Instant,
    },
}

/// A worker that stopped making progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stall {
    /// The worker (`ingest support`, `outbox`, `sla`).
    pub worker: String,
    /// How long it has been silent past its due time.
    pub silent_for: Duration,
}

/// The rule: the workers that are busy and have been silent past their due time for longer
/// than `limit` at `now`, in the order given.
pub fn stalls<'a>(
    beats: impl IntoIterator<Item = (&'a str, Beat)>,
    now: Instant,
    limit: Duration,
) -> Vec<Stall> {
    beats
        .into_iter()
        .filter_map(|(worker, beat)| match beat {
            Beat::Idle => None,
            Beat::Busy { due } => {
                let silent_for = now.saturating_duration_since(due);
                (silent_for > limit).then(|| Stall {
                    worker: worker.to_string(),
                    silent_for,
                })
            }
        })
        .collect()
}

/// What a worker said, kept for the rule.
#[derive(Debug)]
struct Slot {
    idle: bool,
    /// When it last made progress (or started, or came back from a wait).
    progress: Instant,
    /// Server waits in flight (the outbox sends several mails at once).
    waits: usize,
    /// When the last of those waits times out.
    waits_until: Instant,
}

impl Slot {
    fn beat(&self) -> Beat {
        if self.idle {
            Beat::Idle
        } else if self.waits > 0 {
            Beat::Busy {
                due: self.progress.max(self.waits_until),
            }
        } else {
            Beat::Busy { due: self.progress }
        }
    }
}

/// One worker's voice. Cloning it gives another handle to the same worker.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    slot: Arc<Mutex<Slot>>,
}

impl Heartbeat {
    fn new(now: Instant) -> Heartbeat {
        Heartbeat {
            slot: Arc::new(Mutex::new(Slot {
                idle: false,
                progress: now,
                waits: 0,
                waits_until: now,
            })),
        }
    }

    fn slot(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The worker did a piece of its work just now (and is working).
    pub fn progress(&self) {
        let mut s = self.slot();
        s.idle = false;
        s.progress = Instant::now();
    }

    /// The worker waits for work, a timer, or a server that is down, until the guard is
    /// dropped; then it is working again, as of that moment.
    pub fn idle(&self) -> IdleGuard<'_> {
        self.slot().idle = true;
        IdleGuard { beat: self }
    }

    /// The worker waits on a server for at most `timeout` (the command's own bound), until
    /// the guard is dropped; then it is working again, as of that moment.
    pub fn server_wait(&self, timeout: Duration) -> ServerWait<'_> {
        let mut s = self.slot();
        s.idle = false;
        let until = Instant::now() + timeout;
        s.waits_until = if s.waits == 0 {
            until
        } else {
            s.waits_until.max(until)
        };
        s.waits += 1;
        ServerWait { beat: self }
    }

    /// What the worker last said.
    pub fn beat(&self) -> Beat {
        self.slot().beat()
    }
}

/// An idle stretch: see [`Heartbeat::idle`].
#[derive(Debug)]
pub struct IdleGuard<'a> {
    beat: &'a Heartbeat,
}

impl Drop for IdleGuard<'_> {
    fn drop(&mut self) {
        self.beat.progress();
    }
}

/// A wait on a server: see [`Heartbeat::server_wait`].
#[derive(Debug)]
pub struct ServerWait<'a> {
    beat: &'a Heartbeat,
}

impl Drop for ServerWait<'_> {
    fn drop(&mut self) {
        let mut s = self.beat.slot();
        s.waits = s.waits.saturating_sub(1);
        s.progress = Instant::now();
    }
}

/// The workers the watchdog waits for.
#[derive(Debug, Clone, Default)]
pub struct Liveness {
    workers: Arc<Mutex<Vec<(String, Heartbeat)>>>,
}

impl Liveness {
    /// Adds a worker called `name`, working as of now; it reports through the heartbeat.
    pub fn register(&self, name: impl Into<String>) -> Heartbeat {
        let beat = Heartbeat::new(Instant::now());
        self.workers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((name.into(), beat.clone()));
        beat
    }

    /// The workers stalled at `now` under [`stalls`] with `limit`.
    pub fn stalls(&self, now: Instant, limit: Duration) -> Vec<Stall> {
        let workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        stalls(
            workers
                .iter()
                .map(|(name, beat)| (name.as_str(), beat.beat())),
            now,
            limit,
        )
    }
}

/// Keeps telling systemd that start-up goes on while it is held: a migration of a big store
/// (`Store::open`) can take longer than the unit's `TimeoutStartSec`, and a start killed
/// mid-way would only do the work again. `notify` is called every `every` until the guard
/// is dropped, for at most `limit` in all, so a start that hangs still times out.
pub struct StartingUp {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StartingUp {
    /// Starts calling `notify` every `every` (on a thread of its own: the store opens on
    /// the caller's) until the guard is dropped or `limit` has passed.
    pub fn keep_alive(
        every: Duration,
        limit: Duration,
        notify: impl Fn() + Send + 'static,
    ) -> StartingUp {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let begun = Instant::now();
        let thread = std::thread::Builder::new()
            .name("start-keepalive".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(every)
                {
                    if begun.elapsed() > limit {
                        return;
                    }
                    notify();
                }
            })
            .ok();
        StartingUp {
            stop: Some(stop),
            thread,
        }
    }
}

impl Drop for StartingUp {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A keep-alive every 10 ms for at most `limit`, and how often it has told systemd.
    fn counted_keep_alive(limit: Duration) -> (StartingUp, Arc<std::sync::atomic::AtomicUsize>) {
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = calls.clone();
        let guard = StartingUp::keep_alive(Duration::from_millis(10), limit, move || {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
        (guard, calls)
    }

    #[test]
    fn start_up_is_kept_alive_while_held_and_no_longer() {
        use std::sync::atomic::Ordering;
        let (guard, calls) = counted_keep_alive(Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(200));
        drop(guard);
        let held = calls.load(Ordering::SeqCst);
        assert!(held >= 3, "told systemd while held: {held}");
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            held,
            "and nothing after the drop"
        );

        // A start that hangs is not kept alive past the limit.
        let (guard, calls) = counted_keep_alive(Duration::from_millis(50));
        std::thread::sleep(Duration::from_millis(300));
        let at_limit = calls.load(Ordering::SeqCst);
        assert!(at_limit <= 6, "stopped at the limit: {at_limit}");
        drop(guard);
    }

    const LIMIT: Duration = Duration::from_secs(60);

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn stalled(beat: Beat, now: Instant) -> Vec<Stall> {
        stalls([("ingest support", beat)], now, LIMIT)
    }

    #[test]
    fn a_worker_busy_past_the_limit_is_stalled() {
        let t0 = Instant::now();
        let busy = Beat::Busy { due: t0 };
        assert!(stalled(busy, t0 + secs(60)).is_empty(), "at the limit");
        assert_eq!(
            stalled(busy, t0 + secs(61)),
            vec![Stall {
                worker: "ingest support".into(),
                silent_for: secs(61),
            }]
        );
    }

    #[test]
    fn idle_is_never_a_stall() {
        let t0 = Instant::now();
        // An IDLE of 25 minutes, a reconnect backoff of four: waiting, not stuck.
        assert!(stalled(Beat::Idle, t0 + secs(25 * 60)).is_empty());
        assert!(stalled(Beat::Idle, t0 + secs(10 * 24 * 3600)).is_empty());
    }

    #[test]
    fn a_due_time_in_the_future_is_not_a_stall() {
        // A server wait declared its timeout: until then (and the limit after) it is fine.
        let t0 = Instant::now();
        assert!(
            stalled(
                Beat::Busy {
                    due: t0 + secs(300)
                },
                t0
            )
            .is_empty()
        );
        assert!(
            stalled(
                Beat::Busy {
                    due: t0 + secs(300)
                },
                t0 + secs(360)
            )
            .is_empty()
        );
        assert_eq!(
            stalled(
                Beat::Busy {
                    due: t0 + secs(300)
                },
                t0 + secs(361)
            )
            .len(),
            1
        );
    }

    #[test]
    fn only_the_stalled_workers_are_named() {
        let t0 = Instant::now();
        let beats = [
            ("ingest support", Beat::Idle),
            ("ingest billing", Beat::Busy { due: t0 }),
            ("outbox", Beat::Busy { due: t0 + secs(50) }),
            ("sla", Beat::Idle),
        ];
        let found = stalls(beats, t0 + secs(100), LIMIT);
        let names: Vec<&str> = found.iter().map(|s| s.worker.as_str()).collect();
        assert_eq!(names, ["ingest billing"]);
    }

    #[test]
    fn heartbeats_say_idle_busy_and_server_waits() {
        let beat = Heartbeat::new(Instant::now());
        assert!(
            matches!(beat.beat(), Beat::Busy { .. }),
            "working from the start"
        );
        {
            let _idle = beat.idle();
            assert_eq!(beat.beat(), Beat::Idle);
        }
        let Beat::Busy { due: back } = beat.beat() else {
            panic!("working again after the idle stretch")
        };
        {
            let _wait = beat.server_wait(secs(600));
            let Beat::Busy { due } = beat.beat() else {
                panic!("a server wait is not idle")
            };
            assert!(due >= back + secs(600), "due when the wait times out");
            // A second send finishing meanwhile does not shorten the first one's wait.
            drop(beat.server_wait(secs(1)));
            let Beat::Busy { due: still } = beat.beat() else {
                panic!("busy")
            };
            assert_eq!(still, due);
        }
        let Beat::Busy { due } = beat.beat() else {
            panic!("busy")
        };
        assert!(due < back + secs(600), "the wait ended: due from its end");
    }

    #[test]
    fn the_registry_reports_a_silent_worker_by_name() {
        let liveness = Liveness::default();
        let _ingest = liveness.register("ingest support");
        let outbox = liveness.register("outbox");
        let _idle = outbox.idle();
        let later = Instant::now() + LIMIT + secs(1);
        let found = liveness.stalls(later, LIMIT);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].worker, "ingest support");
    }
}
