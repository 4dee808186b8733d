//! Agents' answers from real mail clients (`tests/corpus/replies/README.md`): each case is a
//! client's reply shape, taken from a public reply-parser fixture, wrapped around the real
//! notification of ticket #1001, with the text the customer must get. Every case runs
//! through `frontdesk::decide::decide` exactly as the daemon would, and the table of what
//! each customer would receive is printed (`cargo test --test replies -- --nocapture`).
//!
//! Asserted: every case decides; no case outside [`KNOWN_LEAKS`] lets notification content
//! reach the customer; every case outside [`KNOWN_WRONG`] and [`KNOWN_LEAKS`] reaches the
//! customer exactly (both lists must stay true, so they shrink as the cut improves); and
//! issue 10's bar: at least 98 % exact, no leak, no answer refused that the agent wrote.
//!
//! An answer written in HTML is judged twice: on the relay's text part, and on its HTML part
//! (which it must have: an HTML answer relayed as text only is not exact). The HTML part's
//! text (its text nodes, [`html_words`]) must be the expected text, compared as words without
//! quote, emphasis marks and link targets (the HTML shows those as blockquotes, `<b>` and
//! `href`s), and hold
//! nothing of the notification, in its text or its markup. The same bar holds for the HTML
//! parts, with their own list of known misses ([`KNOWN_HTML_WRONG`]). The corpus itself is
//! checked to be built from today's notification (`FRONTDESK_REGENERATE_REPLIES=1` rebuilds
//! it).

/// The ticket and its notification, the shapes' renderer, and the README's table.
mod replies_support {
    pub mod render;
    pub mod scenario;
    pub mod table;
}

use std::collections::BTreeMap;

use frontdesk::compose::notification_marker;
use frontdesk::domain::{AgentAction, MailKind, Plan, TicketId};
use replies_support::render::Shape;
use replies_support::scenario::{self, CUSTOMER_TEXT, Notification, TICKET};
use replies_support::table::{Case, Expect, cases, corpus_dir, hand_made};

/// Cases where today's cut lets notification content reach the customer: none (the cut finds
/// the notification by its own lines, and the last guard refuses what is left).
const KNOWN_LEAKS: &[&str] = &[];

/// Cases today's cut does not relay exactly, each with the pattern it misses.
#[rustfmt::skip]
const KNOWN_WRONG: &[&str] = &[
    "disc-polymail", // Polymail's attribution spans blank lines and a lone `<` line: part of it stays
    "talon-polymail", // the same Polymail attribution
    "talon-samsung-mobile", // "Sent from Samsung Mobile" glued to the attribution: the signature goes with it
];

/// HTML answers whose relayed HTML part is not exact, each with the pattern it misses.
#[rustfmt::skip]
const KNOWN_HTML_WRONG: &[&str] = &[];

/// What became of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// As expected: relayed exactly, or refused when nothing of the agent's was left.
    Pass,
    /// Relayed, nothing internal in it, but not the expected text.
    Wrong(String),
    /// Refused although the agent wrote an answer (the notice's reason).
    Refused(String),
    /// Notification content reached the customer (which).
    Leak(String),
}

impl Verdict {
    fn word(&self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Wrong(_) => "WRONG",
            Verdict::Refused(_) => "REFUSED",
            Verdict::Leak(_) => "LEAK",
        }
    }

    fn detail(&self) -> &str {
        match self {
            Verdict::Pass => "",
            Verdict::Wrong(d) | Verdict::Refused(d) | Verdict::Leak(d) => d,
        }
    }
}

/// The lines of the notification that must never reach a customer, with a name for each.
fn internal_lines() -> Vec<(&'static str, String)> {
    let ticket = TicketId::new(TICKET);
    vec![
        ("marker line", notification_marker(ticket)),
        ("header line", format!("Ticket #{ticket} ·")),
        ("reply address", format!("support+{ticket}.")),
        ("tag line", "Reply to this mail to answer".into()),
        ("tag line", "Lines at the top of your reply".into()),
        ("history line", "First ticket from this customer.".into()),
        ("rule line", "-".repeat(72)),
    ]
}

/// The words of a text, so that re-wrapping and blank lines do not count.
fn words(text: &str) -> Vec<&str> {
    text.split_whitespace().collect()
}

