//! First-response targets (spec flow step 9): a ticket without an agent's answer after its
//! target, counted in the assigned agent's working hours, is escalated once: a mail to the
//! team's lead (or `[sla] lead`). [`due`] is pure; [`run`] is the loop beside ingest and
//! outbox that checks open tickets every `check_interval_seconds`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{Notify, watch};
use tracing::{error, info};

use crate::compose::{Templates, escalation};
use crate::config::Config;
use crate::domain::{EmailAddress, Escalation, Ticket, UnixTime};
use crate::liveness::Heartbeat;
use crate::store::Store;

/// The target and lead that apply to a ticket: the first of its agent's teams that sets a
/// target, else `[sla]`.
pub fn target_for(cfg: &Config, ticket: &Ticket) -> Option<(Duration, EmailAddress)> {
    let agent = cfg.agent(&ticket.agent);
    let team = agent
        .into_iter()
        .flat_map(|a| a.teams.iter())
        .map(|t| cfg.team(t))
        .find(|t| t.first_response.is_some());
    let target = team
        .as_ref()
        .and_then(|t| t.first_response)
        .or(cfg.sla.first_response)?;
    let lead = team.and_then(|t| t.lead).or_else(|| cfg.sla.lead.clone())?;
    Some((target, lead))
}

/// Whether `ticket` is due for escalation at `now`: open, unanswered, not escalated yet, and
/// past its target in its agent's working time.
pub fn due(cfg: &Config, ticket: &Ticket, now: UnixTime) -> Option<Escalation> {
    if !ticket.may_escalate() {
        return None;
    }
    let (target, lead) = target_for(cfg, ticket)?;
    let hours = cfg
        .agent(&ticket.agent)
        .map(|a| a.hours.clone())
        .unwrap_or_else(crate::hours::WorkingHours::always);
    let from = jiff::Timestamp::from_second(ticket.created_at).ok()?;
    let to = jiff::Timestamp::from_second(now).ok()?;
    let waited = hours.working_seconds_between(from, to).max(0) as u64;
    (waited >= target.as_secs()).then(|| Escalation {
        lead,
        target,
        waited: Duration::from_secs(waited),
    })
}

/// Whether any first-response target is configured (otherwise there is nothing to check).
pub fn enabled(cfg: &Config) -> bool {
    cfg.sla.first_response.is_some() || cfg.teams.iter().any(|t| t.first_response.is_some())
}

