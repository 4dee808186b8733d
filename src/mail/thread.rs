//! Which ticket a mail belongs to (spec flow step 3). Pure: the store is reached through the
//! small [`ThreadLookup`] trait so that tests use a map.
//!
//! Threading headers (In-Reply-To, References; RFC 5322 §3.6.4) naming a Message-ID we sent or
//! received join the ticket that holds it, when the sender is that ticket's customer: only
//! the people in the conversation know those ids, but an id is not a secret forever (a
//! customer of a ticket whose number was handed out again after a lost store still holds
//! ours; anyone the customer forwarded a mail to holds theirs), so a header match on another
//! customer's ticket counts as no match. A subject tag `[Acme Support #1042]` is easy to
//! copy, so alone it is trusted only from the ticket's customer too. Anyone else gets a
//! ticket of their own, never a seat in a stranger's thread.
//!
//! "The customer" here is the ticket's people ([`Members::admits`]): the customer, the
//! participants (colleagues on Cc, or added by an agent), and, when the caller allows it,
//! anyone in the customer's own organization (the same organizational domain, unless that is
//! a public mailbox provider: sharing gmail.com with someone makes nobody a colleague). A
//! colleague joins by the threading headers only, ids they hold because the conversation
//! reached them: a bare subject tag is a small number that comes round again after a lost
//! store, and would seat one colleague in another's unrelated ticket.

use crate::domain::{EmailAddress, JoinedVia, TicketId};
use crate::mail::providers;

/// The people whose mail may join a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Members {
    /// The ticket's customer.
    pub customer: EmailAddress,
    /// Its participants.
    pub participants: Vec<EmailAddress>,
}

impl Members {
    /// Whether `sender` may join: the customer or a participant (`+detail` aside, RFC 5233),
    /// or, with `colleagues`, someone who shares the customer's organization (never at a
    /// public mailbox provider).
    pub fn admits(&self, sender: &EmailAddress, colleagues: bool) -> bool {
        let sender_base = sender.without_detail();
        self.customer.without_detail() == sender_base
            || self
                .participants
                .iter()
                .any(|p| p.without_detail() == sender_base)
            || (colleagues && providers::same_organization(self.customer.domain(), sender.domain()))
    }
}

/// What threading needs to know from the store.
pub trait ThreadLookup {
    /// The store's error. Errors are real store failures: treating them as "no match" would
    /// open a second ticket and acknowledge twice.
    type Error;
    /// The ticket that holds (or sent) the mail with this Message-ID.
    fn ticket_by_message_id(&self, message_id: &str) -> Result<Option<TicketId>, Self::Error>;
    /// The customer and participants of a ticket, or `None` if there is no such ticket.
    fn ticket_members(&self, ticket: TicketId) -> Result<Option<Members>, Self::Error>;
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
        /// A ticket of another customer's that the threading headers named (the first one),
        /// which the sender may not join.
        untrusted_header: Option<TicketId>,
    },
}

impl Threading {
    /// A new ticket, with nothing untrusted on record.
    pub fn new_ticket() -> Threading {
        Threading::New {
            untrusted_tag: None,
            untrusted_header: None,
        }
    }
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

/// Who sent the mail, as threading sees them.
#[derive(Debug, Clone, Copy)]
pub struct Sender<'a> {
    /// The From address, if valid.
    pub address: Option<&'a EmailAddress>,
    /// Whether the colleague rule may admit them ([`Members::admits`]): not for our own
    /// or the agents' addresses.
    pub colleagues: bool,
}

/// Whether the sender may join the ticket with these members (`None`: no such ticket);
/// colleagues only with `colleagues` (a header match, not a bare tag).
fn admitted(members: Option<Members>, sender: Sender<'_>, colleagues: bool) -> bool {
    match (members, sender.address) {
        (Some(members), Some(address)) => members.admits(address, colleagues && sender.colleagues),
        _ => false,
    }
}

