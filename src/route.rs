//! Which agent a new ticket goes to (spec flow step 4). Pure: the rules and the agents in,
//! a [`Pool`] out; the caller keeps the round-robin counter of each pool in the store.
//!
//! `[[routes]]` match on the address the mail was sent to (To, Cc, Delivered-To, so that
//! `billing@` and `support@` can share one mailbox) and name a team or an agent. [`assign`]
//! then prefers the agent who last helped the customer (sticky), skips agents who are away,
//! outside working hours or at capacity, applies the team's strategy (round robin or fewest
//! open tickets), tries the team's fallback, and if nobody is available picks the member who
//! is back soonest, so the acknowledgement can say honestly when.

use jiff::{Timestamp, Zoned};

use crate::config::{Agent, Config, Route, RouteTarget, Strategy};
use crate::domain::{AgentEmail, AgentLoad, EmailAddress, UnixTime};

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

/// What routing looks at in a new mail.
#[derive(Debug, Clone, Copy)]
pub struct MailFacts<'a> {
    /// To, Cc, Delivered-To, X-Original-To.
    pub recipients: &'a [EmailAddress],
    /// The sender, if valid.
    pub sender: Option<&'a EmailAddress>,
    /// The subject.
    pub subject: &'a str,
    /// The text.
    pub body: &'a str,
}

impl Route {
    /// Whether every condition of the route holds for the mail (a route without conditions
    /// matches everything).
    pub fn matches(&self, mail: &MailFacts<'_>) -> bool {
        let sent_to = |want: &EmailAddress| {
            mail.recipients
                .iter()
                .any(|r| r == want || r.without_detail() == *want)
        };
        let from_domain = |want: &str| {
            mail.sender.is_some_and(|s| {
                let d = s.domain();
                d == want || d.ends_with(&format!(".{want}"))
            })
        };
        // Patterns look at the first 64 KiB of the text: enough to route, bounded in cost.
        let body = mail
            .body
            .get(..mail.body.len().min(65_536))
            .unwrap_or(mail.body);
        self.to.as_ref().is_none_or(sent_to)
            && self.from_domain.as_deref().is_none_or(from_domain)
            && self
                .subject
                .as_ref()
                .is_none_or(|re| re.is_match(mail.subject))
            && self.body.as_ref().is_none_or(|re| re.is_match(body))
    }
}