/// Checks open tickets every `sla.check_interval` until `shutdown`; escalations are queued
/// in the outbox (durably, with the ticket's `escalated_at`) and the outbox is woken. Each
/// round reads the live configuration, so a reload can switch targets on or off. `beat`
/// tells the watchdog when the loop is only waiting for its next round.
pub async fn run(
    store: Store,
    live: Arc<crate::reload::Live>,
    wake: Arc<Notify>,
    beat: Heartbeat,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let snap = live.snapshot();
        let (cfg, templates) = (&snap.cfg, &snap.templates);
        summarise_floods(&store, cfg, templates, &wake);
        follow_up(&store, cfg, templates, &wake);
        let checked = if enabled(cfg) {
            check(&store, cfg, templates).await
        } else {
            Ok(0)
        };
        match checked {
            Ok(0) => {}
            Ok(n) => {
                info!(event = "sla.escalated", count = n, "tickets escalated");
                wake.notify_one();
            }
            Err(e) => error!(error = %e, "SLA check failed; will retry"),
        }
        let _idle = beat.idle();
        tokio::select! {
            _ = tokio::time::sleep(cfg.sla.check_interval) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Sends the agent of every ticket that took a burst of follow-ups (recorded without a
/// notification each) one summary, once the sender is quiet.
fn summarise_floods(store: &Store, cfg: &Config, templates: &Templates, wake: &Notify) {
    let now = crate::domain::now();
    let tickets = match store.open_tickets_with_flood() {
        Ok(t) => t,
        Err(e) => {
            error!(error = %e, "flood summaries: cannot read tickets; will retry");
            return;
        }
    };
    for t in tickets {
        match crate::actions::flood_summary(cfg, templates, store, &t, now) {
            Ok(Some(n)) => {
                info!(event = "flood.summarised", ticket = %t.id, mails = n, "flood summary sent to the agent");
                wake.notify_one();
            }
            Ok(None) => {}
            Err(e) => error!(ticket = %t.id, error = %e, "flood summary failed; will retry"),
        }
    }
}

/// Reminds customers whose tickets wait on them, and closes those that waited long enough
/// after the reminder (`[tickets] remind_after_days`, `autoclose_after_days`). The clock is
/// the test clock in builds with the test kit (`store::CLOCK_OFFSET_ENV`).
fn follow_up(store: &Store, cfg: &Config, templates: &Templates, wake: &Notify) {
    if cfg.closing.remind_after.is_none() && cfg.closing.autoclose_after.is_none() {
        return;
    }
    let now = crate::domain::now() + crate::store::test_clock_offset();
    let tickets = match store.answered_open_tickets() {
        Ok(t) => t,
        Err(e) => {
            error!(error = %e, "follow-ups: cannot read tickets; will retry");
            return;
        }
    };
    for t in tickets {
        match crate::actions::follow_up(cfg, templates, store, &t, now) {
            Ok(Some(done)) => {
                info!(event = "ticket.followed_up", ticket = %t.id, done = ?done, "ticket waiting on its customer followed up");
                wake.notify_one();
            }
            Ok(None) => {}
            Err(e) => error!(ticket = %t.id, error = %e, "follow-up failed; will retry"),
        }
    }
}

/// Hands an escalated ticket to another agent who is available now (the current one is
/// treated as away); if nobody is, it stays where it is.
fn reassign(store: &Store, cfg: &Config, templates: &Templates, ticket: &Ticket) {
    let now = jiff::Timestamp::now();
    let load = |e: &crate::domain::AgentEmail| store.agent_load(e).unwrap_or_default();
    let Some(target) =
        crate::route::reassign_target(cfg, ticket.pool.as_deref(), &ticket.agent, now, &load)
    else {
        info!(ticket = %ticket.id, "escalated; no other agent is available to take it");
        return;
    };
    match crate::actions::ops_change(
        cfg,
        templates,
        store,
        ticket.id,
        &crate::actions::OpsChange {
            assign_to: Some(target.email.address().as_str()),
            close: false,
            by: "escalation",
            only_if_unanswered: true,
        },
    ) {
        Ok(done) => info!(event = "sla.reassigned", ticket = %ticket.id, "{done}"),
        Err(e) => {
            error!(ticket = %ticket.id, error = %e, "escalated ticket could not be reassigned")
        }
    }
}

async fn check(
    store: &Store,
    cfg: &Config,
    templates: &Templates,
) -> Result<usize, crate::store::StoreError> {
    let now = crate::domain::now();
    let mut n = 0;
    for ticket in store.unanswered_open_tickets()? {
        let cfg = &*cfg.for_ticket(&ticket);
        let Some(esc) = due(cfg, &ticket, now) else {
            continue;
        };
        match escalation(cfg, templates, &ticket, &esc, SystemTime::now()) {
            Ok(mail) => {
                if store.record_escalation(ticket.id, &mail, now)? {
                    info!(event = "sla.escalation", ticket = %ticket.id, waited_min = esc.waited.as_secs() / 60, "first-response target missed");
                    n += 1;
                    if cfg.sla.reassign {
                        reassign(store, cfg, templates, &ticket);
                    }
                }
            }
            Err(e) => {
                error!(ticket = %ticket.id, error = %e, "escalation mail could not be composed")
            }
        }
    }
    if n > 0 {
        store.flush().await?;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::describe;
    use crate::domain::TicketState;

    fn config(extra: &str) -> Config {
        crate::testing::config(&format!(
            r#"
[sla]
first_response_minutes = 240
lead = "lead@example.test"
[[agents]]
name = "Jason Miller"
email = "jason@example.test"
teams = ["vip"]
working_hours = "Mon-Fri 09:00-17:00"
timezone = "UTC"
{extra}
"#
        ))
    }

    fn ticket(created: &str) -> Ticket {
        crate::testing::ticket(1001, "alice@customer.test")
            .created_at(at(created))
            .build()
    }

    fn at(s: &str) -> UnixTime {
        s.parse::<jiff::Timestamp>().expect("ts").as_second()
    }

    #[test]
    fn the_target_counts_working_time_only() {
        let cfg = config("");
        // Friday 15:00 → Monday 10:00 is 3 working hours: not yet due (target 4 h).
        let t = ticket("2026-11-27T15:00:00Z");
        assert_eq!(due(&cfg, &t, at("2026-11-30T10:00:00Z")), None);
        // Monday 11:30: 4 h 30 min of working time.
        let esc = due(&cfg, &t, at("2026-11-30T11:30:00Z")).expect("due");
        assert_eq!(esc.lead.as_str(), "lead@example.test");
        assert_eq!(describe(esc.waited), "4 h 30 min");
    }

    #[test]
    fn the_clock_pauses_during_a_closure() {
        // The team's Monday off: Friday 15:00 → Tuesday 10:00 is 3 working hours.
        let cfg = config("[[closures]]\nteam = \"vip\"\nfrom = \"2026-11-30\"\n");
        let t = ticket("2026-11-27T15:00:00Z");
        assert_eq!(
            due(&cfg, &t, at("2026-11-30T16:00:00Z")),
            None,
            "Monday is off"
        );
        assert_eq!(due(&cfg, &t, at("2026-12-01T10:00:00Z")), None);
        let esc = due(&cfg, &t, at("2026-12-01T11:30:00Z")).expect("due");
        assert_eq!(describe(esc.waited), "4 h 30 min");
    }

    #[test]
    fn answered_closed_or_escalated_tickets_are_left_alone() {
        let cfg = config("");
        let late = at("2026-12-10T12:00:00Z");
        let mut t = ticket("2026-11-27T15:00:00Z");
        t.first_response_at = Some(at("2026-11-27T15:10:00Z"));
        assert_eq!(due(&cfg, &t, late), None, "answered");
        let mut t = ticket("2026-11-27T15:00:00Z");
        t.state = TicketState::Closed;
        assert_eq!(due(&cfg, &t, late), None, "closed");
        let mut t = ticket("2026-11-27T15:00:00Z");
        t.escalated_at = Some(late);
        assert_eq!(due(&cfg, &t, late), None, "once per ticket");
    }

    #[test]
    fn a_team_target_and_lead_override_the_global_ones() {
        let cfg = config(
            "[[teams]]\nname = \"vip\"\nfirst_response_minutes = 30\nlead = \"vip-lead@example.test\"\n",
        );
        let t = ticket("2026-11-30T09:00:00Z");
        let esc = due(&cfg, &t, at("2026-11-30T09:45:00Z")).expect("due after 30 min");
        assert_eq!(esc.lead.as_str(), "vip-lead@example.test");
    }
}
