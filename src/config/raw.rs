//! Stage one: the configuration exactly as the operator wrote it (TOML file plus
//! `FRONTDESK__SECTION__KEY` overrides), with serde's defaults and unknown keys refused.
//! Nothing here is checked; `validate` turns it into a [`Config`](super::Config).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::model::{ReplyTokens, Strategy, TlsMode, TokenCommand};

/// The configuration file as written, before validation.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub(super) service: RawService,
    pub(super) imap: RawImap,
    pub(super) smtp: RawSmtp,
    #[serde(default)]
    pub(super) acknowledgement: RawAck,
    #[serde(default)]
    pub(super) limits: RawLimits,
    #[serde(default)]
    pub(super) routing: RawRouting,
    #[serde(default)]
    pub(super) tickets: RawTickets,
    #[serde(default)]
    pub(super) sla: RawSla,
    #[serde(default)]
    pub(super) metrics: RawMetrics,
    #[serde(default)]
    pub(super) inboxes: Vec<RawInbox>,
    pub(super) alerts: Option<RawAlerts>,
    #[serde(default)]
    pub(super) backup: RawBackup,
    #[serde(default)]
    pub(super) retention: RawRetention,
    #[serde(default)]
    pub(super) agents: Vec<RawAgent>,
    #[serde(default)]
    pub(super) teams: Vec<RawTeam>,
    #[serde(default)]
    pub(super) routes: Vec<RawRoute>,
    #[serde(default)]
    pub(super) closures: Vec<RawClosure>,
}

/// One `[[closures]]` entry: days off given as `from`/`to` or as a calendar file (`ics`),
/// for everyone, a `team` or an `agent`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawClosure {
    pub(super) name: Option<String>,
    pub(super) from: Option<String>,
    pub(super) to: Option<String>,
    pub(super) ics: Option<PathBuf>,
    pub(super) team: Option<String>,
    pub(super) agent: Option<String>,
}

/// One `[[inboxes]]` entry: a further public address with its own IMAP account.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawInbox {
    pub(super) name: Option<String>,
    pub(super) address: String,
    pub(super) imap: RawImap,
    /// Its own SMTP account (`[inboxes.smtp]`); `None`: it sends through `[smtp]`.
    pub(super) smtp: Option<RawInboxSmtp>,
    /// Whether its tickets' customers get the closing mail; `None`: as `[tickets]` says.
    pub(super) closing_mail: Option<bool>,
}

/// An `[inboxes.smtp]` table: the keys of `[smtp]`, every one optional. What is left out
/// comes from `[smtp]` (see `validate::servers::inbox_smtp` for which keys follow which).
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawInboxSmtp {
    pub(super) host: Option<String>,
    pub(super) port: Option<u16>,
    pub(super) tls: Option<TlsMode>,
    pub(super) ca_file: Option<PathBuf>,
    pub(super) username: Option<String>,
    pub(super) password: Option<String>,
    pub(super) password_file: Option<PathBuf>,
    pub(super) oauth2_token_command: Option<String>,
    pub(super) oauth2_token_lifetime_minutes: Option<u64>,
    pub(super) oauth2_token_timeout_seconds: Option<u64>,
    pub(super) pool_size: Option<u32>,
    pub(super) timeout_seconds: Option<u64>,
    pub(super) retry_initial_seconds: Option<u64>,
    pub(super) retry_max_seconds: Option<u64>,
    pub(super) give_up_hours: Option<u64>,
}

impl RawInboxSmtp {
    /// Its own login keys, the token command's limits falling back to `base`'s; `None`
    /// when it sets none of password, password_file and oauth2_token_command.
    pub(super) fn login(&self, base: &RawSmtp) -> Option<RawLogin> {
        let login = RawLogin {
            password: self.password.clone(),
            password_file: self.password_file.clone(),
            oauth2_token_command: self.oauth2_token_command.clone(),
            oauth2_token_lifetime_minutes: self
                .oauth2_token_lifetime_minutes
                .unwrap_or(base.oauth2_token_lifetime_minutes),
            oauth2_token_timeout_seconds: self
                .oauth2_token_timeout_seconds
                .unwrap_or(base.oauth2_token_timeout_seconds),
        };
        (!login.is_unset()).then_some(login)
    }
}

