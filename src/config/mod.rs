//! Configuration in two stages: [`RawConfig`] holds exactly what the operator wrote (TOML file
//! plus `FRONTDESK__SECTION__KEY` environment overrides, unknown keys refused), and
//! [`Config`] is the validated form the daemon runs on. Every problem is collected with its
//! key and a fix, and all are reported at once.
//!
//! | file       | one job |
//! |------------|---------|
//! | `raw`      | stage one: the serde types and their defaults |
//! | `model`    | stage two: [`Config`] and its parts, lookups, the per-inbox views |
//! | `load`     | the entry points: [`Config::load`] and friends read the file and environment |
//! | `validate` | stage one → stage two, one file per section |
//! | `secrets`  | [`Secret`], and reading secret files (`$CREDENTIALS_DIRECTORY`) |
//! | `error`    | [`ConfigError`] and its [`Problem`]s |
//!
//! The configuration describes how to log in ([`Auth`]) but holds no live state: the XOAUTH2
//! token cache is `oauth2`'s, made by whoever logs in.

mod error;
mod load;
mod model;
mod raw;
mod secrets;
mod shape;
pub mod show;
mod validate;

#[cfg(test)]
mod tests;

pub use error::{AgentLookupError, ConfigError, Problem};
pub use model::{
    AckPolicy, Agent, Alerts, Auth, Backup, Closing, Closure, ClosureScope, Config, Imap, Inbox,
    Limits, ReplyTokens, Retention, RetryPolicy, Route, RouteTarget, Routing, Service, Sla, Smtp,
    Strategy, Team, TlsMode, TokenCommand,
};
pub use raw::RawConfig;
pub use secrets::Secret;

/// Where `--config` points when the operator gives none.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/frontdesk/frontdesk.toml";
