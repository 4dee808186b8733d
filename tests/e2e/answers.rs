//! Issue 10's end-to-end acceptance: agents' answers, written in real mail clients' shapes
//! and by a real mail client, reach the customer exactly as written, through a running
//! daemon and the real Dovecot + Postfix.
//!
//! - `corpus_answers_reach_the_customer_as_written`: [`CASES`] of the replies corpus
//!   (`tests/corpus/replies/`). For each, a customer writes in over SMTP; the daemon opens the
//!   ticket and notifies the agent; the test reads that notification from the agent's mailbox
//!   over IMAP, renders the case's client shape around it (its text, Message-ID, subject and
//!   Reply-To, `tests/replies_support/render.rs`) and sends the answer as the agent over SMTP
//!   to the Reply-To address. The customer's mailbox must then hold the case's expected text
//!   (as words, as `tests/replies.rs` compares) and nothing of the notification's internals.
//! - `mutt_answers_above_the_quote_and_inline`: mutt, driven in tmux, answers one
//!   notification above the quote and another inline between the customer's quoted lines.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;
use frontdesk::compose::{NOTIFICATION_SENTENCES, notification_marker};
use frontdesk::domain::TicketId;
use replies_support::render::{CUSTOMER_TEXT, Notification, Shape};
use replies_support::table::{Case, Expect, cases};

/// The corpus's renderer and table, shared with `tests/replies.rs`.
#[path = "../replies_support"]
mod replies_support {
    pub mod render;
    // `hand_made` is the replies binary's own check.
    #[allow(dead_code)]
    pub mod table;
}

/// The corpus cases sent through the daemon, each with what it stands for.
#[rustfmt::skip]
const CASES: &[(&str, &str)] = &[
    ("crisp-inline-three-answers", "inline answers (Apple Mail)"),
    ("gh-inline-answers", "inline answers, signature (Gmail)"),
    ("crisp-forward-included", "forward included on purpose"),
    ("crisp-outlook-german", "Outlook unprefixed, de header block"),
    ("talon-outlook-french-envoye", "Outlook unprefixed, fr header block"),
    ("crisp-gmail-dutch-wrapped", "Gmail nl, wrapped attribution"),
    ("talon-gmail-polish-wrapped", "Gmail pl, unprefixed"),
    ("talon-android-russian-base64", "Gmail for Android ru, base64"),
    ("talon-gmail-vietnamese", "Gmail vi"),
    ("crisp-finnish", "Gmail fi, unprefixed"),
    ("talon-apple-mail-latin1", "Apple Mail, ISO-8859-1"),
    ("talon-thunderbird-bottom-post", "Thunderbird, flowed, below"),
    ("talon-html-yandex", "HTML only, ru <blockquote>"),
    ("talon-html-thunderbird", "HTML only, Thunderbird"),
    ("talon-html-outlook-2007", "HTML only, Outlook 2007"),
    ("talon-html-hotmail-hr", "HTML only, Hotmail <hr>"),
];

/// The subject every customer writes with (the corpus's).
const SUBJECT: &str = "Charged twice for order 4417";

/// The words of a text, so that re-wrapping and blank lines do not count.
fn words(text: &str) -> Vec<&str> {
    text.split_whitespace().collect()
}

/// Where two texts part, by words, with a few words of each.
fn word_diff(expected: &str, got: &str) -> String {
    let (e, g) = (words(expected), words(got));
    let at = e.iter().zip(&g).take_while(|(a, b)| a == b).count();
    let show = |w: &[&str]| match w.iter().take(8).copied().collect::<Vec<_>>().join(" ") {
        s if s.is_empty() => "(end)".to_string(),
        s => s,
    };
    format!(
        "word {at}: expected «{}», got «{}»",
        show(&e[at.min(e.len())..]),
        show(&g[at.min(g.len())..])
    )
}

