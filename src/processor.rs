//! The shell around [`decide`]: read one stored mail, decide, commit the plan in one
//! transaction, log and count the outcome. Every inbox loop shares one [`Processor`]; the
//! decision itself is pure and lives in [`crate::decide`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tracing::{info, warn};

use crate::decide::{Decision, decide};
use crate::domain::{Inbound, Outcome, Plan, UnixTime, message_id_hash, now};
use crate::metrics::Metrics;
use crate::reload::Live;
use crate::store::{Store, StoreError};

/// After this many failed attempts a mail is quarantined with the last error.
const MAX_ATTEMPTS: u32 = 5;

/// How often a commit is retried when another writer took the ticket number meanwhile.
const CONFLICT_RETRIES: usize = 3;

/// Processes stored mail: reads it, decides, commits. Shared by every inbox loop.
pub struct Processor {
    store: Store,
    live: Arc<Live>,
    metrics: Arc<Metrics>,
    /// Failed attempts per stored mail, so one mail cannot stall its mailbox for ever.
    failures: Mutex<HashMap<u64, u32>>,
}

impl Processor {
    /// A processor over `store` with the live configuration and templates, recording each
    /// outcome in `metrics`.
    pub fn new(store: Store, live: Arc<Live>, metrics: Arc<Metrics>) -> Self {
        Processor {
            store,
            live,
            metrics,
            failures: Mutex::default(),
        }
    }

    /// Processes stored mail `seq` and commits its outcome (not yet flushed: the caller
    /// flushes once per batch). Idempotent: a mail already processed keeps its outcome.
    /// A mail that fails five times in a row is quarantined with the last error.
    pub fn process(&self, seq: u64) -> Result<Option<Outcome>, StoreError> {
        let result = self.process_once(seq);
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let e = match result {
            Ok(outcome) => {
                failures.remove(&seq);
                return Ok(outcome);
            }
            Err(e) => e,
        };
        let attempts = failures.entry(seq).or_insert(0);
        *attempts += 1;
        if *attempts < MAX_ATTEMPTS {
            return Err(e);
        }
        let plan = Plan::Quarantine(format!(
            "could not be processed after {attempts} attempts: {e}"
        ));
        drop(failures);
        let committed = self.store.record_outcome(seq, None, false, &plan, now())?;
        self.metrics.processed(&committed.outcome);
        warn!(seq, error = %e, "giving up on a mail after repeated failures; quarantined");
        Ok(Some(committed.outcome))
    }

    fn process_once(&self, seq: u64) -> Result<Option<Outcome>, StoreError> {
        for _ in 0..CONFLICT_RETRIES {
            let Some(record) = self.store.inbound(seq)? else {
                return Ok(None);
            };
            if let Some(outcome) = record.outcome {
                return Ok(Some(outcome));
            }
            let now = now();
            let (decision, own_domain) = self.decide(&record, now)?;
            match self.commit(&record, &decision, &own_domain, now) {
                Err(StoreError::Conflict) => continue,
                other => return other.map(Some),
            }
        }
        Err(StoreError::Conflict)
    }

