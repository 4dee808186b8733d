//! Stage one to stage two: [`RawConfig`] → [`Config`]. Every problem (key, message, fix) is
//! collected, and only when there is none is the configuration returned, so the operator
//! sees every problem at once.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::raw::{RawConfig, RawImap};
use super::secrets::{Secret, read_secret_file};
use super::{
    AckPolicy, Agent, Alerts, Auth, Backup, Config, ConfigError, Imap, Inbox, Limits, Problem,
    Retention, RetryPolicy, Route, RouteTarget, Routing, Service, Sla, Smtp, Team, TlsMode,
    TokenCommand,
};
use crate::domain::{AgentEmail, EmailAddress};

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The problems found so far, in the order the sections are checked.
struct Collector(Vec<Problem>);

impl Collector {
    fn add(&mut self, key: &str, message: impl Into<String>, fix: impl Into<String>) {
        self.0.push(Problem {
            key: key.into(),
            message: message.into(),
            fix: fix.into(),
        });
    }
}

fn secret(
    c: &mut Collector,
    section: &str,
    password: Option<String>,
    password_file: Option<PathBuf>,
    credentials_dir: Option<&Path>,
) -> Option<Secret> {
    match (password, password_file) {
        (Some(_), Some(_)) => {
            c.add(
                &format!("{section}.password"),
                "both password and password_file are set",
                format!("keep only {section}.password_file (or only {section}.password)"),
            );
            None
        }
        (Some(p), None) => Some(Secret::new(p)),
        (None, Some(f)) => match read_secret_file(&f, credentials_dir) {
            Ok(s) if s.is_empty() => {
                c.add(
                    &format!("{section}.password_file"),
                    format!("{} is empty", f.display()),
                    "write the password into the file (one line)",
                );
                None
            }
            Ok(s) => Some(Secret::new(s)),
            Err(e) => {
                c.add(
                    &format!("{section}.password_file"),
                    e,
                    "point it at a readable file, or under systemd use LoadCredential= and a relative name",
                );
                None
            }
        },
        (None, None) => None,
    }
}

/// The raw login keys of `[imap]` or `[smtp]`.
struct RawLogin {
    password: Option<String>,
    password_file: Option<PathBuf>,
    oauth2_token_command: Option<String>,
    oauth2_token_lifetime_minutes: u64,
    oauth2_token_timeout_seconds: u64,
}

/// A password (see [`secret`]) or an XOAUTH2 token command: at most one of them.
fn credential(
    c: &mut Collector,
    section: &str,
    raw: RawLogin,
    credentials_dir: Option<&Path>,
) -> Option<Auth> {
    let key = format!("{section}.oauth2_token_command");
    let Some(command) = raw.oauth2_token_command else {
        return secret(c, section, raw.password, raw.password_file, credentials_dir)
            .map(Auth::Password);
    };
    let password_key = match (&raw.password, &raw.password_file) {
        (Some(_), _) => Some("password"),
        (None, Some(_)) => Some("password_file"),
        (None, None) => None,
    };
    if let Some(other) = password_key {
        c.add(
            &key,
            format!("both oauth2_token_command and {other} are set; a login uses one of them"),
            format!(
                "keep only {key} (XOAUTH2, e.g. for Gmail or Microsoft 365) or only {section}.{other}"
            ),
        );
        return None;
    }
    if command.trim().is_empty() {
        c.add(
            &key,
            "is empty",
            "set it to a command that prints an access token, e.g. oauth2_token_command = \"/usr/local/bin/oauth2-token support@example.com\"",
        );
        return None;
    }
    if raw.oauth2_token_timeout_seconds == 0 {
        c.add(
            &format!("{section}.oauth2_token_timeout_seconds"),
            "must be at least 1",
            "use the default (20)",
        );
        return None;
    }
    Some(Auth::OAuth2(TokenCommand {
        section: section.to_string(),
        command,
        lifetime: secs(raw.oauth2_token_lifetime_minutes.saturating_mul(60)),
        timeout: secs(raw.oauth2_token_timeout_seconds),
    }))
}

