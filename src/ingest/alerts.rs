//! Telling ops by mail when an inbox stops being read, and again when it is back: an
//! inbox that silently goes unread is the worst failure the daemon has.

use std::sync::atomic::Ordering;

use tracing::info;

use super::Ingest;
use crate::compose::{Alert, ops_alert};
use crate::domain::now;

impl Ingest {
    /// After `[alerts] after_failures` failures in a row, tells ops by mail (once an outage).
    pub(super) fn alert_down(&self, failures: u32, error: &str) {
        let snap = self.live.snapshot();
        let Some(alerts) = &snap.cfg.alerts else {
            return;
        };
        if failures < alerts.after_failures || self.alerted.swap(true, Ordering::SeqCst) {
            return;
        }
        self.queue_alert(&Alert::InboxDown {
            inbox: &self.inbox,
            failures,
            error,
        });
    }

    /// The end of a reported outage, reported too.
    pub(super) fn alert_up(&self) {
        if self.alerted.swap(false, Ordering::SeqCst) {
            self.queue_alert(&Alert::InboxUp { inbox: &self.inbox });
        }
    }

    /// Queues `alert` to `[alerts] to` as a standalone outbox mail and wakes the outbox.
    fn queue_alert(&self, alert: &Alert<'_>) {
        let snap = self.live.snapshot();
        let (cfg, Some(alerts)) = (&snap.cfg, &snap.cfg.alerts) else {
            return;
        };
        let message_id = format!(
            "<alert.{:016x}@{}>",
            fastrand::u64(..),
            cfg.service.address.domain()
        );
        let queued = ops_alert(
            &cfg.service.name,
            &cfg.service.address,
            &alerts.to,
            alert,
            message_id,
            std::time::SystemTime::now(),
        )
        .map_err(|e| e.to_string())
        .and_then(|mail| {
            self.store
                .queue_standalone(&mail, now())
                .map_err(|e| e.to_string())
        });
        match queued {
            Ok(()) => {
                info!(event = "alert.queued", inbox = %self.inbox, to = %alerts.to, "ops alert queued");
                self.outbox_wake.notify_one();
            }
            Err(e) => {
                tracing::error!(inbox = %self.inbox, error = e, "ops alert could not be queued")
            }
        }
    }
}
