//! The named reasons a mail gets no acknowledgement. The names are stable: they appear in
//! logs, the CLI, metrics and the store.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a mail gets no acknowledgement. The names are stable: they appear in logs, the CLI
/// and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SuppressReason {
    /// It carries our own loop marker header: one of our mails came back.
    LoopMarker,
    /// It is from the support address (or another of our own addresses).
    OwnAddress,
    /// `multipart/report`: a delivery status or disposition notification (RFC 3464, 8098).
    DeliveryReport,
    /// `Return-Path: <>`: the envelope sender was null (RFC 3834 §2).
    NullReturnPath,
    /// `Auto-Submitted` is present and not `no` (RFC 3834 §5).
    AutoSubmitted,
    /// A vendor auto-reply header (X-Autoreply, X-Autorespond, Exchange inbox rules …).
    AutoReplyHeader,
    /// `X-Auto-Response-Suppress` asks for no auto-response (All, AutoReply or OOF).
    AutoResponseSuppress,
    /// A mailing list header (List-Id, List-Unsubscribe … RFC 2369/2919).
    MailingList,
    /// `Precedence: bulk`, `list` or `junk`.
    BulkPrecedence,
    /// A `noreply`-style sender: answering would only bounce.
    NoReplySender,
    /// `mailer-daemon`, `postmaster`, `listserv`, `majordomo`, `owner-*`, `*-request`
    /// (RFC 5230 §4.5).
    SystemSender,
    /// The sender already had `per_sender_per_day` acknowledgements in the last 24 hours.
    RateLimited,
    /// All senders together had `max_per_hour` acknowledgements this hour (a storm).
    GlobalRateLimited,
    /// One of many mails from one sender in a short time: recorded on their open ticket,
    /// the agent told in one summary rather than once per mail.
    Flood,
    /// Acknowledgements are switched off in the configuration.
    AcknowledgementsDisabled,
    /// The mail joined an existing ticket, which was acknowledged already.
    FollowUp,
    /// The subject says it is an automatic reply ("Out of Office", "Automatic reply", Notes'
    /// "AUTO:" … in the mail products' languages) or a report (Hotmail's "complaint about
    /// message from") but no header does: a weak signal, so a customer still gets a ticket
    /// (without a reply) and an agent's such mail is never relayed.
    AutoReplySubject,
    /// The envelope sender's domain does not match the From domain: the From may be forged,
    /// and an acknowledgement would send our mail to whoever was impersonated.
    UnverifiedSender,
    /// Another delivery of a mail its ticket holds already: the same Message-ID from the same
    /// sender, in bytes that differ only in what delivery added (To support@ and Cc
    /// billing@, a plus-addressed copy, a client that sent it again). Recorded on the
    /// ticket; nobody is acknowledged or notified again.
    DuplicateDelivery,
    /// The customer's rating of a closed ticket, answering its closing mail: recorded on
    /// the ticket, which stays closed; the agent gets a short note.
    Rating,
}

impl SuppressReason {
    /// Every reason, for reading a name back.
    pub const ALL: [SuppressReason; 20] = [
        SuppressReason::LoopMarker,
        SuppressReason::OwnAddress,
        SuppressReason::DeliveryReport,
        SuppressReason::NullReturnPath,
        SuppressReason::AutoSubmitted,
        SuppressReason::AutoReplyHeader,
        SuppressReason::AutoResponseSuppress,
        SuppressReason::MailingList,
        SuppressReason::BulkPrecedence,
        SuppressReason::NoReplySender,
        SuppressReason::SystemSender,
        SuppressReason::RateLimited,
        SuppressReason::GlobalRateLimited,
        SuppressReason::Flood,
        SuppressReason::AcknowledgementsDisabled,
        SuppressReason::FollowUp,
        SuppressReason::AutoReplySubject,
        SuppressReason::UnverifiedSender,
        SuppressReason::DuplicateDelivery,
        SuppressReason::Rating,
    ];

    /// The reason whose [`SuppressReason::as_str`] name is `name`.
    pub fn from_name(name: &str) -> Option<SuppressReason> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// The stable name used in logs, CLI output and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            SuppressReason::LoopMarker => "loop-marker",
            SuppressReason::OwnAddress => "own-address",
            SuppressReason::DeliveryReport => "delivery-report",
            SuppressReason::NullReturnPath => "null-return-path",
            SuppressReason::AutoSubmitted => "auto-submitted",
            SuppressReason::AutoReplyHeader => "auto-reply-header",
            SuppressReason::AutoResponseSuppress => "auto-response-suppress",
            SuppressReason::MailingList => "mailing-list",
            SuppressReason::BulkPrecedence => "bulk-precedence",
            SuppressReason::NoReplySender => "noreply-sender",
            SuppressReason::SystemSender => "system-sender",
            SuppressReason::RateLimited => "rate-limited",
            SuppressReason::GlobalRateLimited => "global-rate-limit",
            SuppressReason::Flood => "flood",
            SuppressReason::AcknowledgementsDisabled => "acknowledgements-disabled",
            SuppressReason::FollowUp => "follow-up",
            SuppressReason::UnverifiedSender => "unverified-sender",
            SuppressReason::AutoReplySubject => "auto-reply-subject",
            SuppressReason::DuplicateDelivery => "duplicate-delivery",
            SuppressReason::Rating => "rating",
        }
    }

    /// Whether mail with this reason is automated: it must not open a ticket of its own (a
    /// bounce or list mail is not a customer request). Automated mail that threads onto an
    /// existing ticket is still recorded there.
    pub fn is_automated(self) -> bool {
        !matches!(
            self,
            SuppressReason::RateLimited
                | SuppressReason::GlobalRateLimited
                | SuppressReason::Flood
                | SuppressReason::AcknowledgementsDisabled
                | SuppressReason::FollowUp
                // "Do not auto-answer me" is a request, not proof of automation: a person
                // using Outlook may send it. Open the ticket, just without an acknowledgement.
                | SuppressReason::AutoResponseSuppress
                | SuppressReason::UnverifiedSender
                | SuppressReason::AutoReplySubject
                // A copy of a person's mail is still a person's.
                | SuppressReason::DuplicateDelivery
                | SuppressReason::Rating
        )
    }
}

impl fmt::Display for SuppressReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
