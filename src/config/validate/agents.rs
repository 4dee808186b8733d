//! The `[[agents]]` table: who answers tickets, and when they work.

use super::Collector;
use crate::config::Agent;
use crate::config::raw::RawAgent;
use crate::domain::{AgentEmail, EmailAddress};
use crate::hours::WorkingHours;

/// Checks every `[[agents]]` entry and returns the usable ones, in configuration order
/// (round robin follows it). Working hours default to `[routing] timezone`.
pub(super) fn agents(
    c: &mut Collector,
    raw: &[RawAgent],
    address: Option<&EmailAddress>,
    timezone: &str,
) -> Vec<Agent> {
    let mut agents: Vec<Agent> = Vec::new();
    if raw.is_empty() {
        c.add(
            "agents",
            "no [[agents]] are configured; every ticket needs a named agent",
            "add [[agents]] with name = \"Jason Miller\" and email = \"jason@example.com\"",
        );
    }
    for (i, a) in raw.iter().enumerate() {
        let key = format!("agents[{i}]");
        let name = crate::mail::sanitize::header_text(&a.name, 80);
        if name.is_empty() {
            c.add(
                &format!("{key}.name"),
                "is empty",
                "give the agent's full name",
            );
        }
        let Some(e) = EmailAddress::parse(&a.email) else {
            c.add(
                &format!("{key}.email"),
                format!("{:?} is not an e-mail address", a.email),
                "e.g. email = \"jason@example.com\"",
            );
            continue;
        };
        let email = AgentEmail::new(e);
        if agents.iter().any(|x| x.email == email) {
            c.add(
                &format!("{key}.email"),
                format!("{email} is configured twice"),
                "keep one [[agents]] entry per address",
            );
        } else if Some(email.address()) == address {
            c.add(
                &format!("{key}.email"),
                "an agent cannot use the support address itself",
                "use the agent's personal address",
            );
        } else {
            let hours = working_hours(c, &key, a, timezone);
            agents.push(Agent {
                name,
                email,
                teams: a.teams.clone(),
                hours,
                away: a.away,
                max_open: a.max_open,
            });
        }
    }
    agents
}

/// The agent's `working_hours` in their `timezone` (default: `timezone`); always at work
/// when none are set, or when they do not parse (a problem, then).
fn working_hours(c: &mut Collector, key: &str, a: &RawAgent, timezone: &str) -> WorkingHours {
    let tz = a.timezone.as_deref().unwrap_or(timezone);
    match WorkingHours::parse(a.working_hours.as_deref().unwrap_or(""), tz) {
        Ok(h) => h,
        Err(e) => {
            c.add(
                &format!("{key}.working_hours"),
                e,
                "e.g. working_hours = \"Mon-Fri 09:00-17:00\" with timezone = \"Europe/Berlin\"",
            );
            WorkingHours::always()
        }
    }
}
