//! Hostile and broken input through the pure pipeline (`frontdesk::decide::decide`): every
//! case of `tests/corpus/hostile/README.md` (files, and big cases generated here) gets the
//! outcome its row names, nothing panics, and every mail we would send keeps the invariants
//! of `hostile_support::decide::check` (well-formed headers of ours only, the right single recipient,
//! a small acknowledgement without attachments whose HTML escapes the customer's text).
//!
//! `short_fuzz_*` are the short fuzz run of the test command: proptest mutations of the corpus
//! through the same function and checks as the cargo-fuzz target `fuzz/fuzz_targets/pipeline.rs`
//! (`HOSTILE_FUZZ_CASES` sets the number of cases; ARCHITECTURE.md tells how to fuzz long).

/// The corpus, the pure pipeline with its checks, and what the two share
/// (`tests/hostile_support/`): this binary uses all of it.
mod hostile_support {
    pub mod corpus;
    pub mod decide;
    pub mod shared;
}

use std::panic::{AssertUnwindSafe, catch_unwind};

use frontdesk::domain::{MailKind, Plan};
use frontdesk::testing::{MemStore, describe_plan, matches};
use hostile_support::corpus::{cases, corpus_dir, generated};
use hostile_support::decide::{check, config, html_tags, run, store, templates};
use hostile_support::shared::{LIMIT, header_fields};
use proptest::prelude::*;