/// The `[retention]` section.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetention {
    #[serde(default)]
    pub(super) body_days: u64,
}

/// The `[backup]` section.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBackup {
    pub(super) dir: Option<PathBuf>,
    #[serde(default = "default_backup_hours")]
    pub(super) interval_hours: u64,
    #[serde(default = "default_backup_keep")]
    pub(super) keep: usize,
}

impl Default for RawBackup {
    fn default() -> Self {
        RawBackup {
            dir: None,
            interval_hours: default_backup_hours(),
            keep: default_backup_keep(),
        }
    }
}

fn default_backup_hours() -> u64 {
    24
}
fn default_backup_keep() -> usize {
    7
}

/// The `[alerts]` section.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlerts {
    pub(super) to: String,
    #[serde(default = "default_alert_failures")]
    pub(super) after_failures: u32,
}

fn default_alert_failures() -> u32 {
    5
}

/// The `[metrics]` section.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    pub(super) listen: Option<String>,
}

/// The `[sla]` section.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSla {
    pub(super) first_response_minutes: Option<u64>,
    pub(super) lead: Option<String>,
    pub(super) check_interval_seconds: Option<u64>,
    #[serde(default)]
    pub(super) reassign: bool,
}

/// The `[tickets]` section.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTickets {
    #[serde(default = "default_reopen_days")]
    pub(super) reopen_days: u64,
    #[serde(default = "default_true")]
    pub(super) handover_mail: bool,
    #[serde(default = "default_true")]
    pub(super) closing_mail: bool,
    #[serde(default)]
    pub(super) remind_after_days: u64,
    #[serde(default)]
    pub(super) autoclose_after_days: u64,
}

impl Default for RawTickets {
    fn default() -> Self {
        RawTickets {
            reopen_days: default_reopen_days(),
            handover_mail: true,
            closing_mail: true,
            remind_after_days: 0,
            autoclose_after_days: 0,
        }
    }
}

fn default_reopen_days() -> u64 {
    14
}

/// The `[routing]` section.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRouting {
    #[serde(default = "default_sticky_days")]
    pub(super) sticky_days: u64,
    #[serde(default = "default_timezone")]
    pub(super) timezone: String,
}

impl Default for RawRouting {
    fn default() -> Self {
        RawRouting {
            sticky_days: default_sticky_days(),
            timezone: default_timezone(),
        }
    }
}

fn default_sticky_days() -> u64 {
    30
}
fn default_timezone() -> String {
    "UTC".into()
}

/// One `[[teams]]` entry.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTeam {
    pub(super) name: String,
    #[serde(default)]
    pub(super) strategy: Strategy,
    pub(super) fallback: Option<String>,
    pub(super) first_response_minutes: Option<u64>,
    pub(super) lead: Option<String>,
}

/// The `[service]` section.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    pub(super) name: String,
    pub(super) address: String,
    #[serde(default = "default_state_dir")]
    pub(super) state_dir: PathBuf,
    pub(super) token_secret_file: Option<PathBuf>,
    pub(super) templates_dir: Option<PathBuf>,
    #[serde(default)]
    pub(super) reply_tokens: ReplyTokens,
    pub(super) trusted_authserv_id: Option<String>,
}

pub(super) fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/frontdesk")
}