fn check_tls(c: &mut Collector, section: &str, host: &str, tls: TlsMode) {
    if tls == TlsMode::None && !is_loopback(host) {
        c.add(
            &format!("{section}.tls"),
            format!(
                "\"none\" would send the password in clear text to {host}, which is not a loopback address"
            ),
            format!(
                "use {section}.tls = \"implicit\" or \"starttls\"; \"none\" is only for 127.0.0.1/localhost"
            ),
        );
    }
}

fn check_ca(c: &mut Collector, key: &str, ca: &Option<PathBuf>) {
    if let Some(p) = ca
        && !p.is_file()
    {
        c.add(
            key,
            format!("{} does not exist", p.display()),
            "point it at a PEM file holding the CA certificate(s), or remove the key to use the public roots",
        );
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Checks one IMAP section (`imap`, `inboxes[N].imap`) and builds it; `None` when it has
/// problems (all of them are in `c`). The login defaults to `default_username`.
fn imap_section(
    c: &mut Collector,
    section: &str,
    imap: &RawImap,
    cred_dir: Option<&Path>,
    default_username: String,
) -> Option<Imap> {
    check_tls(c, section, &imap.host, imap.tls);
    check_ca(c, &format!("{section}.ca_file"), &imap.ca_file);
    let auth = credential(
        c,
        section,
        RawLogin {
            password: imap.password.clone(),
            password_file: imap.password_file.clone(),
            oauth2_token_command: imap.oauth2_token_command.clone(),
            oauth2_token_lifetime_minutes: imap.oauth2_token_lifetime_minutes,
            oauth2_token_timeout_seconds: imap.oauth2_token_timeout_seconds,
        },
        cred_dir,
    );
    if auth.is_none()
        && imap.password.is_none()
        && imap.password_file.is_none()
        && imap.oauth2_token_command.is_none()
    {
        c.add(
            &format!("{section}.password"),
            "no IMAP credential is configured",
            format!("set {section}.password_file (with systemd LoadCredential=), {section}.password, FRONTDESK__IMAP__PASSWORD, or {section}.oauth2_token_command (XOAUTH2)"),
        );
    }
    if !(1..=28).contains(&imap.idle_renew_minutes) {
        c.add(
            &format!("{section}.idle_renew_minutes"),
            format!("{} is outside 1..=28", imap.idle_renew_minutes),
            "RFC 2177 servers drop IDLE after 29 minutes: use 20",
        );
    }
    if imap.poll_interval_seconds == 0 || imap.fetch_batch == 0 {
        c.add(
            &format!("{section}.poll_interval_seconds"),
            "poll_interval_seconds and fetch_batch must be at least 1",
            "use the defaults (30 and 50)",
        );
    }
    if imap.mailbox.trim().is_empty() {
        c.add(
            &format!("{section}.mailbox"),
            "is empty",
            "use mailbox = \"INBOX\"",
        );
    }
    let port = imap.port.unwrap_or(match imap.tls {
        TlsMode::Implicit => 993,
        _ => 143,
    });
    Some(Imap {
        host: imap.host.clone(),
        port,
        tls: imap.tls,
        ca_file: imap.ca_file.clone(),
        username: imap.username.clone().unwrap_or(default_username),
        auth: auth?,
        mailbox: imap.mailbox.clone(),
        processed_mailbox: imap.processed_mailbox.clone(),
        idle_renew: secs(imap.idle_renew_minutes * 60),
        poll_interval: secs(imap.poll_interval_seconds),
        backfill: secs(imap.backfill_hours * 3600),
        connect_timeout: secs(imap.connect_timeout_seconds.max(1)),
        command_timeout: secs(imap.command_timeout_seconds.max(1)),
        fetch_batch: imap.fetch_batch,
    })
}

impl RawConfig {
    /// Checks every section, reading secret files (relative names in `credentials_dir`)
    /// unless `secrets` is false, when they stay empty. `file` is named in the result.
    pub(super) fn validate(
        mut self,
        file: &Path,
        credentials_dir: Option<PathBuf>,
        secrets: bool,
    ) -> Result<Config, ConfigError> {
        if !secrets {
            // Validate everything else; secrets become empty placeholders.
            for (pw, pf) in [
                (&mut self.imap.password, &mut self.imap.password_file),
                (&mut self.smtp.password, &mut self.smtp.password_file),
            ] {
                if pw.is_some() || pf.is_some() {
                    *pw = Some(String::new());
                    *pf = None;
                }
            }
            for imap in
                std::iter::once(&mut self.imap).chain(self.inboxes.iter_mut().map(|i| &mut i.imap))
            {
                if imap.password.is_some() || imap.password_file.is_some() {
                    imap.password = Some(String::new());
                    imap.password_file = None;
                }
                if imap.password.is_none() && imap.oauth2_token_command.is_none() {
                    imap.password = Some(String::new());
                }
            }
        }
        let mut c = Collector(Vec::new());
        let cred_dir = credentials_dir.as_deref();

        // [service]
        let name = crate::mail::sanitize::header_text(&self.service.name, 80);
        if name.is_empty() || name.contains(['[', ']', '#']) {
            c.add(
                "service.name",
                "must be a non-empty name without [ ] or # (it forms the ticket tag)",
                "e.g. name = \"Acme Support\"",
            );
        }
        let address = EmailAddress::parse(&self.service.address);
        if address.is_none() {
            c.add(
                "service.address",
                format!("{:?} is not an e-mail address", self.service.address),
                "e.g. address = \"support@example.com\"",
            );
        }
        let token_secret = match &self.service.token_secret_file {
            _ if !secrets => None,
            None => {
                c.add(
                    "service.token_secret_file",
                    "is required: it keys the tokens that let agents answer customers by mail",
                    "generate a key: head -c 32 /dev/urandom | base64 > /etc/frontdesk/credentials/token.key, and set token_secret_file to it (under systemd: /run/credentials/frontdesk.service/token.key)",
                );
                None
            }
            Some(f) => match read_secret_file(f, cred_dir) {
                Ok(s) if s.len() >= 16 => Some(Secret::new(s)),
                Ok(_) => {
                    c.add(
                        "service.token_secret_file",
                        format!("{} holds fewer than 16 bytes", f.display()),
                        format!(
                            "generate a key: head -c 32 /dev/urandom | base64 > {}",
                            f.display()
                        ),
                    );
                    None
                }
                Err(e) => {
                    c.add(
                        "service.token_secret_file",
                        e,
                        format!(
                            "generate a key: head -c 32 /dev/urandom | base64 > {}",
                            f.display()
                        ),
                    );
                    None
                }
            },
        };
        if let Some(d) = &self.service.templates_dir
            && !d.is_dir()
        {
            c.add(
                "service.templates_dir",
                format!("{} is not a directory", d.display()),
                "point it at a directory of *.hbs overrides, or remove the key to use the built-in templates",
            );
        }

        // [imap] and [[inboxes]]
        let main_imap = imap_section(
            &mut c,
            "imap",
            &self.imap,
            cred_dir,
            address.as_ref().map(|a| a.to_string()).unwrap_or_default(),
        );
        let mut inboxes = Vec::new();
        for (n, raw) in self.inboxes.iter().enumerate() {
            let key = format!("inboxes[{n}]");
            let Some(inbox_address) = EmailAddress::parse(&raw.address) else {
                c.add(
                    &format!("{key}.address"),
                    format!("{:?} is not an e-mail address", raw.address),
                    "e.g. address = \"billing@example.com\"",
                );
                continue;
            };
            let name = raw
                .name
                .clone()
                .unwrap_or_else(|| inbox_address.local_part().to_string());
            let taken = address.as_ref() == Some(&inbox_address)
                || inboxes
                    .iter()
                    .any(|i: &Inbox| i.address == inbox_address || i.name == name);
            if taken {
                c.add(
                    &key,
                    format!("inbox {name} <{inbox_address}> is configured twice"),
                    "give every inbox its own address and name (the main inbox is [service] address with [imap])",
                );
            }
            let imap = imap_section(
                &mut c,
                &format!("{key}.imap"),
                &raw.imap,
                cred_dir,
                inbox_address.to_string(),
            );
            if let Some(imap) = imap {
                inboxes.push(Inbox {
                    name,
                    address: inbox_address,
                    imap,
                });
            }
        }
        let mut store_keys: Vec<String> = inboxes.iter().map(|i| i.imap.store_key()).collect();
        if let Some(m) = &main_imap {
            store_keys.push(m.store_key());
        }
        store_keys.sort();
        if store_keys.windows(2).any(|w| w[0] == w[1]) {
            c.add(
                "inboxes",
                "two inboxes watch the same mailbox of the same account",
                "each inbox needs its own account or mailbox",
            );
        }

        // [alerts]
        let alerts = self.alerts.as_ref().and_then(|a| {
            let Some(to) = EmailAddress::parse(&a.to) else {
                c.add(
                    "alerts.to",
                    format!("{:?} is not an e-mail address", a.to),
                    "e.g. to = \"ops@example.com\"",
                );
                return None;
            };
            Some(Alerts {
                to,
                after_failures: a.after_failures.max(1),
            })
        });

        // [smtp]
        let smtp = &self.smtp;
        check_tls(&mut c, "smtp", &smtp.host, smtp.tls);
        check_ca(&mut c, "smtp.ca_file", &smtp.ca_file);
        let smtp_auth = credential(
            &mut c,
            "smtp",
            RawLogin {
                password: smtp.password.clone(),
                password_file: smtp.password_file.clone(),
                oauth2_token_command: smtp.oauth2_token_command.clone(),
                oauth2_token_lifetime_minutes: smtp.oauth2_token_lifetime_minutes,
                oauth2_token_timeout_seconds: smtp.oauth2_token_timeout_seconds,
            },
            cred_dir,
        );
        let smtp_credentials = match (smtp.username.clone(), smtp_auth) {
            (Some(u), Some(p)) => Some((u, p)),
            (None, Some(p)) => address.as_ref().map(|a| (a.to_string(), p)),
            (Some(_), None) => {
                if smtp.password.is_none()
                    && smtp.password_file.is_none()
                    && smtp.oauth2_token_command.is_none()
                {
                    c.add(
                        "smtp.password",
                        "smtp.username is set but no password",
                        "set smtp.password_file, smtp.password, FRONTDESK__SMTP__PASSWORD or smtp.oauth2_token_command (XOAUTH2), or remove smtp.username for an unauthenticated relay",
                    );
                }
                None
            }
            (None, None) => None,
        };
        if smtp.pool_size == 0 || smtp.timeout_seconds == 0 || smtp.retry_initial_seconds == 0 {
            c.add(
                "smtp.pool_size",
                "pool_size, timeout_seconds and retry_initial_seconds must be at least 1",
                "use the defaults (4, 30, 10)",
            );
        }

        // [acknowledgement]
        if self.acknowledgement.quote_lines > 50 {
            c.add(
                "acknowledgement.quote_lines",
                "quoting more than 50 lines turns an acknowledgement into a copy (RFC 3834 asks for a brief excerpt)",
                "use 6",
            );
        }

        // [[agents]]
        let mut agents: Vec<Agent> = Vec::new();
        if self.agents.is_empty() {
            c.add(
                "agents",
                "no [[agents]] are configured; every ticket needs a named agent",
                "add [[agents]] with name = \"Jason Miller\" and email = \"jason@example.com\"",
            );
        }
        for (i, a) in self.agents.iter().enumerate() {
            let key = format!("agents[{i}]");
            let name = crate::mail::sanitize::header_text(&a.name, 80);
            if name.is_empty() {
                c.add(
                    &format!("{key}.name"),
                    "is empty",
                    "give the agent's full name",
                );
            }
            match EmailAddress::parse(&a.email) {
                None => c.add(
                    &format!("{key}.email"),
                    format!("{:?} is not an e-mail address", a.email),
                    "e.g. email = \"jason@example.com\"",
                ),
                Some(e) => {
                    let email = AgentEmail::new(e);
                    if agents.iter().any(|x| x.email == email) {
                        c.add(
                            &format!("{key}.email"),
                            format!("{email} is configured twice"),
                            "keep one [[agents]] entry per address",
                        );
                    } else if Some(email.address()) == address.as_ref() {
                        c.add(
                            &format!("{key}.email"),
                            "an agent cannot use the support address itself",
                            "use the agent's personal address",
                        );
                    } else {
                        let tz = a.timezone.as_deref().unwrap_or(&self.routing.timezone);
                        let hours = match &a.working_hours {
                            None => crate::hours::WorkingHours::parse("", tz),
                            Some(spec) => crate::hours::WorkingHours::parse(spec, tz),
                        };
                        let hours = match hours {
                            Ok(h) => h,
                            Err(e) => {
                                c.add(
                                    &format!("{key}.working_hours"),
                                    e,
                                    "e.g. working_hours = \"Mon-Fri 09:00-17:00\" with timezone = \"Europe/Berlin\"",
                                );
                                crate::hours::WorkingHours::always()
                            }
                        };
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
            }
        }

        // [[teams]]
        let resolve_target = |c: &mut Collector, key: &str, target: &str| -> Option<RouteTarget> {
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
        };
        let mut teams = Vec::new();
        for (i, t) in self.teams.iter().enumerate() {
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
                .and_then(|f| resolve_target(&mut c, &format!("{key}.fallback"), f));
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

        // [sla]
        let sla_lead = self.sla.lead.as_deref().and_then(|l| {
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
        if self.sla.first_response_minutes.is_some() && self.sla.lead.is_none() {
            c.add(
                "sla.lead",
                "first_response_minutes is set but nobody would be told when it is missed",
                "set [sla] lead = \"lead@example.com\" (or lead in each [[teams]] entry)",
            );
        }
        for (i, t) in self.teams.iter().enumerate() {
            if t.first_response_minutes.is_some() && t.lead.is_none() && self.sla.lead.is_none() {
                c.add(
                    &format!("teams[{i}].lead"),
                    "the team has a first-response target but no lead to tell",
                    "set lead in the team or [sla] lead",
                );
            }
        }

        // [metrics]
        let metrics_listen = self.metrics.listen.as_deref().and_then(|l| {
            match l.parse::<std::net::SocketAddr>() {
                Ok(a) if a.ip().is_loopback() => Some(a),
                Ok(a) => {
                    c.add(
                        "metrics.listen",
                        format!("{a} is not a loopback address; metrics and health stay on this host"),
                        "use listen = \"127.0.0.1:9187\" and let a local agent or an SSH tunnel scrape it",
                    );
                    None
                }
                Err(_) => {
                    c.add(
                        "metrics.listen",
                        format!("{l:?} is not an address with a port"),
                        "e.g. listen = \"127.0.0.1:9187\"",
                    );
                    None
                }
            }
        });

        // [[routes]]
        let mut routes = Vec::new();
        for (i, r) in self.routes.iter().enumerate() {
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
            let target = match (&r.team, &r.agent) {
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
                        &key,
                        "a route needs exactly one of team or agent",
                        "e.g. to = \"billing@example.com\" with team = \"billing\"",
                    );
                    None
                }
            };
            let pattern =
                |c: &mut Collector, field: &str, text: &Option<String>| -> Option<regex::Regex> {
                    let text = text.as_deref()?;
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
                };
            let subject = pattern(&mut c, "subject", &r.subject);
            let body = pattern(&mut c, "body", &r.body);
            let from_domain = r
                .from_domain
                .as_deref()
                .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase());
            if let Some(target) = target {
                routes.push(Route {
                    to: to.clone(),
                    from_domain,
                    subject,
                    body,
                    target,
                });
            }
        }

        let state_dir = self.service.state_dir.clone();
        let (Some(address), Some(main_imap), true) = (address, main_imap, c.0.is_empty()) else {
            return Err(ConfigError::Invalid {
                file: file.to_path_buf(),
                problems: c.0,
            });
        };

        let smtp_port = smtp.port.unwrap_or(match smtp.tls {
            TlsMode::Implicit => 465,
            TlsMode::Starttls => 587,
            TlsMode::None => 25,
        });
        Ok(Config {
            source: file.to_path_buf(),
            service: Service {
                name,
                address: address.clone(),
                state_dir: state_dir.clone(),
                token_secret,
                templates_dir: self.service.templates_dir,
                reply_tokens: self.service.reply_tokens,
                trusted_authserv_id: self.service.trusted_authserv_id.clone(),
            },
            imap: main_imap,
            smtp: Smtp {
                host: smtp.host.clone(),
                port: smtp_port,
                tls: smtp.tls,
                ca_file: smtp.ca_file.clone(),
                credentials: smtp_credentials,
                pool_size: smtp.pool_size,
                timeout: secs(smtp.timeout_seconds),
                retry: RetryPolicy {
                    initial: secs(smtp.retry_initial_seconds),
                    max: secs(smtp.retry_max_seconds.max(smtp.retry_initial_seconds)),
                    give_up_after: secs(smtp.give_up_hours * 3600),
                },
            },
            ack: AckPolicy {
                enabled: self.acknowledgement.enabled,
                per_sender_per_day: self.acknowledgement.per_sender_per_day,
                quote_lines: self.acknowledgement.quote_lines,
                require_aligned_sender: self.acknowledgement.require_aligned_sender,
                max_per_hour: self.acknowledgement.max_per_hour,
            },
            limits: Limits {
                max_message_bytes: self.limits.max_message_bytes,
                flood_tickets: self.limits.flood_tickets.max(1),
                flood_window: secs(self.limits.flood_window_minutes.saturating_mul(60)),
                flood_notifications: self.limits.flood_notifications.max(1),
            },
            routing: Routing {
                sticky: secs(self.routing.sticky_days.saturating_mul(86_400)),
                reopen_window: secs(self.tickets.reopen_days.saturating_mul(86_400)),
            },
            agents,
            teams,
            routes,
            sla: Sla {
                first_response: self
                    .sla
                    .first_response_minutes
                    .map(|m| secs(m.saturating_mul(60))),
                lead: sla_lead,
                check_interval: secs(self.sla.check_interval_seconds.unwrap_or(60).max(1)),
                reassign: self.sla.reassign,
            },
            metrics_listen,
            inboxes,
            alerts,
            backup: Backup {
                dir: self.backup.dir.unwrap_or_else(|| state_dir.join("backups")),
                interval: (self.backup.interval_hours > 0)
                    .then(|| secs(self.backup.interval_hours.saturating_mul(3600))),
                keep: self.backup.keep.max(1),
            },
            retention: Retention {
                body: (self.retention.body_days > 0)
                    .then(|| secs(self.retention.body_days.saturating_mul(86_400))),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        assert!(is_loopback("127.0.0.1"));
        assert!(is_loopback("127.8.9.1"));
        assert!(is_loopback("::1"));
        assert!(is_loopback("[::1]"));
        assert!(is_loopback("LOCALHOST"));
        assert!(!is_loopback("10.0.0.1"));
        assert!(!is_loopback("localhost.example.com"));
    }
}