/// Every row of the README table, through `decide`: the expected outcome and the invariants.
#[test]
fn every_hostile_case_gets_its_defined_outcome() {
    let cfg = config(LIMIT);
    let templates = templates();
    let state = store();
    let cases = cases("outcome");
    assert!(
        cases.len() >= 50,
        "the README's table lists {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let raw = case.bytes();
        let decided = catch_unwind(AssertUnwindSafe(|| run(&raw, &cfg, &templates, &state)));
        let decision = match decided {
            Ok(d) => d,
            Err(_) => {
                failures.push(format!("{}: PANICKED", case.name));
                continue;
            }
        };
        let got = describe_plan(&decision.plan);
        if !matches(&case.expect, &got) {
            failures.push(format!(
                "{}: expected {}, got {got}",
                case.name, case.expect
            ));
        }
        if let Err(e) = check(&raw, &decision, &cfg, &state) {
            failures.push(format!("{}: {e}", case.name));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// The hostile agent's answer (HTML only: a script, a Gmail quote of the notification's header
/// line) reaches the customer as sanitized HTML and its text: the answer, without the script
/// or the quote.
#[test]
fn the_hostile_agent_answer_goes_out_sanitized() {
    let raw = std::fs::read(corpus_dir().join("agent-reply-hostile.eml")).expect("the case");
    let decision = run(&raw, &config(LIMIT), &templates(), &store());
    let relayed = decision
        .plan
        .outgoing()
        .iter()
        .find(|m| m.kind == MailKind::AgentReply)
        .expect("relayed");
    let parsed = mail_parser::MessageParser::default()
        .parse(&relayed.raw)
        .expect("parses");
    let text = parsed.body_text(0).expect("a text part");
    assert_eq!(text.trim(), "Please unplug it.");
    let html = parsed.body_html(0).expect("an HTML part");
    assert!(html.contains("<p>Please unplug it.</p>"), "{html}");
    for gone in [
        "script",
        "alert",
        "Ticket #1001",
        "gmail_quote",
        "blockquote",
    ] {
        assert!(!html.contains(gone), "{gone} in {html}");
    }
}

/// The corpus and the table agree: every file has a row, every row a file or a generator.
#[test]
fn the_readme_lists_every_file_and_every_row_exists() {
    let rows: Vec<String> = cases("outcome").into_iter().map(|c| c.name).collect();
    let mut files: Vec<String> = std::fs::read_dir(corpus_dir())
        .expect("corpus directory")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".eml"))
        .collect();
    files.sort();
    for f in &files {
        assert!(rows.contains(f), "{f} has no row in README.md");
    }
    for r in &rows {
        assert!(
            files.contains(r) || generated(r).is_some(),
            "README.md row {r} is neither a file nor generated"
        );
    }
    let mut seen = std::collections::HashSet::new();
    assert!(rows.iter().all(|r| seen.insert(r)), "a row appears twice");
}

/// The size limit is configuration: the same mail is processed under a larger limit and
/// quarantined, with the limit named, under a smaller one.
#[test]
fn the_size_limit_is_configuration() {
    let raw = generated("subject-1mb").expect("generated");
    let templates = templates();
    let state = store();
    let big = run(&raw, &config(LIMIT), &templates, &state);
    assert_eq!(describe_plan(&big.plan), "ack");
    let small = run(&raw, &config(500_000), &templates, &state);
    assert_eq!(
        describe_plan(&small.plan),
        format!(
            "quarantined:message of {} bytes exceeds limits.max_message_bytes (500000)",
            raw.len()
        )
    );
}

/// What the agent gets for a 25 MB attachment: the file, whole; the customer's
/// acknowledgement stays small and carries nothing of it.
#[test]
fn a_big_attachment_reaches_the_agent_not_the_customer() {
    let raw = generated("attachment-25mb").expect("generated");
    let cfg = config(LIMIT);
    let d = run(&raw, &cfg, &templates(), &store());
    let Plan::NewTicket { outgoing, .. } = &d.plan else {
        panic!("expected a new ticket, got {}", describe_plan(&d.plan));
    };
    let ack = outgoing
        .iter()
        .find(|m| m.kind == MailKind::Acknowledgement)
        .expect("acknowledged");
    assert!(ack.raw.len() < 16 * 1024, "{} bytes", ack.raw.len());
    let notify = outgoing
        .iter()
        .find(|m| m.kind == MailKind::AgentNotification)
        .expect("notified");
    let parsed = mail_parser::MessageParser::default()
        .parse(&notify.raw)
        .expect("parses");
    let sizes: Vec<usize> = parsed.attachments().map(|a| a.len()).collect();
    assert_eq!(sizes, vec![25 * 1024 * 1024], "the agent gets the file");
}

/// The header checker itself: it must catch what it is there to catch.
#[test]
fn the_header_check_catches_injected_and_broken_headers() {
    let good = b"From: a@example.test\r\nTo: b@customer.test\r\nSubject: x\r\n \
folded\r\nMessage-ID: <m@example.test>\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\n\r\nbody";
    assert!(header_fields(good).is_ok());
    let bad: [&[u8]; 6] = [
        b"From: a@example.test\r\nTo: b@customer.test\r\nBcc: v@evil.test\r\nSubject: x\r\nMessage-ID: <m@x>\r\nDate: d\r\n\r\n",
        b"From: a@example.test\r\nTo: b@customer.test\r\nSubject: x\nBcc: v@evil.test\r\nMessage-ID: <m@x>\r\nDate: d\r\n\r\n",
        b"From: a@example.test\r\nTo: b@customer.test\r\nSubject: x\rBcc\r\nMessage-ID: <m@x>\r\nDate: d\r\n\r\n",
        b"From: a@example.test\r\nTo: b@customer.test\r\nTo: v@evil.test\r\nSubject: x\r\nMessage-ID: <m@x>\r\nDate: d\r\n\r\n",
        b"From: a@example.test\r\nTo: b@customer.test\r\nSubject: x\r\nnot a header\r\nMessage-ID: <m@x>\r\nDate: d\r\n\r\n",
        b"From: a@example.test\r\nTo: b@customer.test\r\nSubject: x\r\nMessage-ID: <m@x>\r\nDate: d\r\n",
    ];
    for b in bad {
        assert!(
            header_fields(b).is_err(),
            "{:?} passed",
            String::from_utf8_lossy(b)
        );
    }
    assert_eq!(
        html_tags("<p>a &lt;script&gt;</p><br><img src=x>"),
        vec!["p", "p", "br", "img"]
    );

    // And `check` on a real decision, tampered with the way a bug would.
    let raw = std::fs::read(corpus_dir().join("8bit-headers.eml")).expect("fixture");
    let cfg = config(LIMIT);
    let state = store();
    let good = run(&raw, &cfg, &templates(), &state);
    check(&raw, &good, &cfg, &state).expect("a real acknowledgement passes");
    type Tamper = fn(&mut frontdesk::domain::OutgoingMail);
    let tampers: [(&str, &str, Tamper); 4] = [
        ("a second recipient", "who may not get it", |m| {
            m.recipients.push(m.recipients[0].clone())
        }),
        ("an agent as recipient", "may not get it", |m| {
            m.recipients[0] =
                frontdesk::domain::EmailAddress::parse("jason@example.test").expect("valid")
        }),
        ("an injected Bcc", "\"bcc\" is not one of ours", |m| {
            m.raw
                .splice(0..0, b"Bcc: victim@evil.test\r\n".iter().copied());
        }),
        ("customer HTML", "unescaped <img>", |m| {
            let s = String::from_utf8_lossy(&m.raw).replace("<p>Hello ", "<p><img src=3Dx>Hello ");
            m.raw = s.into_bytes();
        }),
    ];
    for (what, why, tamper) in tampers {
        let mut bad = good.clone();
        let Plan::NewTicket { outgoing, .. } = &mut bad.plan else {
            panic!("expected a new ticket");
        };
        let ack = outgoing
            .iter_mut()
            .find(|m| m.kind == MailKind::Acknowledgement)
            .expect("acknowledged");
        tamper(ack);
        let err = check(&raw, &bad, &cfg, &state).expect_err(what);
        assert!(err.contains(why), "{what}: {err}");
    }
}

/// The corpus files, for mutation.
fn seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(corpus_dir())
        .expect("corpus")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".eml"))
        .filter_map(|e| std::fs::read(e.path()).ok())
        .collect();
    seeds.sort();
    seeds
}