/// A short diff of two texts by words: where they part, a few words of each.
fn word_diff(expected: &str, got: &str) -> String {
    let (e, g) = (words(expected), words(got));
    let at = e.iter().zip(&g).take_while(|(a, b)| a == b).count();
    let show = |w: &[&str]| {
        let s = w.iter().take(8).copied().collect::<Vec<_>>().join(" ");
        if s.is_empty() { "(end)".to_string() } else { s }
    };
    format!(
        "word {at}: expected «{}», got «{}»",
        show(&e[at.min(e.len())..]),
        show(&g[at.min(g.len())..])
    )
}

/// What the customer got of one case: the verdict on the text part, and on the HTML part for
/// an answer the agent wrote in HTML (`None` for a text-only answer).
struct Judged {
    text: Verdict,
    html: Option<Verdict>,
}

/// Words as the HTML judge compares them: quote marks (`>`), emphasis marks (`*bold*`,
/// `_italic_`) and link targets in brackets (`<https://…>`, `(https://…)`, `<mailto:…>`) are
/// markup in HTML, not text.
fn plain_words(text: &str) -> Vec<&str> {
    text.split_whitespace()
        .map(|w| w.trim_start_matches('>').trim_matches(['*', '_']))
        .filter(|w| {
            let target = (w.starts_with('<') || w.starts_with('(') || w.starts_with('['))
                && (w.contains("://") || w.contains("mailto:"));
            !w.is_empty() && !target
        })
        .collect()
}

/// The text of an HTML part's body as its text nodes (outside `<head>`, scripts and
/// styles), each apart from the next: read independently of the crate's own HTML reader.
fn html_words(html: &str) -> String {
    let doc = scraper::Html::parse_document(html);
    let mut out = String::new();
    for node in doc.tree.root().descendants() {
        let Some(text) = node.value().as_text() else {
            continue;
        };
        let hidden = node.ancestors().any(|a| {
            a.value()
                .as_element()
                .is_some_and(|e| matches!(e.name(), "head" | "script" | "style" | "title"))
        });
        if !hidden {
            out.push_str(text);
            out.push(' ');
        }
    }
    out
}

/// The notification lines found in `text` or (lowercased) in `raw`.
fn leaks(text: &str, raw: &str) -> Option<Verdict> {
    let mut names: Vec<&str> = internal_lines()
        .into_iter()
        .filter(|(_, line)| {
            text.contains(line.as_str()) || raw.contains(&line.to_ascii_lowercase())
        })
        .map(|(name, _)| name)
        .collect();
    names.dedup();
    (!names.is_empty()).then(|| Verdict::Leak(names.join(", ")))
}

/// Decides one case and judges what the customer would receive, in both parts.
fn judge(case: &Case, raw: &[u8], expected: &str, ctx: &Ctx) -> Result<Judged, String> {
    let written_in_html =
        frontdesk::mail::parse::reply_html(&frontdesk::mail::parse::Mime::new(raw)).is_some();
    let decision = scenario::answer(raw, &ctx.cfg, &ctx.templates, &ctx.store);
    let Plan::Agent {
        action, outgoing, ..
    } = &decision.plan
    else {
        return Err(format!("not an agent's answer: {:?}", decision.plan));
    };
    match action {
        AgentAction::Relayed { .. } => {}
        AgentAction::Refused(r) => {
            if !outgoing.iter().any(|m| m.kind == MailKind::AgentNotice) {
                return Err("refused without a notice to the agent".into());
            }
            let v = match case.expect {
                Expect::Refuse => Verdict::Pass,
                Expect::Relay => Verdict::Refused(r.detail.clone()),
            };
            return Ok(Judged {
                html: written_in_html.then(|| v.clone()),
                text: v,
            });
        }
        other => return Err(format!("neither relayed nor refused: {other:?}")),
    }
    let relayed = outgoing
        .iter()
        .find(|m| m.kind == MailKind::AgentReply)
        .ok_or("relayed without a mail to the customer")?;
    let parsed = mail_parser::MessageParser::default()
        .parse(&relayed.raw)
        .ok_or("the relayed mail does not parse")?;
    let text = parsed.body_text(0).unwrap_or_default().into_owned();
    let raw_text = String::from_utf8_lossy(&relayed.raw).to_ascii_lowercase();
    let html = parsed
        .html_part(0)
        .filter(|p| p.is_text_html())
        .and_then(|_| parsed.body_html(0))
        .map(|h| h.into_owned());
    let verdict = |got: &str, exact: bool| match case.expect {
        Expect::Refuse => Verdict::Wrong("relayed, but nothing of the agent's was left".into()),
        Expect::Relay if exact => Verdict::Pass,
        Expect::Relay => Verdict::Wrong(word_diff(expected, got)),
    };
    let text_verdict =
        leaks(&text, &raw_text).unwrap_or_else(|| verdict(&text, words(&text) == words(expected)));
    let html_verdict = match (&html, written_in_html) {
        (_, false) => None,
        (None, true) => Some(Verdict::Wrong("relayed as text only".into())),
        (Some(html), true) => {
            let got = html_words(html);
            let exact = plain_words(&got) == plain_words(expected);
            Some(leaks(&got, &html.to_ascii_lowercase()).unwrap_or_else(|| verdict(&got, exact)))
        }
    };
    Ok(Judged {
        text: text_verdict,
        html: html_verdict,
    })
}

