//! The mail that tells ops about the daemon itself (an inbox that stopped being read).

use std::time::SystemTime;

use super::{ComposeError, Envelope, build_mail};
use crate::domain::{EmailAddress, MailKind, OutgoingMail};

/// What an ops alert reports.
#[derive(Debug, Clone)]
pub enum Alert<'a> {
    /// The inbox has failed this many times in a row, the last time with this error.
    InboxDown {
        /// The inbox's name.
        inbox: &'a str,
        /// Consecutive failed attempts.
        failures: u32,
        /// The last error.
        error: &'a str,
    },
    /// The inbox works again.
    InboxUp {
        /// The inbox's name.
        inbox: &'a str,
    },
}

/// The mail that tells `to` about an [`Alert`], from the support address (with the null
/// sender: nobody should answer it automatically).
pub fn ops_alert(
    service_name: &str,
    from: &EmailAddress,
    to: &EmailAddress,
    alert: &Alert<'_>,
    message_id: String,
    date: SystemTime,
) -> Result<OutgoingMail, ComposeError> {
    let (subject, body) = match alert {
        Alert::InboxDown {
            inbox,
            failures,
            error,
        } => (
            format!("[{service_name}] inbox {inbox} is not being read"),
            format!(
                "Frontdesk cannot read the inbox \"{inbox}\": {failures} attempts in a row failed.\n\
                 Customers writing to it get no acknowledgement and no ticket until this is fixed.\n\n\
                 Last error: {error}\n\n\
                 Frontdesk keeps retrying with backoff and will write again when the inbox works.\n\
                 Check the IMAP server and the credential (an expired OAuth2 token is a common cause).\n"
            ),
        ),
        Alert::InboxUp { inbox } => (
            format!("[{service_name}] inbox {inbox} is read again"),
            format!(
                "Frontdesk reads the inbox \"{inbox}\" again; mail that arrived meanwhile is being handled.\n"
            ),
        ),
    };
    build_mail(
        MailKind::OpsAlert,
        &Envelope {
            from_name: service_name,
            service_address: from,
            to: (None, to),
            cc: &[],
            reply_to: None,
            subject: &subject,
            message_id,
            in_reply_to: None,
            references: Vec::new(),
            auto_submitted: Some("auto-generated"),
            date,
        },
        body,
        &[],
        None,
    )
}