/// One edit of a mutation: what happens to the seed at a position.
#[derive(Debug, Clone)]
enum Edit {
    /// Overwrite a byte.
    Set(usize, u8),
    /// Insert bytes, often one of the tokens mail parsers care about.
    Insert(usize, Vec<u8>),
    /// Remove a range.
    Remove(usize, usize),
    /// Cut the mail here.
    Truncate(usize),
    /// Duplicate a range in place.
    Repeat(usize, usize, usize),
}

/// Tokens that change how a mail parses.
const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r",
    b"\0",
    b": ",
    b"\r\n\r\n",
    b"\r\n ",
    b"=?utf-8?q?",
    b"=?utf-8?b?",
    b"?=",
    b"=0D=0A",
    b"<",
    b">",
    b"\"",
    b"@",
    b",",
    b";",
    b"--",
    b"From: ",
    b"To: ",
    b"Bcc: x@evil.test\r\n",
    b"Subject: ",
    b"Return-Path: <>\r\n",
    b"In-Reply-To: <ack.1001.abc@example.test>\r\n",
    b"Content-Type: multipart/mixed; boundary=\"q\"\r\n",
    b"Content-Type: message/rfc822\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"\r\n--q\r\n",
    b"\r\n--q--\r\n",
    b"[Acme Support #1001]",
    b"{ref:1001.abcdefghij}",
    b"support+1001.abcdefghij@example.test",
    b"\xe2\x80\xae",
    b"\xff\xfe",
    b"\xc3",
    b"<script>",
    b"&lt;",
];

fn edit() -> impl Strategy<Value = Edit> {
    let pos = any::<usize>();
    prop_oneof![
        (pos, any::<u8>()).prop_map(|(p, b)| Edit::Set(p, b)),
        (pos, prop::sample::select(TOKENS)).prop_map(|(p, t)| Edit::Insert(p, t.to_vec())),
        (pos, prop::collection::vec(any::<u8>(), 1..8)).prop_map(|(p, b)| Edit::Insert(p, b)),
        (pos, 1usize..64).prop_map(|(p, n)| Edit::Remove(p, n)),
        pos.prop_map(Edit::Truncate),
        (pos, 1usize..32, 1usize..20).prop_map(|(p, n, k)| Edit::Repeat(p, n, k)),
    ]
}

fn apply(seed: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut m = seed.to_vec();
    for e in edits {
        let at = |p: usize, len: usize| if len == 0 { 0 } else { p % (len + 1) };
        match e {
            Edit::Set(p, b) => {
                if !m.is_empty() {
                    let i = p % m.len();
                    m[i] = *b;
                }
            }
            Edit::Insert(p, bytes) => {
                let i = at(*p, m.len());
                m.splice(i..i, bytes.iter().copied());
            }
            Edit::Remove(p, n) => {
                let i = at(*p, m.len());
                let end = (i + n).min(m.len());
                m.drain(i..end);
            }
            Edit::Truncate(p) => {
                let i = at(*p, m.len());
                m.truncate(i);
            }
            Edit::Repeat(p, n, k) => {
                let i = at(*p, m.len());
                let end = (i + n).min(m.len());
                let chunk = m[i..end].to_vec();
                for _ in 0..*k {
                    m.splice(end..end, chunk.iter().copied());
                }
            }
        }
    }
    m
}

/// Cases for the short fuzz run: `HOSTILE_FUZZ_CASES`, default 1500 (a few seconds each).
fn fuzz_cases() -> u32 {
    std::env::var("HOSTILE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500)
}

/// Runs one input through the pipeline and the invariants.
fn fuzz_one(raw: &[u8]) -> Result<(), TestCaseError> {
    thread_local! {
        static FIXTURE: (frontdesk::config::Config, frontdesk::compose::Templates, MemStore) =
            (config(LIMIT), templates(), store());
    }
    FIXTURE.with(|(cfg, templates, state)| {
        let d = run(raw, cfg, templates, state);
        check(raw, &d, cfg, state).map_err(TestCaseError::fail)
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: fuzz_cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Mutated corpus mails: a defined outcome, the invariants, never a panic.
    #[test]
    fn short_fuzz_mutated_corpus(
        seed in prop::sample::select(seeds()),
        edits in prop::collection::vec(edit(), 1..12),
    ) {
        fuzz_one(&apply(&seed, &edits))?;
    }

    /// Arbitrary bytes, and arbitrary bytes after a plausible header.
    #[test]
    fn short_fuzz_arbitrary_bytes(
        head in prop::sample::select(vec![
            &b""[..],
            b"From: x@customer.test\r\n",
            b"From: x@customer.test\r\nContent-Type: multipart/mixed; boundary=\"q\"\r\n\r\n--q\r\n",
        ]),
        tail in prop::collection::vec(any::<u8>(), 0..4096),
    ) {
        let mut raw = head.to_vec();
        raw.extend_from_slice(&tail);
        fuzz_one(&raw)?;
    }
}
