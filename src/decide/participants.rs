//! Who besides the customer is on a ticket: the people a customer copies become its
//! participants, and an agent adds or drops one with `#cc add ADDRESS` / `#cc drop ADDRESS`.
//! Never a participant: our own addresses (every inbox's, its `+detail` forms and so the
//! reply addresses, the IMAP logins), the configured agents, the customer, and addresses
//! nobody reads or that would publish the conversation (no-reply, system and list
//! mailboxes). Malformed addresses never get this far: [`ParsedMail::copied`] holds only
//! addresses lettre's parser accepted.

use crate::config::Config;
use crate::domain::{EmailAddress, MAX_PARTICIPANTS, ParticipantChange, Ticket};
use crate::mail::classify;
use crate::mail::parse::ParsedMail;
use crate::mail::providers::same_organization;
use crate::mail::relay::Command;
use crate::mail::signals;

/// Whether `address` is one of ours (an inbox, a `+detail` or reply address of one, an IMAP
/// login) or a configured agent's.
pub(super) fn ours_or_agent(cfg: &Config, address: &EmailAddress) -> bool {
    let base = address.without_detail();
    cfg.own_addresses()
        .iter()
        .any(|o| o.without_detail() == base)
        || cfg
            .agents
            .iter()
            .any(|a| a.email.address().without_detail() == base)
}

/// Whether nobody reads `address`, or it is a list: a no-reply, system or list mailbox.
fn unattended(address: &EmailAddress) -> bool {
    let local = address.local_part();
    signals::noreply_local_part(local)
        || signals::system_local_part(local)
        || signals::list_address(local, address.domain())
}

/// The people copied (To and Cc beside our address) on `customer`'s mail who become
/// participants: in the order written, once each (`+detail` and case aside), at most
/// [`MAX_PARTICIPANTS`], none of ours, an agent, the customer or an unattended mailbox; and
/// nobody when the envelope does not back the From (a forger's Cc list is nobody's
/// colleagues).
pub(super) fn copied(
    cfg: &Config,
    mail: &ParsedMail,
    customer: &EmailAddress,
) -> Vec<EmailAddress> {
    let mut people: Vec<EmailAddress> = Vec::new();
    if !classify::sender_aligned(mail) {
        return people;
    }
    for address in &mail.copied {
        let base = address.without_detail();
        let taken =
            base == customer.without_detail() || people.iter().any(|p| p.without_detail() == base);
        if taken || ours_or_agent(cfg, address) || unattended(address) {
            continue;
        }
        people.push(address.clone());
        if people.len() == MAX_PARTICIPANTS {
            break;
        }
    }
    people
}

/// The people a follow-up on `ticket` adds: those it copies ([`copied`]) who are not on the
/// ticket yet, when the customer wrote it (a participant's Cc adds nobody) and our own MTA
/// vouched for the customer's domain ([`vouched`]). A participant receives every later
/// answer: a forged follow-up (a From and Return-Path anyone can write, and a ticket tag
/// that is a small number) must not be able to copy its author onto someone's
/// conversation. Without `service.trusted_authserv_id`, agents add people with `#cc add`.
pub(super) fn newly_copied(
    cfg: &Config,
    mail: &ParsedMail,
    ticket: &Ticket,
) -> Vec<ParticipantChange> {
    let by_customer = mail
        .from
        .as_ref()
        .is_some_and(|f| f.address.without_detail() == ticket.customer.without_detail());
    if !by_customer || !vouched(cfg, mail, &ticket.customer) {
        return Vec::new();
    }
    copied(cfg, mail, &ticket.customer)
        .into_iter()
        .filter(|p| !ticket.is_participant(p))
        .map(ParticipantChange::Add)
        .collect()
}

/// Who of `participants` the acknowledgement copies: the customer's colleagues (the same
/// organization, never a public mailbox provider), and only when our own MTA vouched for the
/// customer's domain (`service.trusted_authserv_id`: DKIM, SPF or DMARC passing); otherwise
/// nobody. The acknowledgement is an automatic answer to its sender (RFC 3834 §3) and quotes
/// the sender's words: copied on the strength of a From and Return-Path that anyone can
/// write, it would let a forger have us mail their text, from our address and under our
/// signature, to ten people of the company they impersonate. Everyone else learns of the
/// ticket from the agents' answers, which a person wrote and which always copy them.
pub(super) fn acknowledgement_copies(
    cfg: &Config,
    mail: &ParsedMail,
    customer: &EmailAddress,
    participants: &[EmailAddress],
) -> Vec<EmailAddress> {
    let vouched = vouched(cfg, mail, customer);
    participants
        .iter()
        .filter(|p| vouched && same_organization(customer.domain(), p.domain()))
        .cloned()
        .collect()
}

