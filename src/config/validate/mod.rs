//! Stage one to stage two: [`RawConfig`] → [`Config`]. Every section is checked by its own
//! function, which adds each problem (key, message, fix) to one [`Collector`] and builds its
//! part; only when no section found a problem is the configuration returned, so the
//! operator sees every problem at once.

mod agents;
mod closures;
mod credentials;
mod limits;
mod operations;
mod routing;
mod servers;
mod service;
mod sla;

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::raw::RawConfig;
use super::{Config, ConfigError, Problem};

/// The problems found so far, in the order the sections are checked.
#[derive(Default)]
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

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
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
            self.blank_secrets();
        }
        let mut c = Collector::default();
        let cred_dir = credentials_dir.as_deref();
        let service = service::service(&mut c, &self.service, cred_dir, secrets);
        let address = service.as_ref().map(|s| &s.address);
        let default_username = address.map(|a| a.to_string()).unwrap_or_default();
        let imap = servers::imap_section(&mut c, "imap", &self.imap, cred_dir, default_username);
        let smtp = servers::smtp(&mut c, &self.smtp, address, cred_dir);
        let main = servers::Main {
            address,
            imap: imap.as_ref(),
            raw_smtp: &self.smtp,
            smtp: &smtp,
        };
        let inboxes = servers::inboxes(&mut c, &self.inboxes, &main, cred_dir);
        let alerts = operations::alerts(&mut c, self.alerts.as_ref());
        let ack = limits::ack(&mut c, &self.acknowledgement);
        let mut agents = agents::agents(&mut c, &self.agents, address, &self.routing.timezone);
        let base = file.parent().unwrap_or(Path::new("."));
        let closures = closures::closures(&mut c, &self.closures, &agents, &self.teams, base);
        for agent in &mut agents {
            let days = closures
                .iter()
                .filter(|cl| cl.applies_to(agent))
                .map(|cl| cl.days);
            agent.hours = agent.hours.clone().with_closed(days);
        }
        let teams = routing::teams(&mut c, &self.teams, &agents);
        let sla = sla::sla(&mut c, &self.sla, &self.teams);
        let metrics_listen = operations::metrics_listen(&mut c, &self.metrics);
        let routes = routing::routes(&mut c, &self.routes, &agents);

        let (Some(service), Some(imap), true) = (service, imap, c.0.is_empty()) else {
            return Err(ConfigError::Invalid {
                file: file.to_path_buf(),
                problems: c.0,
            });
        };
        let closing = routing::closing(&self.tickets, &service.address, &self.inboxes);
        Ok(Config {
            source: file.to_path_buf(),
            main_address: service.address.clone(),
            backup: operations::backup(&self.backup, &service.state_dir),
            service,
            imap,
            smtp,
            ack,
            limits: limits::limits(&self.limits),
            routing: routing::routing(&self.routing, &self.tickets),
            closing,
            agents,
            teams,
            routes,
            sla,
            metrics_listen,
            inboxes,
            alerts,
            retention: operations::retention(&self.retention),
            closures,
        })
    }

    /// For a configuration loaded without secrets: passwords become empty placeholders (so
    /// their files are not read), and an IMAP login without any credential gets one, so
    /// that everything else is still checked.
    fn blank_secrets(&mut self) {
        for (pw, pf) in [
            (&mut self.imap.password, &mut self.imap.password_file),
            (&mut self.smtp.password, &mut self.smtp.password_file),
        ] {
            if pw.is_some() || pf.is_some() {
                *pw = Some(String::new());
                *pf = None;
            }
        }
        for smtp in self.inboxes.iter_mut().filter_map(|i| i.smtp.as_mut()) {
            if smtp.password.is_some() || smtp.password_file.is_some() {
                smtp.password = Some(String::new());
                smtp.password_file = None;
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
}
