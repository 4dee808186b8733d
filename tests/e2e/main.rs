//! End-to-end tests against the real Dovecot + Postfix of `scripts/mailstack`, in one test
//! binary (`cargo test --test e2e`). They are `#[ignore]`d so that a bare `cargo test` needs
//! no servers; `scripts/test` starts the stack and runs them with `--include-ignored`
//! (`scripts/test --test e2e faults::` runs one module). They run one at a time, whatever the
//! harness's thread count: each holds the lock in `common` (`Stack::get`) throughout.

// The harness: the stack's ports and the test lock, a `frontdesk run` process per test,
// SMTP injection, mailbox reads over IMAP, waits with deadlines.
mod common;

// Issue 10's acceptance: corpus answers (tests/corpus/replies/) in their clients' shapes
// around real notifications, and mutt driven in tmux, reach the customer as written.
mod answers;

// Issue 15: an agent's `#reply NAME` sends a canned answer, followed by their own text.
mod canned;

// Issue 15: `#close` sends the customer a closing mail, whose "4, thanks" by reply is a
// rating; a ticket waiting on its customer is reminded once, then closes (test clock).
mod closing;

// The core pipeline, one test per acceptance item: acknowledgement and threading, loops and
// automated mail, TLS, agents answering by mail, routing, escalation, systemd, XOAUTH2.
mod core;

// SIGKILL again and again during a burst: nothing lost, no ticket twice, duplicates only
// inside the window ARCHITECTURE.md describes.
mod crash;

// Server faults: Dovecot restarts, Postfix down for a minute, the IMAP connection cut
// mid-FETCH, a recipient refused for good.
mod faults;

// Issue 14: a ticket that changes hands (an agent going away with --hand-over) brings its
// customer one short note from the new agent.
mod handover;

// Issue 13: an inbox with an SMTP account of its own sends everything about its tickets
// through it, also for mail that arrived at another inbox.
mod inboxes;

// Issue 14, point 1: a German customer's acknowledgement in German, the agent's return in
// German at the customer's UTC offset; the ticket records the language.
mod language;

// Logging natively to a private journald: priorities and fields (`-p warning`, `EVENT=`).
mod journal;

// The hostile corpus (`tests/corpus/hostile/`) delivered to a running daemon: each case's
// outcome, and nothing but well-formed mail of ours reaches anyone.
mod hostile;

// Operating the daemon: SIGHUP reload, SIGTERM drain, `/metrics` and `/healthz`, several
// inboxes in one daemon, systemd's watchdog left unfed while the store hangs.
mod operate;

// The daemon scraped by a real Prometheus: every family typed as declared, every query of
// the Grafana dashboard accepted.
mod prometheus;

// Issue 15: colleagues on Cc get the answers and their replies join; strangers do not.
mod participants;

// A customer's data exported and forgotten; no secret or body in the logs.
mod privacy;

// A lost state directory and a restored backup answer nobody twice (`$Frontdesk` keywords).
mod recovery;

// Issue 14: a returning customer's acknowledgement names who helped them last time, and with
// what.
mod returning;

// A thousand mails from one sender cost a few tickets' worth of mail.
mod storm;

// Whom Frontdesk believes: a forged From under a shared public suffix, a customer forwarded
// with SRS, an agent vouched for by our MTA's OpenDKIM and OpenDMARC fields.
mod trust;