/// Whether our own MTA vouched for `customer`'s domain on `mail`
/// (`service.trusted_authserv_id`: DKIM, SPF or DMARC passing in its own
/// Authentication-Results); `false` without the id.
fn vouched(cfg: &Config, mail: &ParsedMail, customer: &EmailAddress) -> bool {
    cfg.service
        .trusted_authserv_id
        .as_deref()
        .is_some_and(|id| classify::authenticated(mail, id, customer.domain()))
}

/// The changes an answer's `#cc` commands ask for, in order, and what is wrong with them
/// (each in the words the agent is told). Read against the participants as each command
/// leaves them, so `#cc add x` then `#cc drop x` is allowed.
pub(super) fn cc_changes(
    cfg: &Config,
    ticket: &Ticket,
    commands: &[Command],
) -> (Vec<ParticipantChange>, Vec<String>) {
    let mut now_on: Vec<EmailAddress> = ticket.participants.clone();
    let (mut changes, mut problems) = (Vec::new(), Vec::new());
    for c in commands {
        let Command::Cc(args) = c else {
            continue;
        };
        match cc_change(cfg, ticket, &now_on, args) {
            Ok(change) => {
                match &change {
                    ParticipantChange::Add(a) => {
                        let base = a.without_detail();
                        if !now_on.iter().any(|p| p.without_detail() == base) {
                            now_on.push(a.clone());
                        }
                    }
                    ParticipantChange::Drop(a) => {
                        let base = a.without_detail();
                        now_on.retain(|p| p.without_detail() != base);
                    }
                }
                changes.push(change);
            }
            Err(problem) => problems.push(format!("#cc {}: {problem}", args.trim())),
        }
    }
    (changes, problems)
}

