//! Which ticket a mail belongs to (spec flow step 3). Pure: the store is reached through the
//! small [`ThreadLookup`] trait so that tests use a map.
//!
//! Threading headers (In-Reply-To, References; RFC 5322 §3.6.4) naming a Message-ID we sent or
//! received are trusted: only the people in the conversation know those ids. A subject tag
//! `[Acme Support #1042]` is easy to copy, so alone it is trusted only from the ticket's
//! customer; anyone else who copies a tag gets a ticket of their own.

use crate::domain::{EmailAddress, JoinedVia, TicketId};

/// What threading needs to know from the store.
pub trait ThreadLookup {
    /// The store's error. Errors are real store failures: treating them as "no match" would
    /// open a second ticket and acknowledge twice.
    type Error;
    /// The ticket that holds (or sent) the mail with this Message-ID.
    fn ticket_by_message_id(&self, message_id: &str) -> Result<Option<TicketId>, Self::Error>;
    /// The customer of a ticket, or `None` if there is no such ticket.
    fn ticket_customer(&self, ticket: TicketId) -> Result<Option<EmailAddress>, Self::Error>;
}

/// The threading decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Threading {
    /// The mail belongs to an existing ticket.
    Join {
        /// That ticket.
        ticket: TicketId,
        /// How it was found.
        via: JoinedVia,
    },
    /// The mail starts a new ticket.
    New {
        /// A tag in the subject that was not trusted (a stranger copied it), for the log.
        untrusted_tag: Option<TicketId>,
    },
}

/// The ticket tag as it appears in subjects: `[Acme Support #1042]`.
pub fn ticket_tag(service_name: &str, ticket: TicketId) -> String {
    format!("[{service_name} #{ticket}]")
}

/// Every well-formed ticket tag of ours in `subject`: its byte range in the original string
/// and its number. Matching is ASCII-case-insensitive and works on the original string (never
/// on a lowercased copy, whose byte offsets can differ), and never slices off a char boundary.
pub fn ticket_tags(subject: &str, service_name: &str) -> Vec<(std::ops::Range<usize>, TicketId)> {
    let needle = format!("[{service_name} #");
    let mut found = Vec::new();
    let mut i = 0;
    while i < subject.len() {
        let matches = subject
            .get(i..i + needle.len())
            .is_some_and(|c| c.eq_ignore_ascii_case(&needle));
        if matches {
            let after = i + needle.len();
            let digits = subject[after..]
                .bytes()
                .take_while(u8::is_ascii_digit)
                .count();
            let close = after + digits;
            if digits > 0
                && digits <= 18
                && subject.as_bytes().get(close) == Some(&b']')
                && let Ok(n) = subject[after..close].parse::<u64>()
            {
                found.push((i..close + 1, TicketId::new(n)));
                i = close + 1;
                continue;
            }
        }
        // Advance to the next char boundary.
        i += subject[i..].chars().next().map_or(1, char::len_utf8);
    }
    found
}

/// Finds our ticket tag in a subject, case-insensitively: the first well-formed one.
pub fn find_subject_tag(subject: &str, service_name: &str) -> Option<TicketId> {
    ticket_tags(subject, service_name)
        .first()
        .map(|(_, id)| *id)
}