    /// Decides under one configuration snapshot, as the inbox the mail arrived at sees it
    /// (that address is the one we answer from). Also returns our own domain, whose
    /// Message-IDs never enter the threading index from outside.
    fn decide(&self, record: &Inbound, now: UnixTime) -> Result<(Decision, String), StoreError> {
        let raw = self.store.raw(record.seq)?.unwrap_or_default();
        let snap = self.live.snapshot();
        let cfg = snap.for_mailbox(&record.mailbox);
        // A bug in the pure pipeline must cost one mail a quarantine, not the daemon.
        let decided = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            decide(
                &raw,
                record.seq,
                &cfg,
                &snap.templates,
                &self.store,
                now,
                SystemTime::now(),
            )
        }));
        let decision = match decided {
            Ok(d) => d?,
            Err(panic) => {
                let what = panic_message(panic.as_ref());
                tracing::error!(seq = record.seq, error = %what, "BUG: processing panicked; quarantining the mail");
                Decision {
                    message_id: None,
                    plan: Plan::Quarantine(format!(
                        "internal error while processing (please report): {what}"
                    )),
                }
            }
        };
        Ok((decision, cfg.service.address.domain().to_string()))
    }

    /// Commits a decision, then logs and counts it. A plan the store cannot apply (a record
    /// it needs is missing or unreadable) becomes a quarantine instead of a retry for ever;
    /// a failing disk or a numbering conflict is returned for the caller to retry.
    fn commit(
        &self,
        record: &Inbound,
        decision: &Decision,
        own_domain: &str,
        now: UnixTime,
    ) -> Result<Outcome, StoreError> {
        let seq = record.seq;
        let message_id = decision.message_id.as_deref();
        let indexed = decision.indexable(own_domain);
        let committed =
            match self
                .store
                .record_outcome(seq, message_id, indexed, &decision.plan, now)
            {
                Ok(c) => c,
                Err(
                    e @ (StoreError::Conflict | StoreError::Sled(_) | StoreError::Locked { .. }),
                ) => {
                    return Err(e);
                }
                Err(e) => {
                    let plan = Plan::Quarantine(format!("could not be recorded: {e}"));
                    let committed = self
                        .store
                        .record_outcome(seq, message_id, false, &plan, now)?;
                    log_outcome(record, message_id, &committed.outcome, 0);
                    self.metrics.processed(&committed.outcome);
                    return Ok(committed.outcome);
                }
            };
        log_outcome(
            record,
            message_id,
            &committed.outcome,
            decision.plan.queued(),
        );
        self.metrics.processed(&committed.outcome);
        if let Plan::Join {
            rating: Some(rating),
            ..
        } = &decision.plan
            && self.live.snapshot().cfg.agent(&rating.agent).is_some()
        {
            self.metrics.rating(&rating.agent.to_string(), rating.score);
        }
        if let Some(after) = committed.first_response_after {
            let agent = match &decision.plan {
                Plan::Agent { message, .. } => message.from.as_ref().map(ToString::to_string),
                _ => None,
            };
            self.metrics
                .first_response(agent.as_deref().unwrap_or("unknown"), after);
        }
        Ok(committed.outcome)
    }
}

/// The text of a caught panic, for the quarantine reason.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// One `mail.processed` line per mail: the outcome with its ticket and reason, the mailbox
/// and UID, a hash of the Message-ID (never the id itself), and how many mails it queued.
fn log_outcome(record: &Inbound, message_id: Option<&str>, outcome: &Outcome, queued: usize) {
    let (mailbox, uid) = (record.mailbox.as_str(), record.uid);
    let mid = message_id.map(message_id_hash).unwrap_or_default();
    match outcome {
        Outcome::NewTicket {
            ticket,
            not_acknowledged,
        } => info!(
            event = "mail.processed",
            outcome = "new-ticket",
            %ticket,
            mid,
            mailbox,
            uid,
            queued,
            reason = not_acknowledged.map(|r| r.as_str()).unwrap_or(""),
            "new ticket"
        ),
        Outcome::Joined {
            ticket,
            via,
            reason,
        } => info!(
            event = "mail.processed",
            outcome = "joined",
            %ticket,
            mid,
            mailbox,
            uid,
            queued,
            via = ?via,
            reason = reason.as_str(),
            "mail joined its ticket"
        ),
        Outcome::Agent { ticket, action } => info!(
            event = "mail.processed",
            outcome = "agent",
            %ticket,
            mid,
            mailbox,
            uid,
            queued,
            action = %action,
            "agent mail handled"
        ),
        Outcome::Suppressed { reason } => info!(
            event = "mail.processed",
            outcome = "suppressed",
            mid,
            mailbox,
            uid,
            queued,
            reason = reason.as_str(),
            "automated mail suppressed"
        ),
        Outcome::Quarantined { reason } => warn!(
            event = "mail.processed",
            outcome = "quarantined",
            mid,
            mailbox,
            uid,
            queued,
            reason = reason.as_str(),
            "mail quarantined"
        ),
    }
}