/// Decides which ticket the mail joins. `in_reply_to` is checked first, then `references`
/// from the newest to the oldest, then the subject tag; a header or tag naming a ticket
/// the sender may not join ([`Members::admits`]) is passed over.
pub fn thread<L: ThreadLookup>(
    sender: Sender<'_>,
    subject: &str,
    in_reply_to: &[String],
    references: &[String],
    service_name: &str,
    lookup: &L,
) -> Result<Threading, L::Error> {
    let mut untrusted_header = None;
    for id in in_reply_to.iter().chain(references.iter().rev()) {
        let Some(ticket) = lookup.ticket_by_message_id(id)? else {
            continue;
        };
        if admitted(lookup.ticket_members(ticket)?, sender, true) {
            return Ok(Threading::Join {
                ticket,
                via: JoinedVia::Header,
            });
        }
        untrusted_header = untrusted_header.or(Some(ticket));
    }
    let untrusted_tag = match find_subject_tag(subject, service_name) {
        None => None,
        Some(ticket) => {
            if admitted(lookup.ticket_members(ticket)?, sender, false) {
                return Ok(Threading::Join {
                    ticket,
                    via: JoinedVia::SubjectTag,
                });
            }
            Some(ticket)
        }
    };
    Ok(Threading::New {
        untrusted_tag,
        untrusted_header,
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
            .with_message_id("<ack.1043.1@example.test>", TicketId::new(1043))
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

    fn new(untrusted_tag: Option<u64>, untrusted_header: Option<u64>) -> Threading {
        Threading::New {
            untrusted_tag: untrusted_tag.map(TicketId::new),
            untrusted_header: untrusted_header.map(TicketId::new),
        }
    }

    #[test]
    fn threading_table() {
        let w = world().with_ticket(ticket(1043, "bob@other.test").build());
        let alice = addr("alice@customer.test");
        let alice_plus = addr("Alice+shop@customer.test");
        let mallory = addr("mallory@evil.test");
        let t = TicketId::new(1042);
        let join = |via| Threading::Join { ticket: t, via };
        let ours = || vec!["<ack.1042.7@example.test>".to_string()];
        let cases: Vec<Case> = vec![
            (
                "reply to our ack",
                Some(&alice),
                "Re: hi",
                ours(),
                vec![],
                join(JoinedVia::Header),
            ),
            (
                "references only",
                Some(&alice),
                "x",
                vec![],
                vec!["<zzz@x>".into(), "<m1@customer.test>".into()],
                join(JoinedVia::Header),
            ),
            (
                "the customer under a +detail",
                Some(&alice_plus),
                "Re: hi",
                ours(),
                vec![],
                join(JoinedVia::Header),
            ),
            (
                "a stranger naming our ack (an id handed out again, or passed on)",
                Some(&mallory),
                "Re: hi",
                ours(),
                vec![],
                new(None, Some(1042)),
            ),
            (
                "a stranger naming the customer's own id",
                Some(&mallory),
                "x",
                vec![],
                vec!["<m1@customer.test>".into()],
                new(None, Some(1042)),
            ),
            (
                "a stranger's header and a copied tag",
                Some(&mallory),
                "Re: [Acme Support #1042]",
                ours(),
                vec![],
                new(Some(1042), Some(1042)),
            ),
            (
                "no sender, our id",
                None,
                "Re: hi",
                ours(),
                vec![],
                new(None, Some(1042)),
            ),
            (
                "another customer's id first, then the sender's own",
                Some(&alice),
                "Re: hi",
                vec!["<ack.1043.1@example.test>".into()],
                ours(),
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
                new(Some(1042), None),
            ),
            (
                "tag of unknown ticket",
                Some(&alice),
                "[Acme Support #9999]",
                vec![],
                vec![],
                new(Some(9999), None),
            ),
            (
                "nothing",
                Some(&alice),
                "Hello",
                vec!["<unknown@x>".into()],
                vec![],
                new(None, None),
            ),
            (
                "no sender with tag",
                None,
                "[Acme Support #1042]",
                vec![],
                vec![],
                new(Some(1042), None),
            ),
        ];
        for (name, sender, subject, irt, refs, expected) in cases {
            let sender = Sender {
                address: sender,
                colleagues: true,
            };
            assert_eq!(
                thread(sender, subject, &irt, &refs, "Acme Support", &w).expect("lookup"),
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn participants_and_colleagues_join_strangers_do_not() {
        let t = TicketId::new(1042);
        let g = TicketId::new(1050);
        let w = MemStore::default()
            .with_ticket(
                ticket(1042, "alice@customer.test")
                    .participants(&["carol@partner.test"])
                    .build(),
            )
            .with_ticket(ticket(1050, "gina@gmail.com").build())
            .with_message_id("<ack.1042.7@example.test>", t)
            .with_message_id("<ack.1050.7@example.test>", g);
        let ours = vec!["<ack.1042.7@example.test>".to_string()];
        let gmail_ours = vec!["<ack.1050.7@example.test>".to_string()];
        let run = |sender: &str, colleagues: bool, subject: &str, irt: &[String]| {
            let a = addr(sender);
            let sender = Sender {
                address: Some(&a),
                colleagues,
            };
            thread(sender, subject, irt, &[], "Acme Support", &w).expect("lookup")
        };
        let join = |ticket, via| Threading::Join { ticket, via };
        let cases = [
            (
                "a participant",
                run("carol@partner.test", true, "Re: x", &ours),
                join(t, JoinedVia::Header),
            ),
            (
                "a participant under a +detail, by tag",
                run(
                    "Carol+x@partner.test",
                    true,
                    "Re: [Acme Support #1042]",
                    &[],
                ),
                join(t, JoinedVia::SubjectTag),
            ),
            (
                "a colleague of the customer",
                run("bob@customer.test", true, "Re: x", &ours),
                join(t, JoinedVia::Header),
            ),
            (
                "a colleague in a subdomain",
                run("bob@eu.customer.test", true, "Re: x", &ours),
                join(t, JoinedVia::Header),
            ),
            (
                "a colleague with the tag alone (a number that comes round again)",
                run("bob@customer.test", true, "Re: [Acme Support #1042]", &[]),
                new(Some(1042), None),
            ),
            (
                "the same domain, but the colleague rule is off (one of ours)",
                run("bob@customer.test", false, "Re: x", &ours),
                new(None, Some(1042)),
            ),
            (
                "a participant's colleague is not the customer's",
                run("dave@partner.test", true, "Re: [Acme Support #1042]", &ours),
                new(Some(1042), Some(1042)),
            ),
            (
                "another user of the customer's mail provider",
                run(
                    "mallory@gmail.com",
                    true,
                    "Re: [Acme Support #1050]",
                    &gmail_ours,
                ),
                new(Some(1050), Some(1050)),
            ),
            (
                "a stranger with the tag",
                run("mallory@evil.test", true, "Re: [Acme Support #1042]", &[]),
                new(Some(1042), None),
            ),
        ];
        for (name, got, expected) in cases {
            assert_eq!(got, expected, "{name}");
        }
    }
}
