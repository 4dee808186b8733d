//! The commands that change state: assign and close tickets, release quarantined mail,
//! mark agents away, retry dead letters, export and forget customers, write a backup.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use super::show::{outcome_text, print_json};
use super::{Context, OpsError};
use crate::domain::TicketId;
use crate::store::Store;

/// `tickets assign|close`: composing the new owner's notification needs the token key.
pub(super) fn change_ticket(
    out: &mut String,
    ctx: &Context<'_>,
    number: TicketId,
    assign_to: Option<&str>,
    close: bool,
) -> Result<(), OpsError> {
    let (cfg, templates) = ctx.full()?;
    let done = crate::actions::ops_change(
        cfg,
        templates,
        ctx.store,
        number,
        &crate::actions::OpsChange {
            assign_to,
            close,
            by: "the support team",
            only_if_unanswered: false,
        },
    )
    .map_err(|e| OpsError(e.to_string()))?;
    outln!(out, "{done}");
    Ok(())
}

/// `quarantine release ID`: clear the outcome and run the pipeline on the mail now.
pub(super) fn release(out: &mut String, ctx: &Context<'_>, id: u64) -> Result<(), OpsError> {
    let (cfg, templates) = ctx.full()?;
    ctx.store.release(id)?;
    let live =
        crate::reload::Live::new(crate::reload::Snapshot::new(cfg.clone(), templates.clone()));
    let processor = crate::processor::Processor::new(
        ctx.store.clone(),
        Arc::new(live),
        ctx.metrics.clone().unwrap_or_default(),
    );
    let outcome = processor.process(id)?;
    ctx.store.flush_blocking()?;
    let (what, detail) = outcome_text(&outcome);
    outln!(out, "mail {id} released: {what} {detail}");
    Ok(())
}

/// `agents away|back AGENT`; with `hand_over`, the agent's open tickets go to colleagues
/// available now (the SLA reassignment's choice, each with the new owner's notification and
/// the customer's note); a ticket nobody can take stays and is listed.
pub(super) fn set_away(
    out: &mut String,
    ctx: &Context<'_>,
    who: &str,
    away: bool,
    hand_over: bool,
) -> Result<(), OpsError> {
    let cfg = ctx.cfg()?;
    let store = ctx.store;
    let agent = cfg.find_agent(who).map_err(|e| OpsError(e.to_string()))?;
    store.set_away(&agent.email, away)?;
    outln!(
        out,
        "{} <{}> is {}",
        agent.name,
        agent.email,
        if away {
            "away: new tickets skip them"
        } else {
            "back"
        }
    );
    if !(away && hand_over) {
        return Ok(());
    }
    let (cfg, templates) = ctx.full()?;
    let now = jiff::Timestamp::now();
    let load = |e: &crate::domain::AgentEmail| store.agent_load(e).unwrap_or_default();
    for ticket in store.open_tickets_of(&agent.email)? {
        let target =
            crate::route::reassign_target(cfg, ticket.pool.as_deref(), &agent.email, now, &load);
        let Some(target) = target else {
            outln!(
                out,
                "ticket #{} stays: nobody else is available to take it",
                ticket.id
            );
            continue;
        };
        let change = crate::actions::OpsChange {
            assign_to: Some(target.email.address().as_str()),
            close: false,
            by: "agents away",
            only_if_unanswered: false,
        };
        match crate::actions::ops_change(cfg, templates, store, ticket.id, &change) {
            Ok(done) => outln!(out, "{done}"),
            Err(e) => outln!(out, "ticket #{} stays: {e}", ticket.id),
        }
    }
    store.flush_blocking()?;
    Ok(())
}

/// `outbox retry [ID]`: dead letters go back into the outbox.
pub(super) fn retry(out: &mut String, store: &Store, id: Option<u64>) -> Result<(), OpsError> {
    let n = store.retry_dead(id, crate::domain::now())?;
    outln!(
        out,
        "{n} dead letter(s) queued again; they go out when the daemon runs"
    );
    Ok(())
}

/// `customer export EMAIL`: everything stored about them, as JSON.
pub(super) fn customer_export(
    out: &mut String,
    store: &Store,
    email: &str,
) -> Result<(), OpsError> {
    let who = customer_address(email)?;
    print_json(out, &crate::privacy::export(store, &who)?)
}

/// `customer forget EMAIL`: tickets become tombstones, their mail is erased.
pub(super) fn customer_forget(
    out: &mut String,
    store: &Store,
    email: &str,
) -> Result<(), OpsError> {
    let who = customer_address(email)?;
    let done = crate::privacy::forget(store, &who)?;
    outln!(
        out,
        "{who} forgotten: {} ticket(s) kept as tombstones, {} stored mail(s) erased, {} queued mail(s) dropped",
        done.tickets,
        done.mails,
        done.queued_dropped
    );
    outln!(
        out,
        "their mail is still in the IMAP mailbox and in older backups: delete it there too"
    );
    Ok(())
}

/// `backup [--dir DIR]`: a backup file now, in DIR or the configured directory.
pub(super) fn backup(
    out: &mut String,
    ctx: &Context<'_>,
    dir: Option<&Path>,
) -> Result<(), OpsError> {
    let dir = match dir {
        Some(d) => d.to_path_buf(),
        None => ctx.cfg()?.backup.dir.clone(),
    };
    let (path, stats) = crate::backup::write(ctx.store, &dir)?;
    if let Some(metrics) = &ctx.metrics {
        metrics.backup_written(std::time::SystemTime::now());
    }
    outln!(
        out,
        "backup written: {} ({} tickets, {} records, {} bytes)",
        path.display(),
        stats.tickets,
        stats.records,
        stats.bytes
    );
    Ok(())
}

pub(super) fn customer_address(email: &str) -> Result<crate::domain::EmailAddress, OpsError> {
    crate::domain::EmailAddress::parse(email)
        .ok_or_else(|| OpsError(format!("{email:?} is not an e-mail address")))
}
