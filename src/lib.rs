//! Frontdesk: a support-mailbox daemon that acknowledges every customer mail at once with a
//! personal reply, threads it into a durable ticket and hands it to a named agent.
//!
//! # Layout
//! A mail moves through typed stages; only the edges do I/O. Listed from the bottom up:
//! a module uses only those above it in this table (`tests/layout.rs` checks it).
//!
//! | module     | one job |
//! |------------|---------|
//! | [`domain`]   | the types every stage hands on: `Ticket`, `Plan`, `Outcome`, `TicketId` … (no I/O) |
//! | [`mail`]     | pure reading of mail: parse, classify (RFC 3834), thread, relay tokens and quotes |
//! | [`hours`]    | working hours in a time zone: at work now, back when (pure) |
//! | [`config`]   | TOML + environment → validated [`config::Config`], every problem with key and fix |
//! | [`route`]    | which agent gets a new ticket? rules, stickiness, availability (pure) |
//! | [`compose`]  | templates → the bytes of every mail we send (pure) |
//! | [`decide`]   | the pure [`decide::decide`]: one stored mail → one [`domain::Plan`] |
//! | [`store`]    | the only module that touches sled: typed, transactional operations |
//! | [`liveness`] | the workers' heartbeats and the rule that says one is stalled (the watchdog's) |
//! | [`logging`]  | the filter above `RUST_LOG` that keeps secrets and mail out of the log |
//! | [`reload`]   | the live configuration + templates, replaced as one on SIGHUP |
//! | [`oauth2`]   | XOAUTH2 access tokens from `oauth2_token_command`, cached until they expire |
//! | [`metrics`]  | counters and health, served as `/metrics` and `/healthz` |
//! | [`processor`] | read a stored mail → decide → commit → log, one mail at a time |
//! | [`actions`]  | ticket changes no mail causes: operators' assign/close, SLA reassignment, flood summaries |
//! | [`outbox`]   | SMTP edge: durable outbox → pooled sends, retries, dead letters |
//! | [`ingest`]   | IMAP edge: IDLE/poll loop, fetch by UID, store raw, hand to the processor |
//! | [`sla`]      | first-response targets and escalations |
//! | [`backup`]   | online backups of the store, pruning, restore |
//! | [`privacy`]  | customer export/forget, retention of message bodies |
//! | [`ops`]      | the ops commands, on a free store or over the daemon's control socket |
//! | [`daemon`]   | wiring, signals and shutdown for `frontdesk run` |
//! | `testing`    | the test kit: an in-memory store, a configuration and ticket builder (tests only) |
//!
//! ARCHITECTURE.md describes the flow, the sled trees and what is durable when.

pub mod actions;
pub mod backup;
pub mod compose;
pub mod config;
pub mod daemon;
pub mod decide;
pub mod domain;
pub mod hours;
pub mod ingest;
pub mod lang;
pub mod liveness;
pub mod logging;
pub mod mail;
pub mod metrics;
pub mod oauth2;
pub mod ops;
pub mod outbox;
pub mod privacy;
pub mod processor;
pub mod reload;
pub mod route;
pub mod sla;
pub mod store;

#[cfg(any(test, feature = "testing"))]
pub mod testing;
