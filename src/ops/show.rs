//! The read-only commands: tickets, stored mail, quarantine, agents, the outbox; as tables
//! for people or JSON for scripts.

use std::fmt::Write as _;

use serde::Serialize;

use super::OpsError;
use crate::config::Config;
use crate::domain::{EmailAddress, Outcome, TicketId};
use crate::store::Store;

pub(super) fn print_json(out: &mut String, v: &impl Serialize) -> Result<(), OpsError> {
    outln!(
        out,
        "{}",
        serde_json::to_string_pretty(v).map_err(|e| OpsError(e.to_string()))?
    );
    Ok(())
}

fn fmt_time(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .map(|d| d.strftime("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|_| t.to_string())
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() > n {
        s.chars().take(n - 1).chain(std::iter::once('…')).collect()
    } else {
        s.to_string()
    }
}

pub(super) fn tickets_list(out: &mut String, store: &Store, json: bool) -> Result<(), OpsError> {
    let tickets = store.tickets()?;
    if json {
        return print_json(out, &tickets);
    }
    outln!(
        out,
        "{:<7} {:<7} {:<30} {:<26} {:>4}  {:<16} SUBJECT",
        "TICKET",
        "STATE",
        "CUSTOMER",
        "AGENT",
        "MSGS",
        "UPDATED"
    );
    for t in &tickets {
        outln!(
            out,
            "{:<7} {:<7} {:<30} {:<26} {:>4}  {:<16} {}",
            t.id.to_string(),
            format!("{:?}", t.state).to_lowercase(),
            clip(t.customer.as_str(), 30),
            clip(t.agent.address().as_str(), 26),
            t.messages,
            fmt_time(t.updated_at),
            clip(&t.subject, 50)
        );
    }
    outln!(out, "{} ticket(s)", tickets.len());
    Ok(())
}

pub(super) fn ticket_show(
    out: &mut String,
    store: &Store,
    number: TicketId,
    json: bool,
) -> Result<(), OpsError> {
    let Some(t) = store.ticket(number)? else {
        fail!("no ticket #{number}");
    };
    if json {
        return print_json(out, &t);
    }
    outln!(out, "Ticket #{}  ({:?})", t.id, t.state);
    outln!(
        out,
        "  customer  {}{}",
        t.customer_name
            .as_deref()
            .map(|n| format!("{n} "))
            .unwrap_or_default(),
        t.customer
    );
    if !t.participants.is_empty() {
        let names: Vec<&str> = t.participants.iter().map(EmailAddress::as_str).collect();
        outln!(out, "  cc        {}", names.join(", "));
    }
    outln!(out, "  agent     {}", t.agent);
    outln!(out, "  subject   {}", t.subject);
    match &t.language {
        Some(lang) => outln!(out, "  language  {lang}"),
        None => outln!(
            out,
            "  language  en (not recorded: opened before languages were chosen)"
        ),
    }
    outln!(out, "  opened    {}", fmt_time(t.created_at));
    if let Some(prev) = t.linked_from {
        outln!(out, "  follows   closed ticket #{prev}");
    }
    if let Some(first) = t.first_response_at {
        let working = t
            .first_response_working
            .map(|w| format!(" ({} min of working time)", w / 60))
            .unwrap_or_default();
        outln!(
            out,
            "  first response after {} min{working}",
            (first - t.created_at).max(0) / 60
        );
    }
    if let Some(r) = &t.rating {
        outln!(
            out,
            "  rating    {}/5 by the customer, {}, for {}{}",
            r.score,
            fmt_time(r.at),
            r.agent,
            if r.comment.is_empty() {
                String::new()
            } else {
                format!(": {}", r.comment)
            }
        );
    }
    if let Some(at) = t.reminded_at {
        outln!(out, "  reminded  {}", fmt_time(at));
    }
    outln!(out, "  messages  {}", t.messages.len());
    for (i, m) in t.messages.iter().enumerate() {
        outln!(
            out,
            "  {:>3}. {}  {:<18} {}  {}{}{}",
            i + 1,
            fmt_time(m.at),
            format!("{:?}", m.direction).to_lowercase(),
            m.from.as_ref().map_or("-".to_string(), |f| f.to_string()),
            m.message_id.as_deref().unwrap_or("-"),
            m.suppressed
                .map(|r| format!("  (no ack: {r})"))
                .unwrap_or_default(),
            m.note
                .as_deref()
                .map(|n| format!("\n         note: {n}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

pub(super) fn outcome_text(o: &Option<Outcome>) -> (String, String) {
    match o {
        None => ("pending".into(), String::new()),
        Some(Outcome::NewTicket {
            ticket,
            not_acknowledged,
        }) => (
            "new-ticket".into(),
            format!(
                "#{ticket}{}",
                not_acknowledged
                    .map(|r| format!(" (not acknowledged: {r})"))
                    .unwrap_or_default()
            ),
        ),
        Some(Outcome::Joined { ticket, reason, .. }) => {
            ("joined".into(), format!("#{ticket} ({reason})"))
        }
        Some(Outcome::Agent { ticket, action }) => ("agent".into(), format!("#{ticket} {action}")),
        Some(Outcome::Suppressed { reason }) => ("suppressed".into(), reason.to_string()),
        Some(Outcome::Quarantined { reason }) => ("quarantined".into(), reason.clone()),
    }
}

pub(super) fn mail_list(
    out: &mut String,
    store: &Store,
    json: bool,
    only_quarantined: bool,
) -> Result<(), OpsError> {
    let mut all = store.inbound_all()?;
    if only_quarantined {
        all.retain(|m| matches!(m.outcome, Some(Outcome::Quarantined { .. })));
    }
    if json {
        return print_json(out, &all);
    }
    outln!(
        out,
        "{:<20} {:>6} {:>9}  {:<16} {:<12} DETAIL",
        "ID",
        "UID",
        "BYTES",
        "STORED",
        "OUTCOME"
    );
    for m in &all {
        let (outcome, detail) = outcome_text(&m.outcome);
        outln!(
            out,
            "{:<20} {:>6} {:>9}  {:<16} {:<12} {}",
            m.seq,
            m.uid,
            m.size,
            fmt_time(m.stored_at),
            outcome,
            clip(&detail, 80)
        );
    }
    outln!(out, "{} mail(s)", all.len());
    Ok(())
}

pub(super) fn quarantine_show(out: &mut String, store: &Store, id: u64) -> Result<(), OpsError> {
    out.push_str(&String::from_utf8_lossy(&quarantined_raw(store, id)?));
    Ok(())
}

/// The raw bytes of a quarantined mail (an error for any other mail).
pub fn quarantined_raw(store: &Store, id: u64) -> Result<Vec<u8>, OpsError> {
    let Some(record) = store.inbound(id)? else {
        fail!("no stored mail {id}");
    };
    if !matches!(record.outcome, Some(Outcome::Quarantined { .. })) {
        let (outcome, detail) = outcome_text(&record.outcome);
        fail!("mail {id} is not quarantined ({outcome} {detail})");
    }
    Ok(store.raw(id)?.unwrap_or_default())
}

pub(super) fn agents_list(
    out: &mut String,
    cfg: &Config,
    store: &Store,
    json: bool,
) -> Result<(), OpsError> {
    #[derive(Serialize)]
    struct Row {
        name: String,
        email: String,
        teams: Vec<String>,
        open: usize,
        away: bool,
        available: bool,
        back: String,
        first_response_median_minutes: Option<i64>,
        rating_median_30d: Option<f64>,
        ratings_30d: usize,
    }
    let now = jiff::Timestamp::now();
    let month_ago = now.as_second() - RATING_WINDOW_SECONDS;
    let tickets = store.tickets_full()?;
    let mut rows = Vec::new();
    for a in &cfg.agents {
        let load = store.agent_load(&a.email)?;
        let mut waits: Vec<i64> = tickets
            .iter()
            .filter(|t| t.agent == a.email)
            .filter_map(|t| t.first_response_at.map(|f| (f - t.created_at).max(0) / 60))
            .collect();
        waits.sort_unstable();
        let mut scores: Vec<u8> = tickets
            .iter()
            .filter_map(|t| t.rating.as_ref())
            .filter(|r| r.agent == a.email && r.at >= month_ago)
            .map(|r| r.score)
            .collect();
        scores.sort_unstable();
        let available = crate::route::available(a, load, now);
        rows.push(Row {
            name: a.name.clone(),
            email: a.email.to_string(),
            teams: a.teams.clone(),
            open: load.open,
            away: a.away || load.away,
            available,
            back: if available || a.away || load.away || a.hours.is_open(now) {
                String::new()
            } else {
                a.hours
                    .next_open(now)
                    .map(|z| crate::hours::describe_return(&z, now))
                    .unwrap_or_default()
            },
            first_response_median_minutes: waits.get(waits.len() / 2).copied(),
            rating_median_30d: median(&scores),
            ratings_30d: scores.len(),
        });
    }
    if json {
        return print_json(out, &rows);
    }
    outln!(
        out,
        "{:<22} {:<28} {:>5}  {:<10} {:<26} {:<23} RATING (MEDIAN, 30 DAYS)",
        "AGENT",
        "EMAIL",
        "OPEN",
        "STATUS",
        "BACK",
        "FIRST RESPONSE (MEDIAN)"
    );
    for r in &rows {
        let status = if r.away {
            "away"
        } else if r.available {
            "available"
        } else if r.back.is_empty() {
            "full"
        } else {
            "off hours"
        };
        outln!(
            out,
            "{:<22} {:<28} {:>5}  {:<10} {:<26} {:<23} {}",
            clip(&r.name, 22),
            clip(&r.email, 28),
            r.open,
            status,
            r.back,
            r.first_response_median_minutes
                .map_or("-".into(), |m| format!("{m} min")),
            r.rating_median_30d.map_or("-".into(), |m| format!(
                "{m} of 5 ({} rated)",
                r.ratings_30d
            ))
        );
    }
    Ok(())
}

/// Ratings older than this are left out of `agents list`.
const RATING_WINDOW_SECONDS: i64 = 30 * 86_400;

/// The median of sorted scores (the mean of the middle two for an even count).
fn median(sorted: &[u8]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(f64::from(sorted[n / 2])),
        _ => Some((f64::from(sorted[n / 2 - 1]) + f64::from(sorted[n / 2])) / 2.0),
    }
}

pub(super) fn outbox_list(out: &mut String, store: &Store, json: bool) -> Result<(), OpsError> {
    let pending = store.outbox_entries()?;
    let dead = store.dead_letters()?;
    if json {
        #[derive(Serialize)]
        struct Both<'a> {
            pending: &'a [crate::domain::OutboxEntry],
            dead: &'a [crate::domain::DeadLetter],
        }
        return print_json(
            out,
            &Both {
                pending: &pending,
                dead: &dead,
            },
        );
    }
    outln!(
        out,
        "{:<20} {:<7} {:<8} {:>8}  {:<16} LAST ERROR",
        "ID",
        "TICKET",
        "STATE",
        "ATTEMPTS",
        "NEXT"
    );
    for e in &pending {
        outln!(
            out,
            "{:<20} {:<7} {:<8} {:>8}  {:<16} {}",
            e.id,
            e.ticket.map(|t| t.to_string()).unwrap_or_default(),
            "queued",
            e.attempts,
            fmt_time(e.next_attempt_at),
            clip(e.last_error.as_deref().unwrap_or(""), 80)
        );
    }
    for d in &dead {
        outln!(
            out,
            "{:<20} {:<7} {:<8} {:>8}  {:<16} {}",
            d.entry.id,
            d.entry.ticket.map(|t| t.to_string()).unwrap_or_default(),
            "dead",
            d.entry.attempts,
            fmt_time(d.at),
            clip(&d.error, 80)
        );
    }
    outln!(out, "{} queued, {} dead", pending.len(), dead.len());
    Ok(())
}