/// One `#cc add ADDRESS` or `#cc drop ADDRESS` (`remove` for `drop`), checked against the
/// participants `now_on`.
fn cc_change(
    cfg: &Config,
    ticket: &Ticket,
    now_on: &[EmailAddress],
    args: &str,
) -> Result<ParticipantChange, String> {
    let mut words = args.split_whitespace();
    let verb = words.next().unwrap_or_default().to_ascii_lowercase();
    let raw = words.collect::<Vec<_>>().join(" ");
    // "Carol <carol@x>": the address decides.
    let raw = match (raw.rfind('<'), raw.rfind('>')) {
        (Some(l), Some(r)) if l < r => raw[l + 1..r].to_string(),
        _ => raw,
    };
    if !matches!(verb.as_str(), "add" | "drop" | "remove") || raw.is_empty() {
        return Err("write #cc add ADDRESS or #cc drop ADDRESS".into());
    }
    let Some(address) = EmailAddress::parse(&raw) else {
        return Err("not a valid address".into());
    };
    let base = address.without_detail();
    let on = now_on.iter().any(|p| p.without_detail() == base);
    if verb != "add" {
        return match on {
            true => Ok(ParticipantChange::Drop(address)),
            false => Err(format!("{address} is not on the ticket")),
        };
    }
    if ours_or_agent(cfg, &address) {
        Err("that is our own or an agent's address".into())
    } else if unattended(&address) {
        Err("that looks like a list, no-reply or system address, which nobody reads (and a list would pass every answer on)".into())
    } else if ticket.customer.without_detail() == base {
        Err("that is the ticket's customer".into())
    } else if on {
        // Already there: nothing changes, and the answer is not held up for it.
        Ok(ParticipantChange::Add(address))
    } else if now_on.len() >= MAX_PARTICIPANTS {
        Err(format!(
            "the ticket has {MAX_PARTICIPANTS} participants, the most it may have"
        ))
    } else {
        Ok(ParticipantChange::Add(address))
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::super::decide;
    use crate::compose::Templates;
    use crate::domain::{
        AgentAction, Direction, JoinedVia, MailKind, OutgoingMail, ParticipantChange, Plan,
        RefusalKind, TicketId,
    };
    use crate::mail::relay;
    use crate::testing::{MemStore, TEST_KEY, addr, agent, config, ticket};

    fn run(raw: &[u8], state: &MemStore) -> Plan {
        run_as(None, raw, state)
    }

    /// [`run`] with `service.trusted_authserv_id` set to `authserv_id`.
    fn run_as(authserv_id: Option<&str>, raw: &[u8], state: &MemStore) -> Plan {
        let mut cfg = config(
            "[[agents]]\nname = \"Jason Miller\"\nemail = \"jason@example.test\"\n\
             [[agents]]\nname = \"Maria Lopez\"\nemail = \"maria@example.test\"\n",
        );
        cfg.service.trusted_authserv_id = authserv_id.map(str::to_string);
        let templates = Templates::load(None).expect("templates");
        decide(
            raw,
            7,
            &cfg,
            &templates,
            state,
            1_000_000,
            SystemTime::UNIX_EPOCH,
        )
        .expect("decides")
        .plan
    }

    /// Alice's ticket #1001 with Carol (a colleague) and Paul (a partner) on it.
    fn with_ticket() -> MemStore {
        let t = TicketId::new(1001);
        MemStore::default()
            .with_ticket(
                ticket(1001, "alice@customer.test")
                    .customer_name("Alice Doe")
                    .inbound(0, "<a1@customer.test>", 1)
                    .notify_root("<notify.1001.1@example.test>")
                    .participants(&["carol@customer.test", "paul@partner.test"])
                    .build(),
            )
            .with_message_id("<a1@customer.test>", t)
    }

    fn cc_header(mail: &OutgoingMail) -> String {
        let text = String::from_utf8_lossy(&mail.raw).replace("\r\n ", " ");
        text.lines()
            .find_map(|l| l.strip_prefix("Cc: "))
            .unwrap_or_default()
            .to_string()
    }

    fn recipients(mail: &OutgoingMail) -> Vec<&str> {
        mail.recipients.iter().map(|r| r.as_str()).collect()
    }

    #[test]
    fn the_people_a_customer_copies_become_participants_but_never_ours_or_unread_ones() {
        let raw = b"Return-Path: <alice@customer.test>\r\nFrom: Alice <alice@customer.test>\r\n\
To: support@example.test, Carol <carol@customer.test>\r\n\
Cc: Paul <paul@partner.test>, support+billing@example.test,\r\n \
Jason <JASON@example.test>, noreply@customer.test, Alice+x@customer.test, dev@lists.customer.test,\r\n \
mailer-daemon@customer.test, CAROL@customer.test, broken@@x, paul+y@partner.test\r\n\
Subject: Help\r\nMessage-ID: <a1@customer.test>\r\n\r\nMy printer is on fire.\r\n";
        let Plan::NewTicket {
            ticket, outgoing, ..
        } = run(raw, &MemStore::default())
        else {
            panic!("expected a new ticket");
        };
        assert_eq!(
            ticket.participants,
            vec![addr("carol@customer.test"), addr("paul@partner.test")]
        );
        let events: Vec<_> = ticket
            .messages
            .iter()
            .filter(|m| m.direction == Direction::ParticipantAdded)
            .map(|m| m.from.clone().expect("who"))
            .collect();
        assert_eq!(
            events, ticket.participants,
            "each addition is in the history"
        );
        // On the strength of a From and Return-Path alone, the acknowledgement answers
        // the sender only (RFC 3834 §3).
        let ack = outgoing
            .iter()
            .find(|m| m.kind == MailKind::Acknowledgement)
            .expect("acknowledged");
        assert_eq!(recipients(ack), vec!["alice@customer.test"]);
        assert_eq!(cc_header(ack), "");
        let notify = outgoing
            .iter()
            .find(|m| m.kind == MailKind::AgentNotification)
            .expect("notified");
        assert_eq!(recipients(notify), vec!["jason@example.test"]);
    }

    #[test]
    fn the_acknowledgement_copies_colleagues_only_when_our_mta_vouched_for_the_sender() {
        let raw = |result: &str| {
            format!(
                "Authentication-Results: mx.example.test; dkim={result} header.d=customer.test\r\n\
Return-Path: <alice@customer.test>\r\nFrom: Alice <alice@customer.test>\r\n\
To: support@example.test\r\nCc: carol@customer.test, paul@partner.test\r\n\
Subject: Help\r\n\r\nHi\r\n"
            )
        };
        let ack = |result: &str, id: Option<&str>| {
            let Plan::NewTicket {
                ticket, outgoing, ..
            } = run_as(id, raw(result).as_bytes(), &MemStore::default())
            else {
                panic!("expected a new ticket");
            };
            assert_eq!(ticket.participants.len(), 2, "both are on the ticket");
            let ack = outgoing
                .into_iter()
                .find(|m| m.kind == MailKind::Acknowledgement)
                .expect("acknowledged");
            (recipients(&ack).join(" "), cc_header(&ack))
        };
        assert_eq!(
            ack("pass", Some("mx.example.test")),
            (
                "alice@customer.test carol@customer.test".to_string(),
                "carol@customer.test".to_string()
            ),
            "the colleague is copied, the partner is not"
        );
        for (result, id) in [
            ("fail", Some("mx.example.test")),
            ("pass", Some("other.test")),
            ("pass", None),
        ] {
            assert_eq!(
                ack(result, id),
                ("alice@customer.test".to_string(), String::new()),
                "{result} by {id:?}"
            );
        }
    }

    #[test]
    fn a_sender_the_envelope_does_not_back_copies_nobody() {
        let raw = b"Return-Path: <eve@evil.test>\r\nFrom: Alice <alice@customer.test>\r\n\
To: support@example.test\r\nCc: carol@customer.test, victim@elsewhere.test\r\n\
Subject: Help\r\n\r\nHi\r\n";
        let Plan::NewTicket {
            ticket, outgoing, ..
        } = run(raw, &MemStore::default())
        else {
            panic!(
                "expected a new ticket: {:?}",
                run(raw, &MemStore::default())
            );
        };
        assert!(ticket.participants.is_empty());
        assert!(outgoing.iter().all(|m| m.recipients.len() == 1));
    }

    #[test]
    fn a_participants_or_colleagues_reply_joins_and_reaches_the_agent_a_strangers_does_not() {
        for sender in ["paul@partner.test", "bob@customer.test"] {
            let raw = format!(
                "Return-Path: <{sender}>\r\nFrom: {sender}\r\nTo: support@example.test\r\n\
Subject: Re: Help [Acme Support #1001]\r\nIn-Reply-To: <a1@customer.test>\r\n\r\nMe too.\r\n"
            );
            let Plan::Join {
                ticket,
                via,
                outgoing,
                ..
            } = run(raw.as_bytes(), &with_ticket())
            else {
                panic!("{sender}: expected a join");
            };
            assert_eq!((ticket, via), (TicketId::new(1001), JoinedVia::Header));
            assert_eq!(
                outgoing.len(),
                1,
                "{sender}: the agent is told, nobody else"
            );
            assert_eq!(outgoing[0].kind, MailKind::AgentNotification);
        }
        let stranger = b"Return-Path: <eve@partner2.test>\r\nFrom: eve@partner2.test\r\n\
To: support@example.test\r\nSubject: Re: Help [Acme Support #1001]\r\n\
In-Reply-To: <a1@customer.test>\r\n\r\nLet me in.\r\n";
        let Plan::NewTicket { ticket, .. } = run(stranger, &with_ticket()) else {
            panic!("a stranger opens a ticket of their own");
        };
        assert_eq!(ticket.customer, addr("eve@partner2.test"));
    }

    #[test]
    fn the_customers_vouched_follow_up_adds_whom_it_copies_a_participants_does_not() {
        let follow_up = |from: &str, result: &str, id: Option<&str>| {
            let raw = format!(
                "Authentication-Results: mx.example.test; dkim={result} header.d=customer.test\r\n\
Return-Path: <{from}>\r\nFrom: {from}\r\nTo: support@example.test\r\n\
Cc: carol@customer.test, erin@customer.test, noreply@customer.test\r\n\
Subject: Re: Help\r\nIn-Reply-To: <a1@customer.test>\r\n\r\nAnd Erin.\r\n"
            );
            let Plan::Join { participants, .. } = run_as(id, raw.as_bytes(), &with_ticket()) else {
                panic!("{from}: expected a join");
            };
            participants
        };
        let mta = Some("mx.example.test");
        assert_eq!(
            follow_up("alice+x@customer.test", "pass", mta),
            vec![ParticipantChange::Add(addr("erin@customer.test"))],
            "only the one not on the ticket yet"
        );
        assert!(follow_up("paul@partner.test", "pass", mta).is_empty());
        // A follow-up our MTA did not vouch for (a forger can write From, Return-Path and
        // In-Reply-To): it joins, but copies nobody onto the conversation.
        assert!(follow_up("alice@customer.test", "fail", mta).is_empty());
        assert!(follow_up("alice@customer.test", "pass", None).is_empty());
    }

    #[test]
    fn an_agent_cannot_add_a_list_or_no_reply_address() {
        for list in [
            "dev@lists.customer.test",
            "noreply@customer.test",
            "owner-staff@customer.test",
        ] {
            let (action, changes, _) = answer(&format!("#cc add {list}\r\n\r\nFor the team."));
            assert!(
                matches!(action, AgentAction::Refused(_)) && changes.is_empty(),
                "{list}: {action}"
            );
        }
    }

    /// An answer of Jason's to ticket #1001 with `body`.
    fn answer(body: &str) -> (AgentAction, Vec<ParticipantChange>, Vec<OutgoingMail>) {
        let token = relay::mint(TEST_KEY, TicketId::new(1001), &agent("jason@example.test"));
        let raw = format!(
            "Return-Path: <jason@example.test>\r\nFrom: Jason Miller <jason@example.test>\r\n\
To: support+1001.{token}@example.test\r\nSubject: Re: [Acme Support #1001] Help\r\n\
Message-ID: <j1@example.test>\r\n\r\n{body}"
        );
        let Plan::Agent {
            action,
            participants,
            outgoing,
            ..
        } = run(raw.as_bytes(), &with_ticket())
        else {
            panic!("expected an agent plan");
        };
        (action, participants, outgoing)
    }

    #[test]
    fn a_relayed_answer_copies_the_participants_as_the_cc_commands_leave_them() {
        let (action, changes, outgoing) = answer("Unplug it.\r\n");
        assert_eq!(action, AgentAction::Relayed { then: None });
        assert!(changes.is_empty());
        let reply = &outgoing[0];
        assert_eq!(
            recipients(reply),
            vec![
                "alice@customer.test",
                "carol@customer.test",
                "paul@partner.test"
            ]
        );
        assert_eq!(cc_header(reply), "carol@customer.test, paul@partner.test");

        let (action, changes, outgoing) = answer(
            "#cc add Dora <dora@customer.test>\r\n#cc drop PAUL@partner.test\r\n\r\nUnplug it.\r\n",
        );
        assert_eq!(action, AgentAction::Relayed { then: None });
        assert_eq!(
            changes,
            vec![
                ParticipantChange::Add(addr("dora@customer.test")),
                ParticipantChange::Drop(addr("paul@partner.test")),
            ]
        );
        assert_eq!(
            recipients(&outgoing[0]),
            vec![
                "alice@customer.test",
                "carol@customer.test",
                "dora@customer.test"
            ]
        );
        assert!(!String::from_utf8_lossy(&outgoing[0].raw).contains("#cc"));

        // Commands alone change the participants and send nothing.
        let (action, changes, outgoing) = answer("#cc add dora@customer.test\r\n");
        assert_eq!(action, AgentAction::ParticipantsChanged);
        assert_eq!(changes.len(), 1);
        assert!(outgoing.is_empty());
    }

    #[test]
    fn cc_commands_that_cannot_be_honoured_are_refused_and_change_nothing() {
        for (command, said) in [
            ("#cc add not-an-address", "not a valid address"),
            ("#cc add support+x@example.test", "our own or an agent's"),
            (
                "#cc add support+1001.k7q2@example.test",
                "our own or an agent's",
            ),
            (
                "#cc add Maria <maria@example.test>",
                "our own or an agent's",
            ),
            ("#cc add alice@customer.test", "the ticket's customer"),
            ("#cc drop dora@customer.test", "is not on the ticket"),
            (
                "#cc invite dora@customer.test",
                "#cc add ADDRESS or #cc drop ADDRESS",
            ),
            ("#cc add", "#cc add ADDRESS or #cc drop ADDRESS"),
        ] {
            let (action, changes, outgoing) = answer(&format!("{command}\r\n\r\nUnplug it.\r\n"));
            let AgentAction::Refused(refusal) = &action else {
                panic!("{command}: expected a refusal, got {action:?}");
            };
            assert_eq!(refusal.kind, RefusalKind::Command, "{command}");
            assert!(
                refusal.detail.contains(said),
                "{command}: {}",
                refusal.detail
            );
            assert!(changes.is_empty(), "{command}");
            assert_eq!(outgoing.len(), 1, "{command}: only the notice");
            assert_eq!(outgoing[0].kind, MailKind::AgentNotice);
            assert_eq!(recipients(&outgoing[0]), vec!["jason@example.test"]);
        }
    }
}
