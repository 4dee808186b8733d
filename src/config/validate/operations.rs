//! Running the service: `[metrics]`, `[alerts]`, `[backup]` and `[retention]`.

use std::net::SocketAddr;
use std::path::Path;

use super::{Collector, secs};
use crate::config::raw::{RawAlerts, RawBackup, RawMetrics, RawRetention};
use crate::config::{Alerts, Backup, Retention};
use crate::domain::EmailAddress;

/// `[metrics] listen`: a loopback address with a port, or nothing.
pub(super) fn metrics_listen(c: &mut Collector, metrics: &RawMetrics) -> Option<SocketAddr> {
    let l = metrics.listen.as_deref()?;
    match l.parse::<SocketAddr>() {
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
}

/// Checks `[alerts]`, if present, and builds it.
pub(super) fn alerts(c: &mut Collector, alerts: Option<&RawAlerts>) -> Option<Alerts> {
    let a = alerts?;
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
}

/// `[backup]`: by default into `backups/` in `state_dir`; an interval of 0 switches the
/// periodic backups off.
pub(super) fn backup(backup: &RawBackup, state_dir: &Path) -> Backup {
    Backup {
        dir: backup
            .dir
            .clone()
            .unwrap_or_else(|| state_dir.join("backups")),
        interval: (backup.interval_hours > 0)
            .then(|| secs(backup.interval_hours.saturating_mul(3600))),
        keep: backup.keep.max(1),
    }
}

/// `[retention]`: `body_days = 0` keeps message bodies for ever.
pub(super) fn retention(retention: &RawRetention) -> Retention {
    Retention {
        body: (retention.body_days > 0).then(|| secs(retention.body_days.saturating_mul(86_400))),
    }
}
