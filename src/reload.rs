//! The configuration and templates the daemon runs on, replaced as one on SIGHUP. A new
//! configuration is loaded and checked completely (keys, secrets, templates rendered with
//! sample data) before anything changes; a broken one is refused and the old one keeps
//! running. Workers read a [`Snapshot`] per unit of work, so a mail is handled entirely under
//! one configuration.

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::compose::{TemplateError, Templates};
use crate::config::{Config, ConfigError, Inbox};
use crate::domain::EmailAddress;

/// One consistent configuration with its templates.
pub struct Snapshot {
    /// The validated configuration (as the main inbox sees it).
    pub cfg: Arc<Config>,
    /// The templates, compiled and self-tested.
    pub templates: Arc<Templates>,
    /// The configuration as each further inbox sees it (its address is ours to send from),
    /// by the inbox's store key.
    views: Vec<(String, Arc<Config>)>,
}

/// Why a configuration could not be loaded (at start or on reload).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The configuration is broken.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The templates do not load or do not render.
    #[error("templates: {0}")]
    Templates(#[from] TemplateError),
}

impl Snapshot {
    /// Loads `path` and the templates it names, and renders every template once.
    pub fn load(path: &Path) -> Result<Snapshot, LoadError> {
        Self::with_config(Config::load(path)?)
    }

    /// The templates for an already validated configuration, rendered once as a check.
    pub fn with_config(cfg: Config) -> Result<Snapshot, LoadError> {
        let templates = Templates::load(cfg.service.templates_dir.as_deref())?;
        templates.self_test()?;
        templates.check_languages(&cfg)?;
        Ok(Snapshot::new(cfg, templates))
    }

    /// A snapshot of `cfg` and `templates` as they are (no checks).
    pub fn new(cfg: Config, templates: Templates) -> Snapshot {
        Snapshot::from_parts(Arc::new(cfg), Arc::new(templates))
    }

    fn from_parts(cfg: Arc<Config>, templates: Arc<Templates>) -> Snapshot {
        let views = cfg
            .inboxes
            .iter()
            .map(|i| (i.imap.store_key(), Arc::new(cfg.for_inbox(i))))
            .collect();
        Snapshot {
            cfg,
            templates,
            views,
        }
    }

    /// The configuration for mail stored from the mailbox with this store key.
    pub fn for_mailbox(&self, key: &str) -> Arc<Config> {
        self.views
            .iter()
            .find(|(k, _)| k == key)
            .map_or_else(|| self.cfg.clone(), |(_, c)| c.clone())
    }

    /// The configuration for a ticket that came in at `address` (`None`: the main inbox).
    pub fn for_address(&self, address: Option<&EmailAddress>) -> Arc<Config> {
        address
            .and_then(|a| self.views.iter().find(|(_, c)| &c.service.address == a))
            .map_or_else(|| self.cfg.clone(), |(_, c)| c.clone())
    }
}

/// The current snapshot, swappable while workers read it.
pub struct Live {
    current: ArcSwap<Snapshot>,
}

impl Live {
    /// Starts with `first`.
    pub fn new(first: Snapshot) -> Self {
        Live {
            current: ArcSwap::from_pointee(first),
        }
    }

    /// The snapshot in force now; hold it for one unit of work.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Replaces the snapshot with `next`. Settings that only take effect at a restart (the
    /// IMAP connections and the list of inboxes, the state directory, the metrics listener)
    /// keep their running values; the returned list names each one that changed, for the
    /// log. SMTP accounts (`[smtp]`, every `[inboxes.smtp]`) apply at once: the outbox
    /// builds a new transport for an account whose settings changed.
    pub fn replace(&self, next: Snapshot) -> Vec<&'static str> {
        let old = self.snapshot();
        let mut cfg = (*next.cfg).clone();
        let mut kept = Vec::new();
        if cfg.imap != old.cfg.imap {
            kept.push("imap");
            cfg.imap = old.cfg.imap.clone();
        }
        if cfg.service.state_dir != old.cfg.service.state_dir {
            kept.push("service.state_dir");
            cfg.service.state_dir = old.cfg.service.state_dir.clone();
        }
        if cfg.metrics_listen != old.cfg.metrics_listen {
            kept.push("metrics.listen");
            cfg.metrics_listen = old.cfg.metrics_listen;
        }
        if !same_inboxes(&cfg.inboxes, &old.cfg.inboxes) {
            kept.push("inboxes");
            cfg.inboxes = kept_inboxes(&old.cfg.inboxes, &cfg.inboxes);
        }
        self.current.store(Arc::new(Snapshot::from_parts(
            Arc::new(cfg),
            next.templates,
        )));
        kept
    }
}