/// Chooses the pool for a mail: the first matching route's team or agent, else everyone.
pub fn plan(routes: &[Route], agents: &[Agent], mail: &MailFacts<'_>) -> Pool {
    for route in routes {
        if !route.matches(mail) {
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

/// The agent a new ticket goes to, and what to promise the customer.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// The agent.
    pub agent: AgentEmail,
    /// The round-robin counter that advances.
    pub pool_key: String,
    /// Whether they are at work and have capacity now.
    pub available: bool,
    /// When they are back, if they are not available now and their hours say.
    pub back_at: Option<Zoned>,
    /// Chosen because they helped this customer last.
    pub sticky: bool,
}

fn is_away(agent: &Agent, load: AgentLoad) -> bool {
    agent.away || load.away
}

/// Whether `agent` can take a ticket at `now`.
pub fn available(agent: &Agent, load: AgentLoad, now: Timestamp) -> bool {
    !is_away(agent, load)
        && (agent.max_open == 0 || load.open < agent.max_open)
        && agent.hours.is_open(now)
}

/// The pool a stored key names (`team:NAME`, `agent:ADDRESS`, `all`); unknown keys mean
/// everyone.
pub fn pool_by_key(cfg: &Config, key: &str) -> Pool {
    if let Some(team) = key.strip_prefix("team:") {
        return pool_for(cfg, &RouteTarget::Team(team.to_string()));
    }
    if let Some(agent) = key
        .strip_prefix("agent:")
        .and_then(EmailAddress::parse)
        .map(AgentEmail::new)
    {
        return pool_for(cfg, &RouteTarget::Agent(agent));
    }
    Pool {
        key: "all".into(),
        members: cfg.agents.iter().map(|a| a.email.clone()).collect(),
    }
}

fn pool_for(cfg: &Config, target: &RouteTarget) -> Pool {
    match target {
        RouteTarget::Agent(a) => Pool {
            key: format!("agent:{a}"),
            members: vec![a.clone()],
        },
        RouteTarget::Team(team) => Pool {
            key: format!("team:{team}"),
            members: cfg
                .agents
                .iter()
                .filter(|a| a.teams.contains(team))
                .map(|a| a.email.clone())
                .collect(),
        },
    }
}

fn strategy_of(cfg: &Config, pool: &Pool) -> Strategy {
    pool.key
        .strip_prefix("team:")
        .map_or(Strategy::RoundRobin, |t| cfg.team(t).strategy)
}

fn fallback_of(cfg: &Config, pool: &Pool) -> Option<RouteTarget> {
    pool.key
        .strip_prefix("team:")
        .and_then(|t| cfg.team(t).fallback)
}

/// Chooses the agent for a new ticket. `last` is the agent of the customer's previous ticket
/// and when it was last touched; `load` reads the store; `counter` gives a pool's
/// round-robin count. Returns `None` only when no agent is configured.
pub fn assign(
    cfg: &Config,
    mail: &MailFacts<'_>,
    last: Option<(&AgentEmail, UnixTime)>,
    now: Timestamp,
    load: &dyn Fn(&AgentEmail) -> AgentLoad,
    counter: &dyn Fn(&str) -> u64,
) -> Option<Assignment> {
    let first = plan(&cfg.routes, &cfg.agents, mail);
    let agent_of = |e: &AgentEmail| cfg.agent(e);
    let avail = |e: &AgentEmail| agent_of(e).is_some_and(|a| available(a, load(e), now));

    // Sticky: the agent who helped this customer last, if they may take it now.
    if let Some((prev, touched)) = last
        && now.as_second().saturating_sub(touched) <= cfg.routing.sticky.as_secs() as i64
        && first.members.contains(prev)
        && avail(prev)
    {
        return Some(Assignment {
            agent: prev.clone(),
            pool_key: first.key.clone(),
            available: true,
            back_at: None,
            sticky: true,
        });
    }

    // The pool, then its fallback: the first with someone available now.
    let mut pools = vec![first.clone()];
    if let Some(fb) = fallback_of(cfg, &first) {
        pools.push(pool_for(cfg, &fb));
    }
    for pool in &pools {
        let ready: Vec<&AgentEmail> = pool.members.iter().filter(|e| avail(e)).collect();
        if let Some(chosen) = pick(strategy_of(cfg, pool), &ready, counter(&pool.key), load) {
            return Some(Assignment {
                agent: chosen.clone(),
                pool_key: pool.key.clone(),
                available: true,
                back_at: None,
                sticky: false,
            });
        }
    }
    soonest_back(cfg, first, now, load, counter)
}

/// One of the agents `ready` now, by the pool's strategy and its round-robin count `n`;
/// `None` if nobody is ready.
fn pick<'a>(
    strategy: Strategy,
    ready: &[&'a AgentEmail],
    n: u64,
    load: &dyn Fn(&AgentEmail) -> AgentLoad,
) -> Option<&'a AgentEmail> {
    if ready.is_empty() {
        return None;
    }
    Some(match strategy {
        Strategy::RoundRobin => ready[(n % ready.len() as u64) as usize],
        Strategy::LeastOpen => {
            let min = ready.iter().map(|e| load(e).open).min().unwrap_or(0);
            let tied: Vec<&&AgentEmail> = ready.iter().filter(|e| load(e).open == min).collect();
            tied[(n % tied.len() as u64) as usize]
        }
    })
}

/// Nobody is available: the member of the first pool who is back soonest (away agents
/// last), so the acknowledgement can say when; at work but at capacity gives no time to
/// promise, and then the pool's turn decides.
fn soonest_back(
    cfg: &Config,
    first: Pool,
    now: Timestamp,
    load: &dyn Fn(&AgentEmail) -> AgentLoad,
    counter: &dyn Fn(&str) -> u64,
) -> Option<Assignment> {
    let members: Vec<&Agent> = first.members.iter().filter_map(|e| cfg.agent(e)).collect();
    let soonest = members
        .iter()
        .filter(|a| !is_away(a, load(&a.email)))
        // At work but at capacity: there is no "back at" time to promise.
        .filter(|a| !a.hours.is_open(now))
        .filter_map(|a| a.hours.next_open(now).map(|z| (*a, z)))
        .min_by_key(|(_, z)| z.timestamp());
    let (agent, back_at) = match soonest {
        Some((a, z)) => (a, Some(z)),
        None => {
            let n = counter(&first.key);
            (
                *members.get((n % members.len().max(1) as u64) as usize)?,
                None,
            )
        }
    };
    Some(Assignment {
        agent: agent.email.clone(),
        pool_key: first.key,
        available: false,
        back_at,
        sticky: false,
    })
}

/// Who takes over an escalated ticket: within the pool it was routed to (everyone if
/// unknown), the available agent other than `current` with the fewest open tickets.
pub fn reassign_target<'a>(
    cfg: &'a Config,
    pool_key: Option<&str>,
    current: &AgentEmail,
    now: Timestamp,
    load: &dyn Fn(&AgentEmail) -> AgentLoad,
) -> Option<&'a Agent> {
    pool_by_key(cfg, pool_key.unwrap_or("all"))
        .members
        .iter()
        .filter(|e| *e != current)
        .filter_map(|e| cfg.agent(e).map(|a| (a, load(e))))
        .filter(|(a, l)| available(a, *l, now))
        .min_by_key(|(_, l)| l.open)
        .map(|(a, _)| a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(s: &str) -> EmailAddress {
        EmailAddress::parse(s).expect("valid")
    }

    fn facts(recipients: &[EmailAddress]) -> MailFacts<'_> {
        MailFacts {
            recipients,
            sender: None,
            subject: "",
            body: "",
        }
    }

    fn agent(name: &str, mail: &str, teams: &[&str]) -> Agent {
        Agent {
            name: name.into(),
            email: AgentEmail::new(email(mail)),
            teams: teams.iter().map(|t| t.to_string()).collect(),
            hours: crate::hours::WorkingHours::always(),
            away: false,
            max_open: 0,
        }
    }

    fn config(extra: &str) -> Config {
        crate::testing::config(extra)
    }

    const TEAM: &str = r#"