/// The `[imap]` section, and the `imap` table of every `[[inboxes]]` entry.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawImap {
    pub(super) host: String,
    pub(super) port: Option<u16>,
    #[serde(default = "default_imap_tls")]
    pub(super) tls: TlsMode,
    pub(super) ca_file: Option<PathBuf>,
    pub(super) username: Option<String>,
    pub(super) password: Option<String>,
    pub(super) password_file: Option<PathBuf>,
    pub(super) oauth2_token_command: Option<String>,
    #[serde(default = "default_token_lifetime")]
    pub(super) oauth2_token_lifetime_minutes: u64,
    #[serde(default = "default_token_timeout")]
    pub(super) oauth2_token_timeout_seconds: u64,
    #[serde(default = "default_mailbox")]
    pub(super) mailbox: String,
    /// Move handled mail here instead of only flagging it `\Seen`.
    pub(super) processed_mailbox: Option<String>,
    #[serde(default = "default_idle_renew")]
    pub(super) idle_renew_minutes: u64,
    /// Also end IDLE this often to look for mail the server did not announce (0: never).
    #[serde(default)]
    pub(super) idle_check_seconds: u64,
    #[serde(default = "default_poll")]
    pub(super) poll_interval_seconds: u64,
    #[serde(default)]
    pub(super) backfill_hours: u64,
    #[serde(default = "default_connect_timeout")]
    pub(super) connect_timeout_seconds: u64,
    #[serde(default = "default_command_timeout")]
    pub(super) command_timeout_seconds: u64,
    #[serde(default = "default_fetch_batch")]
    pub(super) fetch_batch: usize,
}

fn default_imap_tls() -> TlsMode {
    TlsMode::Implicit
}
fn default_mailbox() -> String {
    "INBOX".into()
}
fn default_idle_renew() -> u64 {
    20
}
fn default_poll() -> u64 {
    30
}
fn default_connect_timeout() -> u64 {
    15
}
fn default_command_timeout() -> u64 {
    60
}
fn default_fetch_batch() -> usize {
    50
}
fn default_token_lifetime() -> u64 {
    TokenCommand::DEFAULT_LIFETIME.as_secs() / 60
}
fn default_token_timeout() -> u64 {
    TokenCommand::DEFAULT_TIMEOUT.as_secs()
}

/// The `[smtp]` section.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSmtp {
    pub(super) host: String,
    pub(super) port: Option<u16>,
    #[serde(default = "default_smtp_tls")]
    pub(super) tls: TlsMode,
    pub(super) ca_file: Option<PathBuf>,
    pub(super) username: Option<String>,
    pub(super) password: Option<String>,
    pub(super) password_file: Option<PathBuf>,
    pub(super) oauth2_token_command: Option<String>,
    #[serde(default = "default_token_lifetime")]
    pub(super) oauth2_token_lifetime_minutes: u64,
    #[serde(default = "default_token_timeout")]
    pub(super) oauth2_token_timeout_seconds: u64,
    #[serde(default = "default_pool")]
    pub(super) pool_size: u32,
    #[serde(default = "default_smtp_timeout")]
    pub(super) timeout_seconds: u64,
    #[serde(default = "default_retry_initial")]
    pub(super) retry_initial_seconds: u64,
    #[serde(default = "default_retry_max")]
    pub(super) retry_max_seconds: u64,
    #[serde(default = "default_give_up")]
    pub(super) give_up_hours: u64,
}

fn default_smtp_tls() -> TlsMode {
    TlsMode::Starttls
}
fn default_pool() -> u32 {
    4
}
fn default_smtp_timeout() -> u64 {
    30
}
fn default_retry_initial() -> u64 {
    10
}
fn default_retry_max() -> u64 {
    1800
}
fn default_give_up() -> u64 {
    72
}

/// The `[acknowledgement]` section.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAck {
    #[serde(default = "default_true")]
    pub(super) enabled: bool,
    #[serde(default = "default_per_day")]
    pub(super) per_sender_per_day: u32,
    #[serde(default = "default_quote_lines")]
    pub(super) quote_lines: usize,
    #[serde(default = "default_true")]
    pub(super) require_aligned_sender: bool,
    #[serde(default = "default_per_hour")]
    pub(super) max_per_hour: u32,
    #[serde(default = "default_typical_min_sample")]
    pub(super) typical_min_sample: usize,
    #[serde(default = "default_typical_days")]
    pub(super) typical_days: u32,
    #[serde(default = "default_remember_days")]
    pub(super) remember_days: u32,
}

