//! The login of `[imap]`, every `[[inboxes]]` `imap` and `[smtp]`: a password (inline or
//! from a file) or an XOAUTH2 token command, never both.

use std::path::{Path, PathBuf};

use super::{Collector, secs};
use crate::config::raw::RawLogin;
use crate::config::secrets::{Secret, read_secret_file};
use crate::config::{Auth, TokenCommand};

/// A password from `password` or `password_file` (at most one of them); `None` when
/// neither is set or there is a problem (added to `c`).
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

/// A password (see [`secret`]) or an XOAUTH2 token command: at most one of them.
pub(super) fn credential(
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
