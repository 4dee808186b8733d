//! Where tickets go: `[routing]` and `[tickets]` (stickiness, reopening), `[[teams]]` and
//! `[[routes]]`, whose targets must name configured agents or teams with members.

use regex::Regex;

use super::{Collector, secs};
use crate::config::raw::{RawInbox, RawRoute, RawRouting, RawTeam, RawTickets};
use crate::config::{Agent, Closing, Route, RouteTarget, Routing, Team};
use crate::domain::{AgentEmail, EmailAddress};

/// `[routing]` and `[tickets]`: nothing in them can be wrong.
pub(super) fn routing(routing: &RawRouting, tickets: &RawTickets) -> Routing {
    Routing {
        sticky: secs(routing.sticky_days.saturating_mul(86_400)),
        reopen_window: secs(tickets.reopen_days.saturating_mul(86_400)),
        handover_mail: tickets.handover_mail,
    }
}

/// `[tickets]`' closing keys, with each inbox's own `closing_mail` (the main inbox, at
/// `main`, follows `[tickets]`); 0 days switches the reminder or the auto-close off.
pub(super) fn closing(tickets: &RawTickets, main: &EmailAddress, inboxes: &[RawInbox]) -> Closing {
    let days = |d: u64| (d > 0).then(|| secs(d.saturating_mul(86_400)));
    let mut mail_at = Vec::new();
    if tickets.closing_mail {
        mail_at.push(main.clone());
    }
    for raw in inboxes {
        if raw.closing_mail.unwrap_or(tickets.closing_mail)
            && let Some(address) = EmailAddress::parse(&raw.address)
        {
            mail_at.push(address);
        }
    }
    Closing {
        mail_at,
        remind_after: days(tickets.remind_after_days),
        autoclose_after: days(tickets.autoclose_after_days),
    }
}

/// Checks every `[[teams]]` entry against `agents` and builds it.
pub(super) fn teams(c: &mut Collector, raw: &[RawTeam], agents: &[Agent]) -> Vec<Team> {
    let mut teams = Vec::new();
    for (i, t) in raw.iter().enumerate() {
        let key = format!("teams[{i}]");
        if !agents.iter().any(|a| a.teams.contains(&t.name)) {
            c.add(
                &format!("{key}.name"),
                format!("no agent is in team {:?}", t.name),
                format!(
                    "add teams = [\"{}\"] to at least one [[agents]] entry",
                    t.name
                ),
            );
        }
        let fallback = t
            .fallback
            .as_deref()
            .and_then(|f| team_fallback(c, &format!("{key}.fallback"), f, agents));
        let lead = t.lead.as_deref().and_then(|l| {
            let parsed = EmailAddress::parse(l);
            if parsed.is_none() {
                c.add(
                    &format!("{key}.lead"),
                    format!("{l:?} is not an e-mail address"),
                    "e.g. lead = \"lead@example.com\"",
                );
            }
            parsed
        });
        teams.push(Team {
            name: t.name.clone(),
            strategy: t.strategy,
            fallback,
            first_response: t.first_response_minutes.map(|m| secs(m.saturating_mul(60))),
            lead,
        });
    }
    teams
}

/// A team's `fallback`: an agent's email, or a team some agent is in.
fn team_fallback(
    c: &mut Collector,
    key: &str,
    target: &str,
    agents: &[Agent],
) -> Option<RouteTarget> {
    if let Some(agent) = EmailAddress::parse(target)
        .map(AgentEmail::new)
        .filter(|e| agents.iter().any(|a| &a.email == e))
    {
        return Some(RouteTarget::Agent(agent));
    }
    if agents.iter().any(|a| a.teams.iter().any(|t| t == target)) {
        return Some(RouteTarget::Team(target.to_string()));
    }
    c.add(
        key,
        format!("{target:?} is neither a configured agent's email nor a team with members"),
        "name a team that some [[agents]] list in teams, or an agent's email",
    );
    None
}

/// Checks every `[[routes]]` rule and builds the usable ones, in order.
pub(super) fn routes(c: &mut Collector, raw: &[RawRoute], agents: &[Agent]) -> Vec<Route> {
    let mut routes = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let key = format!("routes[{i}]");
        let to = match &r.to {
            None => None,
            Some(t) => {
                let parsed = EmailAddress::parse(t);
                if parsed.is_none() {
                    c.add(
                        &format!("{key}.to"),
                        format!("{t:?} is not an e-mail address"),
                        "e.g. to = \"billing@example.com\"",
                    );
                }
                parsed
            }
        };
        let target = route_target(c, &key, r, agents);
        let subject = pattern(c, &key, "subject", r.subject.as_deref());
        let body = pattern(c, &key, "body", r.body.as_deref());
        let from_domain = r
            .from_domain
            .as_deref()
            .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase());
        if let Some(target) = target {
            routes.push(Route {
                to,
                from_domain,
                subject,
                body,
                target,
            });
        }
    }
    routes
}

/// A route's target: exactly one of `team` (with members) or `agent` (configured).
fn route_target(
    c: &mut Collector,
    key: &str,
    r: &RawRoute,
    agents: &[Agent],
) -> Option<RouteTarget> {
    match (&r.team, &r.agent) {
        (Some(team), None) => {
            if !agents.iter().any(|a| a.teams.contains(team)) {
                c.add(
                    &format!("{key}.team"),
                    format!("no agent is in team {team:?}"),
                    format!("add teams = [\"{team}\"] to at least one [[agents]] entry"),
                );
            }
            Some(RouteTarget::Team(team.clone()))
        }
        (None, Some(agent)) => {
            let found = EmailAddress::parse(agent)
                .map(AgentEmail::new)
                .filter(|e| agents.iter().any(|a| &a.email == e));
            if found.is_none() {
                c.add(
                    &format!("{key}.agent"),
                    format!("{agent:?} is not a configured agent's email"),
                    "use the email of one of the [[agents]]",
                );
            }
            found.map(RouteTarget::Agent)
        }
        _ => {
            c.add(
                key,
                "a route needs exactly one of team or agent",
                "e.g. to = \"billing@example.com\" with team = \"billing\"",
            );
            None
        }
    }
}

/// A route's `subject` or `body` pattern: a case-insensitive regular expression (compiled
/// to at most 1 MiB).
fn pattern(c: &mut Collector, key: &str, field: &str, text: Option<&str>) -> Option<Regex> {
    let text = text?;
    match regex::RegexBuilder::new(text)
        .case_insensitive(true)
        .size_limit(1 << 20)
        .build()
    {
        Ok(re) => Some(re),
        Err(e) => {
            c.add(
                &format!("{key}.{field}"),
                format!("{text:?} is not a valid pattern: {e}"),
                format!("a regular expression, e.g. {field} = \"refund|invoice\""),
            );
            None
        }
    }
}
