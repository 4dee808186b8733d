//! What we send and take: `[acknowledgement]` and `[limits]`.

use super::{Collector, secs};
use crate::config::raw::{RawAck, RawLimits};
use crate::config::{AckPolicy, Limits};

/// Checks `[acknowledgement]` and builds it.
pub(super) fn ack(c: &mut Collector, ack: &RawAck) -> AckPolicy {
    if (1..5).contains(&ack.typical_min_sample) {
        c.add(
            "acknowledgement.typical_min_sample",
            "fewer than 5 answers say nothing typical: one slow or fast answer would set what every customer is promised",
            "use 10 (or 0 to never say how long answers usually take)",
        );
    }
    if ack.quote_lines > 50 {
        c.add(
            "acknowledgement.quote_lines",
            "quoting more than 50 lines turns an acknowledgement into a copy (RFC 3834 asks for a brief excerpt)",
            "use 6",
        );
    }
    AckPolicy {
        enabled: ack.enabled,
        per_sender_per_day: ack.per_sender_per_day,
        quote_lines: ack.quote_lines,
        require_aligned_sender: ack.require_aligned_sender,
        max_per_hour: ack.max_per_hour,
        typical_min_sample: ack.typical_min_sample,
        typical_window: secs(u64::from(ack.typical_days.max(1)).saturating_mul(86_400)),
        remember: secs(u64::from(ack.remember_days).saturating_mul(86_400)),
    }
}

/// `[limits]`: nothing in it can be wrong; counts below 1 are raised to 1.
pub(super) fn limits(limits: &RawLimits) -> Limits {
    Limits {
        max_message_bytes: limits.max_message_bytes,
        flood_tickets: limits.flood_tickets.max(1),
        flood_window: secs(limits.flood_window_minutes.saturating_mul(60)),
        flood_notifications: limits.flood_notifications.max(1),
    }
}
