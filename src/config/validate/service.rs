//! The `[service]` section: who we are, where the store lives, the reply-token key.

use std::path::Path;

use super::Collector;
use crate::config::Service;
use crate::config::raw::RawService;
use crate::config::secrets::{Secret, read_secret_file};
use crate::domain::EmailAddress;

/// Checks `[service]` and builds it; `None` when the support address is unusable (every
/// problem is in `c`). The token key is left out when `secrets` is false.
pub(super) fn service(
    c: &mut Collector,
    raw: &RawService,
    cred_dir: Option<&Path>,
    secrets: bool,
) -> Option<Service> {
    let name = crate::mail::sanitize::header_text(&raw.name, 80);
    if name.is_empty() || name.contains(['[', ']', '#']) {
        c.add(
            "service.name",
            "must be a non-empty name without [ ] or # (it forms the ticket tag)",
            "e.g. name = \"Acme Support\"",
        );
    }
    let address = EmailAddress::parse(&raw.address);
    if address.is_none() {
        c.add(
            "service.address",
            format!("{:?} is not an e-mail address", raw.address),
            "e.g. address = \"support@example.com\"",
        );
    }
    let token_secret = if secrets {
        token_secret(c, raw.token_secret_file.as_deref(), cred_dir)
    } else {
        None
    };
    if let Some(d) = &raw.templates_dir
        && !d.is_dir()
    {
        c.add(
            "service.templates_dir",
            format!("{} is not a directory", d.display()),
            "point it at a directory of *.hbs overrides, or remove the key to use the built-in templates",
        );
    }
    let language = language(c, "service.language", Some(&raw.language))
        .unwrap_or_else(|| crate::lang::ENGLISH.to_string());
    Some(Service {
        name,
        address: address?,
        state_dir: raw.state_dir.clone(),
        token_secret,
        templates_dir: raw.templates_dir.clone(),
        reply_tokens: raw.reply_tokens,
        trusted_authserv_id: raw.trusted_authserv_id.clone(),
        language,
    })
}

/// A default language at `key`: a primary language subtag in lower case (`en`, `de`);
/// `None` when it is not set or not one (the problem is in `c`). Whether a template set
/// exists for it is checked with the templates.
pub(super) fn language(c: &mut Collector, key: &str, raw: Option<&str>) -> Option<String> {
    let raw = raw?;
    match crate::lang::normalize(raw) {
        Some(tag) if tag == raw => Some(tag),
        _ => {
            c.add(
                key,
                format!("{raw:?} is not a language subtag"),
                "write the two-letter code in lower case, e.g. language = \"de\" (a region such as de-AT is not needed)",
            );
            None
        }
    }
}

/// The reply-token key from `token_secret_file`: required, and at least 16 bytes.
fn token_secret(c: &mut Collector, file: Option<&Path>, cred_dir: Option<&Path>) -> Option<Secret> {
    match file {
        None => {
            c.add(
                "service.token_secret_file",
                "is required: it keys the tokens that let agents answer customers by mail",
                "generate a key: head -c 32 /dev/urandom | base64 > /etc/frontdesk/credentials/token.key, and set token_secret_file to it (under systemd: /run/credentials/frontdesk.service/frontdesk_token.key)",
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
    }
}
