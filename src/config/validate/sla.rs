//! The `[sla]` section: a first-response target needs someone to tell when it is missed,
//! either `[sla] lead` or the team's own `lead`.

use super::{Collector, secs};
use crate::config::Sla;
use crate::config::raw::{RawSla, RawTeam};
use crate::domain::EmailAddress;

/// Checks `[sla]`, and that every team with a target of its own has a lead, and builds it.
pub(super) fn sla(c: &mut Collector, sla: &RawSla, teams: &[RawTeam]) -> Sla {
    let lead = sla.lead.as_deref().and_then(|l| {
        let parsed = EmailAddress::parse(l);
        if parsed.is_none() {
            c.add(
                "sla.lead",
                format!("{l:?} is not an e-mail address"),
                "e.g. lead = \"lead@example.com\"",
            );
        }
        parsed
    });
    if sla.first_response_minutes.is_some() && sla.lead.is_none() {
        c.add(
            "sla.lead",
            "first_response_minutes is set but nobody would be told when it is missed",
            "set [sla] lead = \"lead@example.com\" (or lead in each [[teams]] entry)",
        );
    }
    for (i, t) in teams.iter().enumerate() {
        if t.first_response_minutes.is_some() && t.lead.is_none() && sla.lead.is_none() {
            c.add(
                &format!("teams[{i}].lead"),
                "the team has a first-response target but no lead to tell",
                "set lead in the team or [sla] lead",
            );
        }
    }
    Sla {
        first_response: sla
            .first_response_minutes
            .map(|m| secs(m.saturating_mul(60))),
        lead,
        check_interval: secs(sla.check_interval_seconds.unwrap_or(60).max(1)),
        reassign: sla.reassign,
    }
}