/// The ticket number in a notification's `[Acme Support #N]` subject.
fn ticket_of(subject: &str) -> u64 {
    subject
        .split_once("[Acme Support #")
        .and_then(|(_, rest)| rest.split(']').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no ticket tag in {subject:?}"))
}

/// The pieces of a notification that must never reach a customer, each with a name.
fn internals(n: &Notification) -> Vec<(&'static str, String)> {
    let ticket = TicketId::new(ticket_of(&n.subject));
    let token_prefix = n
        .reply_to
        .split_once('.')
        .map_or(n.reply_to.clone(), |(p, _)| format!("{p}."));
    let mut out = vec![
        ("marker line", notification_marker(ticket)),
        ("header line", format!("Ticket #{ticket} ·")),
        ("reply address", n.reply_to.clone()),
        ("reply address", token_prefix),
        ("history line", "First ticket from this customer.".into()),
        ("rule line", "-".repeat(72)),
    ];
    out.extend(NOTIFICATION_SENTENCES.map(|s| ("guidance sentence", s.to_string())));
    out
}

/// Which internals of `n` are in a mail that reached the customer: in its decoded text, its
/// decoded HTML, or its raw bytes.
fn leaks(n: &Notification, mail: &Fetched) -> Vec<&'static str> {
    let parsed = mail.parsed();
    let text = parsed.body_text(0).unwrap_or_default();
    let html = parsed.body_html(0).unwrap_or_default();
    let raw = String::from_utf8_lossy(&mail.raw).to_lowercase();
    let mut found: Vec<&'static str> = internals(n)
        .into_iter()
        .filter(|(_, s)| {
            text.contains(s.as_str())
                || html.contains(s.as_str())
                || raw.contains(&s.to_lowercase())
        })
        .map(|(name, _)| name)
        .collect();
    found.dedup();
    found
}