/// Checks one part's verdicts against its lists of known leaks and misses, and issue 10's
/// bar (at least 98 % exact, no leak, no answer refused that the agent wrote); prints its
/// summary.
fn check_part(
    part: &str,
    verdicts: &BTreeMap<String, Verdict>,
    known_leaks: &[&str],
    known_wrong: &[&str],
) -> Vec<String> {
    let count = |w: &str| verdicts.values().filter(|v| v.word() == w).count();
    let total = verdicts.len().max(1);
    let pct = |n: usize| 100.0 * n as f64 / total as f64;
    println!(
        "{part}: {total} cases: {} exact ({:.1} %), {} wrong ({:.1} %), {} refused ({:.1} %), {} leaked ({:.1} %)",
        count("PASS"),
        pct(count("PASS")),
        count("WRONG"),
        pct(count("WRONG")),
        count("REFUSED"),
        pct(count("REFUSED")),
        count("LEAK"),
        pct(count("LEAK")),
    );
    let mut problems = Vec::new();
    for name in known_leaks.iter().chain(known_wrong) {
        if !verdicts.contains_key(*name) {
            problems.push(format!("{part}: {name} is listed but is not a case"));
        }
    }
    for (name, v) in verdicts {
        let (leak_listed, wrong_listed) = (
            known_leaks.contains(&name.as_str()),
            known_wrong.contains(&name.as_str()),
        );
        match v {
            Verdict::Leak(d) if !leak_listed => problems.push(format!("{part}: {name} LEAKS: {d}")),
            Verdict::Leak(_) => {}
            _ if leak_listed => problems.push(format!(
                "{part}: {name} no longer leaks ({}): take it off its known leaks",
                v.word()
            )),
            Verdict::Pass if wrong_listed => problems.push(format!(
                "{part}: {name} is exact now: take it off its known misses"
            )),
            Verdict::Pass => {}
            Verdict::Wrong(d) | Verdict::Refused(d) if !wrong_listed => {
                problems.push(format!("{part}: {name} {}: {d}", v.word()))
            }
            Verdict::Wrong(_) | Verdict::Refused(_) => {}
        }
    }
    // Issue 10's bar: at least 98 % exact, no leak, no answer refused that the agent wrote.
    if count("PASS") * 100 < total * 98 {
        problems.push(format!("{part}: {} of {total} exact", count("PASS")));
    }
    if count("LEAK") > 0 {
        problems.push(format!("{part}: answers leaked notification content"));
    }
    if count("REFUSED") > 0 {
        problems.push(format!(
            "{part}: answers refused although the agent wrote one"
        ));
    }
    problems
}

/// The configuration, templates and store every case is decided with.
struct Ctx {
    cfg: frontdesk::config::Config,
    templates: frontdesk::compose::Templates,
    store: frontdesk::testing::MemStore,
}

impl Ctx {
    fn new() -> Ctx {
        let cfg = scenario::config();
        let templates = scenario::templates();
        let store = scenario::open(&cfg, &templates, CUSTOMER_TEXT).store();
        Ctx {
            cfg,
            templates,
            store,
        }
    }
}

