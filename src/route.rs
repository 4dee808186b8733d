//! Which agent a new ticket goes to (spec flow step 4). Pure: the rules and the agents in,
//! a [`Pool`] out; the caller keeps the round-robin counter of each pool in the store.
//!
//! This is the first cut: `[[routes]]` match on the address the mail was sent to (To, Cc,
//! Delivered-To, so that `billing@` and `support@` can share one mailbox) and name a team or
//! an agent; within a team, and when no rule matches, agents take turns. Availability, sticky
//! assignment and `least_open` come with the agents issue.

use crate::config::{Agent, Route, RouteTarget};
use crate::types::{AgentEmail, EmailAddress};

/// The agents a new ticket may go to, and the key of their round-robin counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// Counter key: `team:NAME`, `agent:ADDRESS` or `all`.
    pub key: String,
    /// Candidates in configuration order; never empty when built by [`plan`].
    pub members: Vec<AgentEmail>,
}

impl Pool {
    /// The member whose turn it is, given how many tickets this pool has had so far.
    pub fn pick(&self, counter: u64) -> Option<&AgentEmail> {
        if self.members.is_empty() {
            return None;
        }
        self.members
            .get((counter % self.members.len() as u64) as usize)
    }
}

/// Chooses the pool for a mail sent to `recipients`: the first matching route, else everyone.
pub fn plan(routes: &[Route], agents: &[Agent], recipients: &[EmailAddress]) -> Pool {
    let sent_to = |want: &EmailAddress| {
        recipients
            .iter()
            .any(|r| r == want || r.without_detail() == *want)
    };
    for route in routes {
        if route.to.as_ref().is_some_and(|to| !sent_to(to)) {
            continue;
        }
        let pool = match &route.target {
            RouteTarget::Agent(a) => Pool {
                key: format!("agent:{a}"),
                members: vec![a.clone()],
            },
            RouteTarget::Team(team) => Pool {
                key: format!("team:{team}"),
                members: agents
                    .iter()
                    .filter(|a| a.teams.contains(team))
                    .map(|a| a.email.clone())
                    .collect(),
            },
        };
        if !pool.members.is_empty() {
            return pool;
        }
    }
    Pool {
        key: "all".into(),
        members: agents.iter().map(|a| a.email.clone()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(s: &str) -> EmailAddress {
        EmailAddress::parse(s).expect("valid")
    }

    fn agent(name: &str, mail: &str, teams: &[&str]) -> Agent {
        Agent {
            name: name.into(),
            email: AgentEmail::new(email(mail)),
            teams: teams.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn route_by_recipient_then_round_robin() {
        let agents = vec![
            agent("Jason", "jason@example.test", &["billing"]),
            agent("Maria", "maria@example.test", &[]),
            agent("Kim", "kim@example.test", &["billing"]),
        ];
        let routes = vec![Route {
            to: Some(email("billing@example.test")),
            target: RouteTarget::Team("billing".into()),
        }];
        let billing = plan(&routes, &agents, &[email("billing@example.test")]);
        assert_eq!(billing.key, "team:billing");
        let picks: Vec<_> = (0..4)
            .map(|n| billing.pick(n).expect("member").to_string())
            .collect();
        assert_eq!(
            picks,
            [
                "jason@example.test",
                "kim@example.test",
                "jason@example.test",
                "kim@example.test"
            ]
        );

        let detail = plan(&routes, &agents, &[email("billing+x@example.test")]);
        assert_eq!(detail.key, "team:billing");

        let other = plan(&routes, &agents, &[email("support@example.test")]);
        assert_eq!(other.key, "all");
        assert_eq!(other.members.len(), 3);
        assert_eq!(
            other.pick(4).expect("member").to_string(),
            "maria@example.test"
        );
    }
}