/// The notifications in the agent's mailbox, each found by its customer's address.
async fn notifications_for(stack: &Stack, d: &Daemon, customers: &[String]) -> Vec<Notification> {
    let all = wait_for_mail(stack, &d.agent, customers.len()).await;
    let read: Vec<Notification> = all
        .iter()
        .map(|m| Notification::from_mail(&m.raw).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    customers
        .iter()
        .map(|c| {
            read.iter()
                .find(|n| n.text.contains(&format!("<{c}>")))
                .cloned()
                .unwrap_or_else(|| panic!("no notification names {c}"))
        })
        .collect()
}

/// The mail as the agent's client submits it: the shape's `Return-Path` goes (the receiving
/// server writes its own from the envelope, as for every client).
fn without_return_path(mail: &[u8]) -> Vec<u8> {
    let head_end = mail
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header");
    let mut out = Vec::with_capacity(mail.len());
    for line in mail[..head_end + 2].split_inclusive(|b| *b == b'\n') {
        if !line.to_ascii_lowercase().starts_with(b"return-path:") {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(&mail[head_end + 2..]);
    out
}

/// The answer that reached a customer: the mail in their box that is not the (automatic)
/// acknowledgement.
fn relayed(box_: &[Fetched]) -> Option<&Fetched> {
    box_.iter().find(|m| m.header("Auto-Submitted").is_none())
}

/// A line of the report for a case whose answer did not arrive: what the daemon did with
/// the agent's mails and what it told the agent.
fn what_happened(d: &Daemon, agent_box: &[Fetched], ticket: u64) -> String {
    let events: Vec<String> = d
        .events("mail.processed")
        .iter()
        // This ticket's, and those of no ticket (a quarantined mail names none).
        .filter(|e| {
            e["outcome"] != "new-ticket"
                && e["ticket"].as_str().is_none_or(|t| t.parse() == Ok(ticket))
        })
        .map(|e| {
            let field = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            format!(
                "{}: {}{}",
                field("outcome"),
                field("action"),
                field("reason")
            )
        })
        .collect();
    let tag = format!("#{ticket}]");
    let notices: Vec<String> = agent_box
        .iter()
        .filter(|m| {
            m.parsed().subject().is_some_and(|s| s.contains(&tag))
                && !m.text().starts_with("--- Reply above this line")
        })
        .map(|m| m.text().replace("\r\n", "\n").trim().replace('\n', " ⏎ "))
        .collect();
    format!("not relayed; processed: {events:?}; told the agent: {notices:?}")
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn corpus_answers_reach_the_customer_as_written() {
    let stack = Stack::get();
    let started = Instant::now();
    let d = Daemon::start(&stack, Options::default()).await;
    let table = cases();
    let chosen: Vec<(&Case, Shape, String)> = CASES
        .iter()
        .map(|(name, _)| {
            let case = table
                .iter()
                .find(|c| c.name == *name)
                .unwrap_or_else(|| panic!("{name} is not in the corpus's README"));
            assert_eq!(
                case.expect,
                Expect::Relay,
                "{name} must be an answer to relay"
            );
            let shape = std::fs::read_to_string(case.shape()).expect("shape");
            let expected = std::fs::read_to_string(case.expected()).expect("expected text");
            (case, Shape::parse(&shape), expected)
        })
        .collect();

    // Every customer writes in: one ticket each, one notification each to the agent.
    let customers: Vec<String> = chosen
        .iter()
        .map(|_| format!("{}@customer.test", unique("casey")))
        .collect();
    for ((_, shape, _), casey) in chosen.iter().zip(&customers) {
        let body = shape.customer_text().replace('\n', "\r\n");
        send_customer_mail(&stack, "Casey Customer", casey, &d.support, SUBJECT, &body).await;
    }
    let notifications = notifications_for(&stack, &d, &customers).await;

    // The agent answers each from their client: the case's shape around the real notification.
    for ((case, shape, _), n) in chosen.iter().zip(&notifications) {
        let mail = shape
            .render(n)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        send_raw(
            &stack,
            Some(&d.agent),
            &n.reply_to,
            &without_return_path(&mail),
        )
        .await;
    }
    d.wait_processed(2 * chosen.len()).await;
    wait_quiet(&stack, &d).await;

    // What each customer got.
    let agent_box = mailbox(&stack, &d.agent).await;
    let mut failures = Vec::new();
    println!("{:<32} {:<38} result", "case", "shape");
    for (((case, _, expected), n), (casey, (_, what))) in chosen
        .iter()
        .zip(&notifications)
        .zip(customers.iter().zip(CASES))
    {
        let got = mailbox(&stack, casey).await;
        let verdict = match relayed(&got) {
            None => Err(what_happened(&d, &agent_box, ticket_of(&n.subject))),
            Some(_) if got.len() != 2 => Err(format!(
                "{} mails, not the acknowledgement and one answer",
                got.len()
            )),
            Some(m) => match leaks(n, m) {
                l if !l.is_empty() => Err(format!("LEAK: {}", l.join(", "))),
                _ if words(&m.text()) == words(expected) => Ok(()),
                _ => Err(format!(
                    "WRONG: {}\n--- got:\n{}",
                    word_diff(expected, &m.text()),
                    m.text()
                )),
            },
        };
        match &verdict {
            Ok(()) => println!("{:<32} {what:<38} PASS", case.name),
            Err(e) => {
                println!("{:<32} {what:<38} FAIL {e}", case.name);
                failures.push(format!("{}: {e}", case.name));
            }
        }
    }
    println!(
        "{} answers through the daemon in {:.1} s",
        chosen.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// mutt in a tmux server of its own (its own socket in `dir`), configured for the agent's
/// mailbox on the test stack: IMAPS with the stack's CA, SMTP submission to its Postfix
/// (STARTTLS, the same CA). Every prompt mutt would ask on a first run or a reply is
/// answered in its configuration, so the keys are only `l` (limit to the notification), `r`
/// (reply) and `y` (send).
///
/// The answer is typed by the editor: mutt's `editor` is a small script that hands the
/// reply's file (mutt's attribution and quote) to the test and writes back what the test
/// returns, the agent's text put where a person would type it. That keeps the test free of
/// an interactive editor's keys, timing and settings, while mutt does everything a client
/// does: quoting the real notification, the reply's headers, encoding, SMTP.
struct Mutt {
    dir: tempfile::TempDir,
    socket: PathBuf,
}

/// The window mutt runs in: wide enough that subjects and addresses are never cut.
const COLUMNS: &str = "220";
const ROWS: &str = "50";
/// How long one step of mutt's may take.
const STEP: Duration = Duration::from_secs(20);

/// Screens that mean mutt stopped at something the test did not plan for.
const UNEXPECTED: &[&str] = &[
    "(r)eject",
    "([yes]/no)",
    "([no]/yes)",
    "Login failed",
    "SMTP session failed",
    "Could not connect",
    "Error sending message",
    "Error running",
    "mutt exited",
];

impl Mutt {
    /// Writes the configuration and the editor, and starts mutt on the agent's INBOX.
    fn start(stack: &Stack, agent: &str) -> Mutt {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path();
        for sub in ["home", "tmp"] {
            std::fs::create_dir(p.join(sub)).expect("mkdir");
        }
        let editor = p.join("type-answer");
        std::fs::write(
            &editor,
            format!(
                r#"#!/bin/sh
# mutt's editor: hands the reply's file ($1) to the test as draft, then waits (60 s at
# most) for the text the agent typed, and writes it into the file.
dir='{dir}'
cp "$1" "$dir/draft.part" && mv "$dir/draft.part" "$dir/draft" || exit 1
i=0
while [ ! -e "$dir/typed" ]; do
    i=$((i + 1))
    [ "$i" -le 600 ] || exit 1
    sleep 0.1
done
cat "$dir/typed" >"$1" && rm -f "$dir/typed"
"#,
                dir = p.display()
            ),
        )
        .expect("editor");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let muttrc = p.join("muttrc");
        std::fs::write(
            &muttrc,
            format!(
                r#"# The agent's mailbox on the test stack.
set folder="imaps://localhost:{imaps}/"
set spoolfile="+INBOX"
set imap_user="{agent}"
set imap_pass="{password}"
set ssl_ca_certificates_file="{ca}"
set ssl_force_tls=yes
set smtp_url="smtp://localhost:{smtp}/"
set hostname="example.test"
set from="Jason Miller <{agent}>"
set use_from=yes
set charset="utf-8"
set send_charset="us-ascii:utf-8"
# No question on a reply: to the Reply-To address, quoting the mail, straight to the editor.
set reply_to=yes
set include=yes
set fast_reply=yes
set edit_headers=no
set editor="{editor}"
set signature=""
# Nothing kept or asked about: no Fcc (no "Create Sent?"), no postponed mail, no caches.
set copy=no
set record=""
set postpone=no
set recall=no
set postponed="{dir}/postponed"
set move=no
set quit=yes
set confirmappend=no
set confirmcreate=no
set header_cache=""
set message_cachedir=""
set tmpdir="{dir}/tmp"
set wait_key=no
set sleep_time=0
set beep=no
"#,
                imaps = stack.imaps_port,
                smtp = stack.smtp_port,
                password = stack.password,
                ca = stack.ca_file.display(),
                editor = editor.display(),
                dir = p.display(),
            ),
        )
        .expect("muttrc");
        let mutt = Mutt {
            socket: p.join("tmux.sock"),
            dir,
        };
        // The pane shows how mutt ended; everything ends by itself within six minutes should
        // this test die before it kills the server (when the pane's command ends, the session
        // and then the server do).
        let command = format!(
            "env HOME='{home}' LC_ALL=C.UTF-8 timeout --foreground 300 mutt -n -F '{rc}'; \
             echo \"mutt exited with $?\"; sleep 60",
            home = mutt.dir.path().join("home").display(),
            rc = muttrc.display()
        );
        mutt.tmux(&[
            "new-session",
            "-d",
            "-s",
            "agent",
            "-x",
            COLUMNS,
            "-y",
            ROWS,
            &command,
        ]);
        mutt
    }

    /// Runs `tmux ARGS` against this server; returns its output.
    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(["-f", "/dev/null"])
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("run tmux (Debian package tmux)");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// What the terminal shows.
    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "agent"])
    }

    /// Presses keys (tmux key names: `Enter`, or single characters).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "agent"];
        args.extend(keys);
        self.tmux(&args);
    }

    /// Types `text` literally.
    fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "agent", "-l", text]);
    }

    /// Polls the screen until `done` holds for it; panics with the screen if mutt stopped at
    /// something unexpected or the step takes longer than [`STEP`].
    async fn wait_screen(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            if let Some(u) = UNEXPECTED.iter().find(|u| screen.contains(*u)) {
                panic!("mutt stopped at {u:?} waiting for {what}:\n{screen}");
            }
            assert!(
                start.elapsed() < STEP,
                "mutt: timed out after {STEP:?} waiting for {what}:\n{screen}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Answers the notification of `ticket`: limits the index to it, presses `r`, has
    /// `write` turn mutt's draft into what the agent typed, checks the compose screen
    /// (addressed to `reply_to`) and sends. Returns mutt's draft.
    async fn answer(
        &self,
        ticket: u64,
        reply_to: &str,
        write: impl FnOnce(&str) -> String,
    ) -> String {
        let tag = format!("[Acme Support #{ticket}]");
        self.wait_screen("the index", |s| {
            s.contains("r:Reply") && s.contains("Msgs:")
        })
        .await;
        self.keys(&["l"]);
        self.wait_screen("the limit prompt", |s| {
            s.contains("Limit to messages matching:")
        })
        .await;
        self.type_text(&format!("~s \"#{ticket}]\""));
        self.keys(&["Enter"]);
        self.wait_screen(&format!("only {tag} in the index"), |s| {
            s.contains(&tag) && s.matches("[Acme Support #").count() == 1
        })
        .await;
        self.keys(&["r"]);
        let draft = self.draft().await;
        let typed = write(&draft);
        let part = self.dir.path().join("typed.part");
        std::fs::write(&part, typed).expect("typed");
        std::fs::rename(&part, self.dir.path().join("typed")).expect("typed");
        let compose = self
            .wait_screen("the compose menu", |s| s.contains("y:Send"))
            .await;
        assert!(
            compose
                .lines()
                .any(|l| l.trim_start().starts_with("To:") && l.contains(reply_to)),
            "mutt answers to the Reply-To address {reply_to}:\n{compose}"
        );
        self.keys(&["y"]);
        self.wait_screen("Mail sent.", |s| s.contains("Mail sent."))
            .await;
        draft
    }

    /// Quits mutt (`q`, no questions) and waits for it to end well.
    async fn quit(&self) {
        self.wait_screen("the index", |s| s.contains("r:Reply"))
            .await;
        self.keys(&["q"]);
        let end = self
            .wait_screen("mutt to exit", |s| s.contains("mutt exited with"))
            .await;
        assert!(end.contains("mutt exited with 0"), "{end}");
    }

    /// Waits for the editor to hand over mutt's draft.
    async fn draft(&self) -> String {
        let file = self.dir.path().join("draft");
        self.wait_screen("mutt to run the editor", |_| file.exists())
            .await;
        let text = std::fs::read_to_string(&file).expect("draft");
        std::fs::remove_file(&file).expect("draft");
        text
    }
}

impl Drop for Mutt {
    fn drop(&mut self) {
        // The server this test started, by its own socket: mutt and its shell go with it.
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn mutt_answers_above_the_quote_and_inline() {
    let stack = Stack::get();
    let started = Instant::now();
    let d = Daemon::start(&stack, Options::default()).await;
    let casey = format!("{}@customer.test", unique("casey"));
    let kim = format!("{}@customer.test", unique("kim"));
    let questions = "Hello,\r\n\r\nDo you ship to Norway?\r\n\r\nCan I pay by invoice?\r\n\r\nThanks,\r\nKim\r\n";
    send_customer_mail(
        &stack,
        "Casey Customer",
        &casey,
        &d.support,
        SUBJECT,
        &CUSTOMER_TEXT.replace('\n', "\r\n"),
    )
    .await;
    send_customer_mail(
        &stack,
        "Kim Kerr",
        &kim,
        &d.support,
        "Two questions",
        questions,
    )
    .await;
    let notes = notifications_for(&stack, &d, &[casey.clone(), kim.clone()]).await;
    let mutt = Mutt::start(&stack, &d.agent);

    // Above the quote, as most agents answer.
    let above = "Hello Casey,\n\nI have refunded the second payment for order 4417; it shows on your\nstatement within five working days.\n\nKind regards,\nJason — Acme Support\n";
    let n = &notes[0];
    let marker = notification_marker(TicketId::new(ticket_of(&n.subject)));
    let draft = mutt
        .answer(ticket_of(&n.subject), &n.reply_to, |draft| {
            format!("{above}\n{draft}")
        })
        .await;
    assert!(
        draft.contains("Casey Customer via Acme Support wrote:")
            && draft.contains(&format!("> {marker}")),
        "mutt quotes the real notification under its attribution:\n{draft}"
    );
    let got = eventually(STEP, "Casey's answer", async || {
        relayed(&mailbox(&stack, &casey).await).cloned()
    })
    .await;
    assert_eq!(leaks(n, &got), Vec::<&str>::new(), "{}", got.text());
    assert_eq!(
        words(&got.text()),
        words(above),
        "{}",
        word_diff(above, &got.text())
    );

    // Inline, under each of Kim's questions, the rest of the quote left as it is.
    let n = &notes[1];
    let answers = [
        (
            "> Do you ship to Norway?",
            "Yes, to all of Norway; delivery takes three to five working days.",
        ),
        (
            "> Can I pay by invoice?",
            "Yes: choose \"Invoice\" at checkout and pay within 30 days.",
        ),
    ];
    mutt.answer(ticket_of(&n.subject), &n.reply_to, |draft| {
        let mut out = Vec::new();
        for line in draft.lines() {
            out.push(line.to_string());
            if let Some((_, a)) = answers.iter().find(|(q, _)| line.trim_end() == *q) {
                out.extend([String::new(), a.to_string(), String::new()]);
            }
        }
        assert_eq!(
            out.len(),
            draft.lines().count() + 3 * answers.len(),
            "both questions are quoted in mutt's draft:\n{draft}"
        );
        out.join("\n") + "\n"
    })
    .await;
    let expected = format!(
        "> Hello,\n>\n> Do you ship to Norway?\n\n{}\n\n>\n> Can I pay by invoice?\n\n{}\n",
        answers[0].1, answers[1].1
    );
    let got = eventually(STEP, "Kim's answer", async || {
        relayed(&mailbox(&stack, &kim).await).cloned()
    })
    .await;
    assert_eq!(leaks(n, &got), Vec::<&str>::new(), "{}", got.text());
    assert!(
        got.text().contains("> Do you ship to Norway?")
            && got.text().contains("> Can I pay by invoice?"),
        "Kim's questions stay as quotes:\n{}",
        got.text()
    );
    assert_eq!(
        words(&got.text()),
        words(&expected),
        "{}",
        word_diff(&expected, &got.text())
    );
    mutt.quit().await;
    println!(
        "mutt's two answers in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