fn default_per_hour() -> u32 {
    5000
}
fn default_typical_min_sample() -> usize {
    10
}
fn default_typical_days() -> u32 {
    90
}
fn default_remember_days() -> u32 {
    365
}

impl Default for RawAck {
    fn default() -> Self {
        RawAck {
            enabled: true,
            per_sender_per_day: default_per_day(),
            max_per_hour: default_per_hour(),
            quote_lines: default_quote_lines(),
            require_aligned_sender: true,
            typical_min_sample: default_typical_min_sample(),
            typical_days: default_typical_days(),
            remember_days: default_remember_days(),
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_per_day() -> u32 {
    3
}
fn default_quote_lines() -> usize {
    6
}

/// The `[limits]` section.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    #[serde(default = "default_max_bytes")]
    pub(super) max_message_bytes: u64,
    #[serde(default = "default_flood_tickets")]
    pub(super) flood_tickets: usize,
    #[serde(default = "default_flood_window")]
    pub(super) flood_window_minutes: u64,
    #[serde(default = "default_flood_notifications")]
    pub(super) flood_notifications: usize,
}

fn default_flood_tickets() -> usize {
    3
}
fn default_flood_window() -> u64 {
    10
}
fn default_flood_notifications() -> usize {
    3
}

impl Default for RawLimits {
    fn default() -> Self {
        RawLimits {
            max_message_bytes: default_max_bytes(),
            flood_tickets: default_flood_tickets(),
            flood_window_minutes: default_flood_window(),
            flood_notifications: default_flood_notifications(),
        }
    }
}

fn default_max_bytes() -> u64 {
    50 * 1024 * 1024
}

/// One `[[agents]]` entry.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAgent {
    pub(super) name: String,
    pub(super) email: String,
    #[serde(default)]
    pub(super) teams: Vec<String>,
    pub(super) working_hours: Option<String>,
    pub(super) timezone: Option<String>,
    #[serde(default)]
    pub(super) away: bool,
    #[serde(default)]
    pub(super) max_open: usize,
}

/// One `[[routes]]` rule.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    pub(super) to: Option<String>,
    pub(super) from_domain: Option<String>,
    pub(super) subject: Option<String>,
    pub(super) body: Option<String>,
    pub(super) team: Option<String>,
    pub(super) agent: Option<String>,
}

/// The login keys of `[imap]` or `[smtp]`, as written.
pub(super) struct RawLogin {
    pub(super) password: Option<String>,
    pub(super) password_file: Option<PathBuf>,
    pub(super) oauth2_token_command: Option<String>,
    pub(super) oauth2_token_lifetime_minutes: u64,
    pub(super) oauth2_token_timeout_seconds: u64,
}

impl RawLogin {
    /// Not one of password, password_file and oauth2_token_command is set.
    pub(super) fn is_unset(&self) -> bool {
        self.password.is_none()
            && self.password_file.is_none()
            && self.oauth2_token_command.is_none()
    }
}

impl RawImap {
    /// Its login keys.
    pub(super) fn login(&self) -> RawLogin {
        RawLogin {
            password: self.password.clone(),
            password_file: self.password_file.clone(),
            oauth2_token_command: self.oauth2_token_command.clone(),
            oauth2_token_lifetime_minutes: self.oauth2_token_lifetime_minutes,
            oauth2_token_timeout_seconds: self.oauth2_token_timeout_seconds,
        }
    }
}

impl RawSmtp {
    /// Its login keys.
    pub(super) fn login(&self) -> RawLogin {
        RawLogin {
            password: self.password.clone(),
            password_file: self.password_file.clone(),
            oauth2_token_command: self.oauth2_token_command.clone(),
            oauth2_token_lifetime_minutes: self.oauth2_token_lifetime_minutes,
            oauth2_token_timeout_seconds: self.oauth2_token_timeout_seconds,
        }
    }
}
