//! The mail servers: `[imap]`, every `[[inboxes]]` entry with its own `imap` (and its own
//! `smtp`, if it has one), and `[smtp]`. Plaintext is allowed only towards a loopback
//! address.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::credentials::credential;
use super::{Collector, secs};
use crate::config::raw::{RawImap, RawInbox, RawInboxSmtp, RawSmtp};
use crate::config::{Imap, Inbox, RetryPolicy, Smtp, TlsMode};
use crate::domain::EmailAddress;

/// Checks one IMAP section (`imap`, `inboxes[N].imap`) and builds it; `None` when it has
/// problems (all of them are in `c`). The login defaults to `default_username`.
pub(super) fn imap_section(
    c: &mut Collector,
    section: &str,
    imap: &RawImap,
    cred_dir: Option<&Path>,
    default_username: String,
) -> Option<Imap> {
    check_tls(c, section, &imap.host, imap.tls);
    check_ca(c, &format!("{section}.ca_file"), &imap.ca_file);
    let login = imap.login();
    let unset = login.is_unset();
    let auth = credential(c, section, login, cred_dir);
    if auth.is_none() && unset {
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
    let renew_seconds = imap.idle_renew_minutes.saturating_mul(60);
    if imap.idle_check_seconds != 0
        && !(10..=renew_seconds.max(10)).contains(&imap.idle_check_seconds)
    {
        c.add(
            &format!("{section}.idle_check_seconds"),
            format!(
                "{} is outside 10..={renew_seconds} (idle_renew_minutes)",
                imap.idle_check_seconds
            ),
            "use 0 (off) or e.g. 60 for a server whose IDLE does not push",
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
        idle_check: (imap.idle_check_seconds > 0).then(|| secs(imap.idle_check_seconds)),
        poll_interval: secs(imap.poll_interval_seconds),
        backfill: secs(imap.backfill_hours * 3600),
        connect_timeout: secs(imap.connect_timeout_seconds.max(1)),
        command_timeout: secs(imap.command_timeout_seconds.max(1)),
        fetch_batch: imap.fetch_batch,
    })
}

/// What every `[[inboxes]]` entry falls back to: the main inbox's address and IMAP account,
/// and `[smtp]` as written and as built.
pub(super) struct Main<'a> {
    pub(super) address: Option<&'a EmailAddress>,
    pub(super) imap: Option<&'a Imap>,
    pub(super) raw_smtp: &'a RawSmtp,
    pub(super) smtp: &'a Smtp,
    /// `service.language`, the default of every inbox that sets none.
    pub(super) language: &'a str,
}

/// Checks every `[[inboxes]]` entry (each login defaults to its address) and that no two
/// inboxes, the main one included, watch the same mailbox; returns those that are usable.
pub(super) fn inboxes(
    c: &mut Collector,
    raw_inboxes: &[RawInbox],
    main: &Main<'_>,
    cred_dir: Option<&Path>,
) -> Vec<Inbox> {
    let (address, main_imap) = (main.address, main.imap);
    let mut inboxes = Vec::new();
    for (n, raw) in raw_inboxes.iter().enumerate() {
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
        let taken = address == Some(&inbox_address)
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
            c,
            &format!("{key}.imap"),
            &raw.imap,
            cred_dir,
            inbox_address.to_string(),
        );
        let smtp = match &raw.smtp {
            Some(own) => inbox_smtp(c, &key, own, main, &inbox_address, cred_dir),
            None => main.smtp.clone(),
        };
        let language =
            super::service::language(c, &format!("{key}.language"), raw.language.as_deref())
                .unwrap_or_else(|| main.language.to_string());
        if let Some(imap) = imap {
            inboxes.push(Inbox {
                name,
                address: inbox_address,
                language,
                imap,
                smtp,
            });
        }
    }
    let mut store_keys: Vec<String> = inboxes.iter().map(|i| i.imap.store_key()).collect();
    if let Some(m) = main_imap {
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
    inboxes
}