/// Every case, decided as the daemon would; the table printed, today's lists asserted.
#[test]
fn every_reply_reaches_the_customer_as_the_agent_wrote_it() {
    let ctx = Ctx::new();
    let cases = cases();
    assert!(cases.len() >= 120, "the README lists {} cases", cases.len());
    let mut errors = Vec::new();
    let mut verdicts: BTreeMap<String, Verdict> = BTreeMap::new();
    let mut html_verdicts: BTreeMap<String, Verdict> = BTreeMap::new();
    println!("{:<44} {:<8} {:<8} detail", "case", "text", "html");
    for case in &cases {
        let raw = std::fs::read(case.eml()).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let expected = match case.expect {
            Expect::Relay => std::fs::read_to_string(case.expected())
                .unwrap_or_else(|e| panic!("{}.expected.txt: {e}", case.name)),
            Expect::Refuse => String::new(),
        };
        match judge(case, &raw, &expected, &ctx) {
            Ok(Judged { text, html }) => {
                let detail = match &html {
                    Some(h) if !h.detail().is_empty() && h.detail() != text.detail() => {
                        format!("{} | html: {}", text.detail(), h.detail())
                    }
                    _ => text.detail().to_string(),
                };
                let html_word = html.as_ref().map_or("-", Verdict::word);
                println!(
                    "{:<44} {:<8} {:<8} {detail}",
                    case.name,
                    text.word(),
                    html_word
                );
                verdicts.insert(case.name.clone(), text);
                if let Some(h) = html {
                    html_verdicts.insert(case.name.clone(), h);
                }
            }
            Err(e) => errors.push(format!("{}: {e}", case.name)),
        }
    }
    println!();
    let mut problems = check_part("text", &verdicts, KNOWN_LEAKS, KNOWN_WRONG);
    problems.extend(check_part("html", &html_verdicts, &[], KNOWN_HTML_WRONG));
    assert!(
        errors.is_empty(),
        "cases that did not decide:\n{}",
        errors.join("\n")
    );
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// The committed mails are their shapes around today's notification: a changed
/// notification template shows up here. `FRONTDESK_REGENERATE_REPLIES=1` rewrites them.
#[test]
fn the_corpus_is_built_from_today_s_notification() {
    let regenerate = std::env::var_os("FRONTDESK_REGENERATE_REPLIES").is_some_and(|v| v == "1");
    let cfg = scenario::config();
    let templates = scenario::templates();
    let mut notifications: BTreeMap<String, Notification> = BTreeMap::new();
    let mut stale = Vec::new();
    for case in cases() {
        let text = std::fs::read_to_string(case.shape())
            .unwrap_or_else(|e| panic!("{}: {e}", case.shape().display()));
        let shape = Shape::parse(&text);
        let customer = shape.customer_text().to_string();
        let n = notifications
            .entry(customer.clone())
            .or_insert_with(|| scenario::open(&cfg, &templates, &customer).notification());
        let mail = shape
            .render(n)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        if regenerate {
            std::fs::write(case.eml(), &mail).expect("write the case");
        } else if std::fs::read(case.eml()).ok().as_deref() != Some(&mail[..]) {
            stale.push(case.name);
        }
    }
    assert!(
        stale.is_empty(),
        "not built from today's notification (rebuild with FRONTDESK_REGENERATE_REPLIES=1 \
         cargo test --test replies the_corpus_is_built): {}",
        stale.join(", ")
    );
}

/// The README and the directory agree: every file belongs to a row, every row has its files.
#[test]
fn the_readme_lists_every_case_and_its_files_exist() {
    let rows: Vec<Case> = cases();
    let made = hand_made();
    let mut names: Vec<&str> = rows.iter().map(|c| c.name.as_str()).collect();
    names.extend(made.iter().map(|m| m.trim_end_matches(".eml")));
    let mut seen = std::collections::HashSet::new();
    assert!(names.iter().all(|n| seen.insert(*n)), "a row appears twice");
    for entry in std::fs::read_dir(corpus_dir()).expect("corpus directory") {
        let file = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        let Some(stem) = file
            .strip_suffix(".expected.txt")
            .or_else(|| file.strip_suffix(".eml"))
        else {
            continue;
        };
        assert!(names.contains(&stem), "{file} has no row in README.md");
    }
    for case in &rows {
        assert!(case.shape().is_file(), "{}: no shape", case.name);
        assert!(case.eml().is_file(), "{}: no mail", case.name);
        assert_eq!(
            case.expected().is_file(),
            case.expect == Expect::Relay,
            "{}: a relayed case has an expected text, a refused one none",
            case.name
        );
    }
}