[[agents]]
name = "Jason Miller"
email = "jason@example.test"
teams = ["billing"]
working_hours = "Mon-Fri 09:00-17:00"
timezone = "Europe/Berlin"
max_open = 2
[[agents]]
name = "Kim Lee"
email = "kim@example.test"
teams = ["billing"]
working_hours = "Mon-Fri 13:00-21:00"
timezone = "Europe/Berlin"
[[agents]]
name = "Night Owl"
email = "owl@example.test"
teams = ["night"]
[[teams]]
name = "billing"
strategy = "least_open"
[[routes]]
to = "billing@example.test"
team = "billing"
"#;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn who(a: &Option<Assignment>) -> String {
        a.as_ref().map(|a| a.agent.to_string()).unwrap_or_default()
    }

    #[test]
    fn routes_match_sender_domain_subject_and_body_in_order() {
        let cfg = config(
            r#"
[[agents]]
name = "Vic"
email = "vic@example.test"
teams = ["vip"]
[[agents]]
name = "Ria"
email = "ria@example.test"
teams = ["refunds"]
[[agents]]
name = "Sam"
email = "sam@example.test"
teams = ["security"]
[[routes]]
from_domain = "bigcorp.test"
team = "vip"
[[routes]]
subject = "refund|money back"
team = "refunds"
[[routes]]
body = "password reset|hacked"
team = "security"
"#,
        );
        let to = [email("support@example.test")];
        let pick = |sender: &str, subject: &str, body: &str| {
            let sender = email(sender);
            plan(
                &cfg.routes,
                &cfg.agents,
                &MailFacts {
                    recipients: &to,
                    sender: Some(&sender),
                    subject,
                    body,
                },
            )
            .key
        };
        assert_eq!(
            pick("a@mail.bigcorp.test", "Refund please", ""),
            "team:vip",
            "first matching rule wins"
        );
        assert_eq!(
            pick("a@customer.test", "I want my MONEY BACK", ""),
            "team:refunds"
        );
        assert_eq!(
            pick("a@customer.test", "Help", "I think I was hacked"),
            "team:security"
        );
        assert_eq!(pick("a@notbigcorp.test", "Hello", "Hi"), "all");
    }

    #[test]
    fn a_broken_route_pattern_names_its_key() {
        let err = crate::testing::try_config(
            "[[agents]]\nname = \"A\"\nemail = \"a@example.test\"\n[[routes]]\nsubject = \"(unclosed\"\nagent = \"a@example.test\"\n",
        )
        .expect_err("refused");
        assert!(err.to_string().contains("routes[0].subject"), "{err}");
    }

    #[test]
    fn availability_capacity_stickiness_and_strategy() {
        let cfg = config(TEAM);
        let billing_to = [email("billing@example.test")];
        let billing = MailFacts {
            recipients: &billing_to,
            sender: None,
            subject: "",
            body: "",
        };
        let jason = AgentEmail::new(email("jason@example.test"));
        let idle = |_: &AgentEmail| AgentLoad::default();
        let zero = |_: &str| 0;
        // Wednesday 10:00 CET: only Jason is at work.
        let morning = ts("2026-11-25T09:00:00Z");
        assert_eq!(
            who(&assign(&cfg, &billing, None, morning, &idle, &zero)),
            "jason@example.test"
        );
        // 14:00 CET, both at work, Jason has more open tickets: least_open picks Kim.
        let afternoon = ts("2026-11-25T13:00:00Z");
        let busy_jason = |e: &AgentEmail| AgentLoad {
            open: if e.to_string() == "jason@example.test" {
                1
            } else {
                0
            },
            away: false,
        };
        assert_eq!(
            who(&assign(&cfg, &billing, None, afternoon, &busy_jason, &zero)),
            "kim@example.test"
        );
        // Sticky beats the strategy while Jason is available and within the window…
        let last = Some((&jason, afternoon.as_second() - 86_400));
        let a = assign(&cfg, &billing, last, afternoon, &busy_jason, &zero);
        assert_eq!(who(&a), "jason@example.test");
        assert!(a.expect("assigned").sticky);
        // …but not when Jason is at capacity (max_open = 2)…
        let full = |e: &AgentEmail| AgentLoad {
            open: if e.to_string() == "jason@example.test" {
                2
            } else {
                0
            },
            away: false,
        };
        assert_eq!(
            who(&assign(&cfg, &billing, last, afternoon, &full, &zero)),
            "kim@example.test"
        );
        // …nor when marked away, nor after the sticky window.
        let away = |e: &AgentEmail| AgentLoad {
            open: 0,
            away: e.to_string() == "jason@example.test",
        };
        assert_eq!(
            who(&assign(&cfg, &billing, last, afternoon, &away, &zero)),
            "kim@example.test"
        );
        let old = Some((&jason, afternoon.as_second() - 40 * 86_400));
        assert_eq!(
            who(&assign(&cfg, &billing, old, afternoon, &busy_jason, &zero)),
            "kim@example.test"
        );
    }

    #[test]
    fn escalated_tickets_move_within_their_pool_to_the_least_busy() {
        let cfg = config(
            r#"
[[agents]]
name = "Ann"
email = "ann@example.test"
teams = ["billing"]
[[agents]]
name = "Bob"
email = "bob@example.test"
teams = ["billing"]
[[agents]]
name = "Cid"
email = "cid@example.test"
teams = ["billing"]
[[agents]]
name = "Dee"
email = "dee@example.test"
teams = ["sales"]
"#,
        );
        let ann = AgentEmail::new(email("ann@example.test"));
        let now = ts("2026-11-25T12:00:00Z");
        let load = |e: &AgentEmail| AgentLoad {
            open: if e.to_string() == "bob@example.test" {
                3
            } else {
                1
            },
            away: false,
        };
        let pick =
            |pool| reassign_target(&cfg, pool, &ann, now, &load).map(|a| a.email.to_string());
        assert_eq!(
            pick(Some("team:billing")).as_deref(),
            Some("cid@example.test"),
            "not Ann, not busy Bob, not Dee"
        );
        let all_away = |_: &AgentEmail| AgentLoad {
            open: 0,
            away: true,
        };
        assert_eq!(
            reassign_target(&cfg, Some("team:billing"), &ann, now, &all_away),
            None
        );
    }

    #[test]
    fn nobody_available_means_the_soonest_back_with_an_honest_time() {
        let cfg = config(TEAM);
        let billing_to = [email("billing@example.test")];
        let billing = MailFacts {
            recipients: &billing_to,
            sender: None,
            subject: "",
            body: "",
        };
        let idle = |_: &AgentEmail| AgentLoad::default();
        // Saturday night: Jason back Monday 09:00, Kim Monday 13:00.
        let saturday = ts("2026-11-28T22:00:00Z");
        let a = assign(&cfg, &billing, None, saturday, &idle, &|_| 0).expect("assigned");
        assert_eq!(a.agent.to_string(), "jason@example.test");
        assert!(!a.available);
        let back = a.back_at.expect("back");
        assert_eq!(
            crate::hours::describe_return(&back, saturday),
            "Monday at 09:00 CET"
        );
    }

    #[test]
    fn an_agent_on_leave_is_not_available_and_the_other_is_back_soonest() {
        // Jason is on leave all of Monday 30 November: Kim, back at 13:00, takes it.
        let cfg = config(&format!(
            "{TEAM}\n[[closures]]\nagent = \"jason@example.test\"\nfrom = \"2026-11-30\"\n"
        ));
        let billing_to = [email("billing@example.test")];
        let billing = MailFacts {
            recipients: &billing_to,
            sender: None,
            subject: "",
            body: "",
        };
        let idle = |_: &AgentEmail| AgentLoad::default();
        let monday_morning = ts("2026-11-30T09:00:00Z");
        let jason = cfg.agents.first().expect("jason");
        assert!(!available(jason, AgentLoad::default(), monday_morning));
        let saturday = ts("2026-11-28T22:00:00Z");
        let a = assign(&cfg, &billing, None, saturday, &idle, &|_| 0).expect("assigned");
        assert_eq!(a.agent.to_string(), "kim@example.test");
        let back = a.back_at.expect("back");
        assert_eq!(
            crate::hours::describe_return(&back, saturday),
            "Monday at 13:00 CET"
        );
    }

    #[test]
    fn team_fallback_takes_over() {
        let cfg = config(&format!("{TEAM}\n[[teams]]\nname = \"night\"\n").replace(
            "strategy = \"least_open\"",
            "strategy = \"least_open\"\nfallback = \"night\"",
        ));
        let billing_to = [email("billing@example.test")];
        let billing = MailFacts {
            recipients: &billing_to,
            sender: None,
            subject: "",
            body: "",
        };
        let saturday = ts("2026-11-28T22:00:00Z");
        let a = assign(
            &cfg,
            &billing,
            None,
            saturday,
            &|_| AgentLoad::default(),
            &|_| 0,
        )
        .expect("assigned");
        assert_eq!(a.agent.to_string(), "owl@example.test");
        assert!(a.available);
        assert_eq!(a.pool_key, "team:night");
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
            from_domain: None,
            subject: None,
            body: None,
            target: RouteTarget::Team("billing".into()),
        }];
        let to = |a: &str| vec![email(a)];
        let billing = plan(&routes, &agents, &facts(&to("billing@example.test")));
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

        let detail = plan(&routes, &agents, &facts(&to("billing+x@example.test")));
        assert_eq!(detail.key, "team:billing");

        let other = plan(&routes, &agents, &facts(&to("support@example.test")));
        assert_eq!(other.key, "all");
        assert_eq!(other.members.len(), 3);
        assert_eq!(
            other.pick(4).expect("member").to_string(),
            "maria@example.test"
        );
    }
}