/// Checks an inbox's own `[inboxes.smtp]` (`key` is the inbox's, `inboxes[N]`) and builds
/// its account; every key it leaves out falls back to `[smtp]`'s:
/// - `host` and `tls` from `[smtp]`; `port` too, unless the inbox names its own host or
///   `tls` (then the port that mode implies: 465, 587 or 25); `ca_file` only with the host;
/// - the login as a whole: with a password, password_file or oauth2_token_command of its
///   own, the username defaults to the inbox's address (hosted mail: each address is its
///   own account); with none of them, `[smtp]`'s login is used (a username alone is refused);
/// - the pool, timeout and retry settings from `[smtp]`.
fn inbox_smtp(
    c: &mut Collector,
    key: &str,
    own: &RawInboxSmtp,
    main: &Main<'_>,
    address: &EmailAddress,
    cred_dir: Option<&Path>,
) -> Smtp {
    let section = format!("{key}.smtp");
    let base = main.smtp;
    let host = own.host.clone().unwrap_or_else(|| base.host.clone());
    let tls = own.tls.unwrap_or(base.tls);
    if own.host.is_some() || own.tls.is_some() {
        check_tls(c, &section, &host, tls);
    }
    check_ca(c, &format!("{section}.ca_file"), &own.ca_file);
    let same_server = own.host.is_none() && own.tls.is_none();
    let port = own
        .port
        .or(same_server.then_some(base.port))
        .unwrap_or(default_smtp_port(tls));
    let ca_file = match own.host {
        Some(_) => own.ca_file.clone(),
        None => own.ca_file.clone().or_else(|| base.ca_file.clone()),
    };
    let mut login_section = base.login_section.clone();
    let credentials = match own.login(main.raw_smtp) {
        Some(login) => {
            login_section = section.clone();
            credential(c, &section, login, cred_dir).map(|auth| {
                let user = own.username.clone().unwrap_or_else(|| address.to_string());
                (user, auth)
            })
        }
        None if own.username.is_some() => {
            c.add(
                &format!("{section}.password"),
                format!("{section}.username is set but no password"),
                format!(
                    "set {section}.password_file, {section}.password or {section}.oauth2_token_command (XOAUTH2), or remove {section}.username to send with [smtp]'s login"
                ),
            );
            None
        }
        None => base.credentials.clone(),
    };
    let numbers = [
        own.pool_size.map(u64::from),
        own.timeout_seconds,
        own.retry_initial_seconds,
    ];
    if numbers.contains(&Some(0)) {
        c.add(
            &format!("{section}.pool_size"),
            "pool_size, timeout_seconds and retry_initial_seconds must be at least 1",
            "leave them out to use [smtp]'s",
        );
    }
    let initial = own.retry_initial_seconds.map_or(base.retry.initial, secs);
    Smtp {
        host,
        port,
        tls,
        ca_file,
        credentials,
        login_section,
        pool_size: own.pool_size.unwrap_or(base.pool_size),
        timeout: own.timeout_seconds.map_or(base.timeout, secs),
        retry: RetryPolicy {
            initial,
            max: own
                .retry_max_seconds
                .map_or(base.retry.max, secs)
                .max(initial),
            give_up_after: own
                .give_up_hours
                .map_or(base.retry.give_up_after, |h| secs(h.saturating_mul(3600))),
        },
    }
}

/// The port a TLS mode implies for SMTP submission.
fn default_smtp_port(tls: TlsMode) -> u16 {
    match tls {
        TlsMode::Implicit => 465,
        TlsMode::Starttls => 587,
        TlsMode::None => 25,
    }
}

/// Checks `[smtp]` and builds it (its problems are in `c`). The login defaults to the
/// support `address`; with no password or token command we send without a login.
pub(super) fn smtp(
    c: &mut Collector,
    smtp: &RawSmtp,
    address: Option<&EmailAddress>,
    cred_dir: Option<&Path>,
) -> Smtp {
    check_tls(c, "smtp", &smtp.host, smtp.tls);
    check_ca(c, "smtp.ca_file", &smtp.ca_file);
    let login = smtp.login();
    let unset = login.is_unset();
    let auth = credential(c, "smtp", login, cred_dir);
    let credentials = match (smtp.username.clone(), auth) {
        (Some(u), Some(p)) => Some((u, p)),
        (None, Some(p)) => address.map(|a| (a.to_string(), p)),
        (Some(_), None) => {
            if unset {
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
    let port = smtp.port.unwrap_or(default_smtp_port(smtp.tls));
    Smtp {
        host: smtp.host.clone(),
        port,
        tls: smtp.tls,
        ca_file: smtp.ca_file.clone(),
        credentials,
        login_section: "smtp".into(),
        pool_size: smtp.pool_size,
        timeout: secs(smtp.timeout_seconds),
        retry: RetryPolicy {
            initial: secs(smtp.retry_initial_seconds),
            max: secs(smtp.retry_max_seconds.max(smtp.retry_initial_seconds)),
            give_up_after: secs(smtp.give_up_hours * 3600),
        },
    }
}

/// `tls = "none"` towards a host that is not loopback would send the password in clear.
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

/// A configured CA file must exist.
fn check_ca(c: &mut Collector, key: &str, ca: &Option<PathBuf>) {
    if let Some(p) = ca
        && !p.is_file()
    {
        c.add(
            key,
            format!("{} does not exist", p.display()),
            "point it at a PEM file holding the CA certificate(s), or remove the key to use the system's trust store",
        );
    }
}

/// `localhost`, or a loopback IP address (IPv6 with or without brackets).
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
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
