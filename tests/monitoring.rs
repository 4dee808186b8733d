//! What ops run next to the daemon: `contrib/prometheus/alerts.yml` passes `promtool check
//! rules` and its unit tests (`alerts_test.yml`), `contrib/grafana/frontdesk.json` has the
//! structure Grafana needs, and every metric the rules, the dashboard and README name is one
//! the daemon exposes. The promtool tests are `#[ignore]`d (`scripts/test` installs Debian's
//! `prometheus` package and runs them); the dashboard's queries run on a real Prometheus in
//! `tests/e2e/prometheus.rs`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use frontdesk::domain::{
    AgentAction, AgentEmail, EmailAddress, MailKind, Outcome, SuppressReason, TicketId,
};
use frontdesk::metrics::Metrics;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `promtool ARGS` in `contrib/prometheus`; panics with its output unless it succeeds.
fn promtool(args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(repo("contrib/prometheus"))
        .output()
        .expect("promtool (Debian's prometheus package; scripts/test installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}:\n{text}");
    text
}

#[test]
#[ignore = "needs promtool: run scripts/test"]
fn the_alert_rules_pass_promtool_check() {
    let text = promtool(&["check", "rules", "alerts.yml"]);
    assert!(text.contains("SUCCESS: 6 rules found"), "{text}");
}

#[test]
#[ignore = "needs promtool: run scripts/test"]
fn the_alert_rules_pass_their_unit_tests() {
    let text = promtool(&["test", "rules", "alerts_test.yml"]);
    assert!(text.contains("SUCCESS"), "{text}");
    // Every rule has a case that makes it fire.
    let rules = read("contrib/prometheus/alerts.yml");
    let tests = read("contrib/prometheus/alerts_test.yml");
    for alert in rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
    {
        assert!(
            tests.contains(&format!("alertname: {alert}\n        exp_alerts:")),
            "{alert} has no test that expects it to fire"
        );
    }
}

/// A daemon's exposition with a series in every family (labelled ones included).
fn exposition() -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = frontdesk::store::Store::open(dir.path()).expect("store");
    let m = Metrics::new();
    m.ingested(1);
    m.processed(&Outcome::Suppressed {
        reason: SuppressReason::AutoSubmitted,
    });
    m.processed(&Outcome::Agent {
        ticket: TicketId::new(1),
        action: AgentAction::Relayed { then: None },
    });
    m.sent(MailKind::Acknowledgement, None);
    m.send_retry();
    m.send_dead();
    m.first_response("jason@example.test", Duration::from_secs(60));
    m.imap_down("support", "refused");
    m.reload(true);
    let agent = AgentEmail::new(EmailAddress::parse("jason@example.test").expect("address"));
    m.render(&store, &[agent], Some(Duration::from_secs(86_400)))
}

/// The names of the samples in an exposition (`frontdesk_mails_ingested_total`, `…_bucket`).
fn exposed_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

/// Every `frontdesk_…` name in `text`.
fn names_in(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("frontdesk_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        out.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

/// The dashboard's panels.
fn panels() -> Vec<serde_json::Value> {
    let dash: serde_json::Value =
        serde_json::from_str(&read("contrib/grafana/frontdesk.json")).expect("dashboard JSON");
    dash["panels"].as_array().expect("panels").clone()
}

#[test]
fn every_metric_the_alerts_and_the_dashboard_use_is_exposed() {
    let exposed = exposed_names(&exposition());
    assert!(
        exposed.contains("frontdesk_mails_ingested_total"),
        "{exposed:?}"
    );
    let exprs: String = panels()
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t["expr"].as_str().unwrap_or_default().to_string() + "\n")
        .collect();
    for (file, text) in [
        (
            "contrib/prometheus/alerts.yml",
            read("contrib/prometheus/alerts.yml"),
        ),
        (
            "contrib/prometheus/alerts_test.yml",
            read("contrib/prometheus/alerts_test.yml"),
        ),
        ("contrib/grafana/frontdesk.json", exprs),
    ] {
        let used = names_in(&text);
        assert!(!used.is_empty(), "{file} names no metric");
        let unknown: Vec<_> = used.difference(&exposed).collect();
        assert!(
            unknown.is_empty(),
            "{file} uses metrics the daemon does not expose: {unknown:?}"
        );
    }
}

#[test]
fn readme_documents_every_metric_family() {
    let readme = read("README.md");
    let text = exposition();
    for family in text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
    {
        // Counters are queried with their `_total` suffix; README names them that way.
        assert!(
            readme.contains(&format!("`{family}")),
            "README.md does not document {family}"
        );
    }
}

#[test]
fn the_dashboard_has_what_grafana_needs() {
    let dash: serde_json::Value =
        serde_json::from_str(&read("contrib/grafana/frontdesk.json")).expect("dashboard JSON");
    assert_eq!(dash["uid"], "frontdesk");
    assert!(dash["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(dash["schemaVersion"].as_u64().is_some_and(|v| v >= 30));
    // The data source is a variable, so the dashboard imports into any Grafana.
    let vars = dash["templating"]["list"].as_array().expect("templating");
    assert!(
        vars.iter().any(|v| v["name"] == "datasource"
            && v["type"] == "datasource"
            && v["query"] == "prometheus"),
        "no datasource variable: {vars:?}"
    );
    let panels = panels();
    assert!(panels.len() >= 6);
    let mut ids = BTreeSet::new();
    let mut titles = String::new();
    for p in &panels {
        let title = p["title"].as_str().expect("title");
        titles.push_str(title);
        titles.push('\n');
        assert!(
            ids.insert(p["id"].as_u64().expect("id")),
            "{title}: id twice"
        );
        let g = &p["gridPos"];
        let (x, w) = (g["x"].as_u64().expect("x"), g["w"].as_u64().expect("w"));
        assert!(
            g["y"].is_u64() && g["h"].as_u64().is_some_and(|h| h > 0),
            "{title}"
        );
        assert!(
            w > 0 && x + w <= 24,
            "{title}: outside Grafana's 24 columns"
        );
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{title}");
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        for t in targets {
            assert!(t["refId"].is_string(), "{title}");
            assert!(
                t["expr"].as_str().is_some_and(|e| !e.trim().is_empty()),
                "{title}: empty expr"
            );
            assert_eq!(t["datasource"]["uid"], "${datasource}", "{title}");
        }
    }
    // What a team lead looks for.
    for wanted in [
        "Mail in",
        "Mail out",
        "Acknowledgement latency",
        "First response time per agent",
        "Open tickets per agent",
        "Outbox",
        "Inbox health",
    ] {
        assert!(titles.contains(wanted), "no panel {wanted:?} in:\n{titles}");
    }
}