/// Decides which ticket the mail joins. `in_reply_to` is checked first, then `references`
/// from the newest to the oldest, then the subject tag.
pub fn thread<L: ThreadLookup>(
    sender: Option<&EmailAddress>,
    subject: &str,
    in_reply_to: &[String],
    references: &[String],
    service_name: &str,
    lookup: &L,
) -> Result<Threading, L::Error> {
    for id in in_reply_to.iter().chain(references.iter().rev()) {
        if let Some(ticket) = lookup.ticket_by_message_id(id)? {
            return Ok(Threading::Join {
                ticket,
                via: JoinedVia::Header,
            });
        }
    }
    Ok(match find_subject_tag(subject, service_name) {
        None => Threading::New {
            untrusted_tag: None,
        },
        Some(ticket) => match (lookup.ticket_customer(ticket)?, sender) {
            (Some(customer), Some(sender)) if customer == *sender => Threading::Join {
                ticket,
                via: JoinedVia::SubjectTag,
            },
            _ => Threading::New {
                untrusted_tag: Some(ticket),
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemStore, addr, ticket};

    /// Alice's ticket #1042, with our acknowledgement and one of her mails indexed.
    fn world() -> MemStore {
        let t = TicketId::new(1042);
        MemStore::default()
            .with_ticket(ticket(1042, "alice@customer.test").build())
            .with_message_id("<ack.1042.7@example.test>", t)
            .with_message_id("<m1@customer.test>", t)
    }

    #[test]
    fn tags_in_unicode_subjects_never_panic() {
        // Lowercasing "İ" changes byte lengths; offsets must come from the original string.
        for subject in [
            "İ[Acme Support #é Ω",
            "İİ[acme support #12]",
            "Ω[Acme Support #",
            "[Acme Support #99999999999999999999999]",
        ] {
            let _ = find_subject_tag(subject, "Acme Support");
        }
        assert_eq!(
            find_subject_tag("İİ[acme support #12]", "Acme Support"),
            Some(TicketId::new(12))
        );
    }

    #[test]
    fn tag_is_found_case_insensitively_and_only_when_well_formed() {
        assert_eq!(
            find_subject_tag("Re: Help [acme support #1042]", "Acme Support"),
            Some(TicketId::new(1042))
        );
        assert_eq!(
            find_subject_tag("Re: [Acme Support #] x", "Acme Support"),
            None
        );
        assert_eq!(
            find_subject_tag("Re: [Acme Support #12a]", "Acme Support"),
            None
        );
        assert_eq!(
            find_subject_tag("[Acme Support #x] [Acme Support #7]", "Acme Support"),
            Some(TicketId::new(7))
        );
        assert_eq!(find_subject_tag("[Other #1042]", "Acme Support"), None);
    }

    /// name, sender, subject, In-Reply-To, References → expected decision.
    type Case<'a> = (
        &'a str,
        Option<&'a EmailAddress>,
        &'a str,
        Vec<String>,
        Vec<String>,
        Threading,
    );

    #[test]
    fn threading_table() {
        let w = world();
        let alice = addr("alice@customer.test");
        let mallory = addr("mallory@evil.test");
        let t = TicketId::new(1042);
        let join = |via| Threading::Join { ticket: t, via };
        let cases: Vec<Case> = vec![
            (
                "reply to our ack",
                Some(&alice),
                "Re: hi",
                vec!["<ack.1042.7@example.test>".into()],
                vec![],
                join(JoinedVia::Header),
            ),
            (
                "references only",
                Some(&mallory),
                "x",
                vec![],
                vec!["<zzz@x>".into(), "<m1@customer.test>".into()],
                join(JoinedVia::Header),
            ),
            (
                "tag from customer",
                Some(&alice),
                "Re: [Acme Support #1042]",
                vec![],
                vec![],
                join(JoinedVia::SubjectTag),
            ),
            (
                "tag from stranger",
                Some(&mallory),
                "[Acme Support #1042] gimme",
                vec![],
                vec![],
                Threading::New {
                    untrusted_tag: Some(t),
                },
            ),
            (
                "tag of unknown ticket",
                Some(&alice),
                "[Acme Support #9999]",
                vec![],
                vec![],
                Threading::New {
                    untrusted_tag: Some(TicketId::new(9999)),
                },
            ),
            (
                "nothing",
                Some(&alice),
                "Hello",
                vec!["<unknown@x>".into()],
                vec![],
                Threading::New {
                    untrusted_tag: None,
                },
            ),
            (
                "no sender with tag",
                None,
                "[Acme Support #1042]",
                vec![],
                vec![],
                Threading::New {
                    untrusted_tag: Some(t),
                },
            ),
        ];
        for (name, sender, subject, irt, refs, expected) in cases {
            assert_eq!(
                thread(sender, subject, &irt, &refs, "Acme Support", &w).expect("lookup"),
                expected,
                "{name}"
            );
        }
    }
}