/// Whether two lists name the same inboxes with the same IMAP accounts (their SMTP
/// accounts may differ: those apply at a reload).
fn same_inboxes(a: &[Inbox], b: &[Inbox]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(a, b)| a.name == b.name && a.address == b.address && a.imap == b.imap)
}

/// The running inboxes, each with its SMTP account from `next` where `next` still has an
/// inbox at that address (one it dropped keeps sending as before until the restart).
fn kept_inboxes(running: &[Inbox], next: &[Inbox]) -> Vec<Inbox> {
    running
        .iter()
        .map(|i| {
            let mut i = i.clone();
            if let Some(n) = next.iter().find(|n| n.address == i.address) {
                i.smtp = n.smtp.clone();
            }
            i
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_settings_wait_for_a_restart_and_the_rest_applies() {
        let cfg = crate::testing::config(
            "[[agents]]\nname = \"A\"\nemail = \"a@example.test\"\n[[agents]]\nname = \"B\"\nemail = \"b@example.test\"\n",
        );
        let live = Live::new(Snapshot::with_config(cfg.clone()).expect("snapshot"));
        let mut next = cfg.clone();
        next.imap.port += 1;
        next.agents.truncate(1);
        next.service.name = "Renamed Support".into();
        let kept = live.replace(Snapshot::with_config(next).expect("snapshot"));
        assert_eq!(kept, vec!["imap"]);
        let now = live.snapshot();
        assert_eq!(now.cfg.imap.port, cfg.imap.port, "connection kept");
        assert_eq!(now.cfg.agents.len(), 1, "agents replaced");
        assert_eq!(now.cfg.service.name, "Renamed Support");
    }

    #[test]
    fn smtp_accounts_apply_at_a_reload_even_beside_kept_inboxes() {
        let inbox = |name: &str, smtp: &str| {
            format!(
                "[[agents]]\nname = \"A {name}\"\nemail = \"a.{name}@example.test\"\n[[inboxes]]\nname = \"{name}\"\naddress = \"{name}@example.test\"\n\
                 [inboxes.imap]\nhost = \"127.0.0.1\"\ntls = \"none\"\npassword = \"b\"\n\
                 [inboxes.smtp]\n{smtp}\n"
            )
        };
        let cfg = crate::testing::config(&inbox("billing", "password = \"one\""));
        let live = Live::new(Snapshot::with_config(cfg.clone()).expect("snapshot"));
        // Only billing's SMTP login and [smtp]'s port change: nothing waits for a restart.
        let mut next = crate::testing::config(&inbox("billing", "password = \"two\""));
        next.smtp.port += 1;
        let kept = live.replace(Snapshot::with_config(next.clone()).expect("snapshot"));
        assert!(kept.is_empty(), "{kept:?}");
        let now = live.snapshot();
        assert_eq!(now.cfg.inboxes[0].smtp, next.inboxes[0].smtp);
        assert_eq!(now.cfg.smtp, next.smtp);
        let billing = now.for_address(Some(&next.inboxes[0].address));
        assert_eq!(billing.smtp, next.inboxes[0].smtp, "the billing view too");
        // A new inbox waits for the restart; billing's new account does not.
        let three = crate::testing::config(
            &(inbox("billing", "password = \"three\"") + &inbox("sales", "password = \"s\"")),
        );
        let kept = live.replace(Snapshot::with_config(three.clone()).expect("snapshot"));
        assert_eq!(kept, vec!["inboxes"]);
        let now = live.snapshot();
        assert_eq!(
            now.cfg.inboxes.len(),
            1,
            "sales is not read before a restart"
        );
        assert_eq!(now.cfg.inboxes[0].smtp, three.inboxes[0].smtp);
    }
}
