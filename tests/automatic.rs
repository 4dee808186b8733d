//! Issue 17, point 8: automatic mail is never acknowledged, genuine mail is. Every case of
//! `tests/corpus/automatic/README.md` (real bounces, auto-replies, feedback reports,
//! challenges, list posts and notices, newsletters, and mail written by people, each from a
//! public collection named in its row) goes through `frontdesk::decide::decide` as the daemon
//! would decide it: it must get the outcome its row names; none but the person-written ones
//! may be acknowledged, and those must be.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use frontdesk::compose::Templates;
use frontdesk::config::Config;
use frontdesk::decide::decide;
use frontdesk::domain::{MailKind, Plan, UnixTime};
use frontdesk::testing::{MemStore, describe_plan, matches};

/// "Now" for every decision: a fixed Wednesday, so working hours do not make runs differ.
const NOW: UnixTime = 1_795_000_000;

/// The kind of the mails that must be acknowledged.
const PERSON: &str = "person";

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/automatic")
}

/// One row of the README's table of cases.
struct Case {
    name: String,
    kind: String,
    expect: String,
}

/// The rows of the `## Cases` table, in order.
fn cases() -> Vec<Case> {
    let readme = std::fs::read_to_string(corpus_dir().join("README.md")).expect("README.md");
    let table = readme
        .split_once("## Cases")
        .map(|(_, t)| t)
        .expect("a `## Cases` section");
    table
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            assert!(cells.len() >= 6, "a row with six columns: {line}");
            Case {
                name: cells[0].trim_matches('`').to_string(),
                kind: cells[1].to_string(),
                expect: cells[2].to_string(),
            }
        })
        .collect()
}

/// The test kit's configuration with one agent: every mail a person writes opens a ticket.
fn config() -> Config {
    frontdesk::testing::config(
        "[[agents]]\nname = \"Jason Miller\"\nemail = \"jason@example.test\"\n",
    )
}

/// The decision for `raw` as stored mail 7, with an empty store.
fn plan(raw: &[u8], cfg: &Config, templates: &Templates) -> Plan {
    let date = SystemTime::UNIX_EPOCH + Duration::from_secs(NOW as u64);
    let Ok(decision) = decide(raw, 7, cfg, templates, &MemStore::default(), NOW, date);
    decision.plan
}

/// How many acknowledgements the plan would send.
fn acknowledgements(plan: &Plan) -> usize {
    plan.outgoing()
        .iter()
        .filter(|m| m.kind == MailKind::Acknowledgement)
        .count()
}

/// Every row: its outcome, no acknowledgement for automatic mail, one for a person's.
#[test]
fn automatic_mail_is_never_acknowledged_and_a_persons_is() {
    let cfg = config();
    let templates = Templates::load(None).expect("built-in templates");
    let cases = cases();
    let automatic = cases.iter().filter(|c| c.kind != PERSON).count();
    assert!(automatic >= 200, "only {automatic} automatic cases");
    let mut failures = Vec::new();
    let mut tally: BTreeMap<(String, String), usize> = BTreeMap::new();
    for case in &cases {
        let raw = std::fs::read(corpus_dir().join(&case.name)).expect("case file");
        let plan = plan(&raw, &cfg, &templates);
        let got = describe_plan(&plan);
        let acks = acknowledgements(&plan);
        if case.kind == PERSON && (got != "ack" || acks != 1) {
            failures.push(format!(
                "{} ({}): {got}, must be acknowledged",
                case.name, case.kind
            ));
        } else if case.kind != PERSON && acks > 0 {
            failures.push(format!(
                "{} ({}): ACKNOWLEDGED ({got})",
                case.name, case.kind
            ));
        } else if !matches(&case.expect, &got) {
            failures.push(format!(
                "{}: expected {}, got {got}",
                case.name, case.expect
            ));
        }
        let outcome = got.split(':').take(2).collect::<Vec<_>>().join(":");
        *tally.entry((case.kind.clone(), outcome)).or_default() += 1;
    }
    for ((kind, outcome), n) in &tally {
        println!("{n:4} {kind:16} {outcome}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The corpus and the table agree: every file has a row, every row a file, no row twice.
#[test]
fn the_readme_lists_every_file_once() {
    let rows: Vec<String> = cases().into_iter().map(|c| c.name).collect();
    let files: Vec<String> = std::fs::read_dir(corpus_dir())
        .expect("corpus directory")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "README.md")
        .collect();
    for f in &files {
        assert!(rows.contains(f), "{f} has no row in README.md");
    }
    for r in &rows {
        assert!(files.contains(r), "README.md row {r} has no file");
    }
    let mut seen = std::collections::HashSet::new();
    assert!(rows.iter().all(|r| seen.insert(r)), "a row appears twice");
}
