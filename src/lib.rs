//! Frontdesk: a support-mailbox daemon that acknowledges every customer mail at once with a
//! personal reply, threads it into a durable ticket and hands it to a named agent.
//!
//! # Layout
//! A mail moves through typed stages; only the edges do I/O.
//!
//! | module     | one job |
//! |------------|---------|
//! | [`config`]   | TOML + environment → validated [`config::Config`], every problem with key and fix |
//! | [`ingest`]   | IMAP edge: IDLE/poll loop, fetch by UID, store raw, hand to the pipeline |
//! | [`oauth2`]   | XOAUTH2 access tokens from `oauth2_token_command`, cached until they expire |
//! | [`parse`]    | raw bytes → [`parse::ParsedMail`] (pure) |
//! | [`classify`] | may this be auto-answered? RFC 3834 → [`classify::Classified`] (pure) |
//! | [`thread`]   | which ticket does it join? (pure) |
//! | [`route`]    | which agent gets a new ticket? rules, stickiness, availability (pure) |
//! | [`hours`]    | working hours in a time zone: at work now, back when (pure) |
//! | [`relay`]    | reply tokens, quote stripping, agents' `#commands` (pure) |
//! | [`compose`]  | templates → the bytes of every mail we send (pure) |
//! | [`pipeline`] | the pure [`pipeline::decide`] over all of the above, and its store shell |
//! | [`store`]    | the only module that touches sled: typed, transactional operations |
//! | [`outbox`]   | SMTP edge: durable outbox → pooled sends, retries, dead letters |
//! | [`sla`]      | first-response targets and escalations |
//! | [`daemon`]   | wiring, signals and shutdown for `frontdesk run` |
//! | [`reload`]   | the live configuration + templates, replaced as one on SIGHUP |
//! | [`metrics`]  | counters and health, served as `/metrics` and `/healthz` |
//! | [`backup`]   | online backups of the store, pruning, restore |
//! | [`privacy`]  | customer export/forget, retention of message bodies |
//! | [`sanitize`] | customer text → safe header text |
//! | [`types`]    | `TicketId`, `EmailAddress`, `AgentEmail` … |
//!
//! ARCHITECTURE.md describes the flow, the sled trees and what is durable when.

pub mod backup;
pub mod classify;
pub mod compose;
pub mod config;
pub mod daemon;
pub mod hours;
pub mod ingest;
pub mod metrics;
pub mod oauth2;
pub mod ops;
pub mod outbox;
pub mod parse;
pub mod pipeline;
pub mod privacy;
pub mod relay;
pub mod reload;
pub mod route;
pub mod sanitize;
pub mod sla;
pub mod store;
pub mod thread;
pub mod types;

#[cfg(test)]
mod testutil;
