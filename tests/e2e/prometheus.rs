//! The daemon scraped by a real Prometheus (Debian's `prometheus` package, which
//! `scripts/test` installs): every metric family arrives with the type the daemon declares
//! (counters as counters, not unknown), and every query of the shipped Grafana dashboard
//! (`contrib/grafana/frontdesk.json`) is accepted by Prometheus's query API. Prometheus runs
//! as the test's own process on loopback, with its configuration and data in a temporary
//! directory, on `STACK_PROMETHEUS_PORT` (default 19090).

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An HTTP/1.0 answer: status, headers (names in lower case), body.
struct Answer {
    code: u16,
    headers: BTreeMap<String, String>,
    body: String,
}

/// `GET target` (path and query) from `127.0.0.1:port`; `None` if nothing listens.
async fn get(port: u16, target: &str) -> Option<Answer> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    s.write_all(format!("GET {target} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let code = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some(Answer {
        code,
        headers,
        body: body.to_string(),
    })
}

/// `s` for a URL's query string.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A Prometheus of the test's own, scraping one daemon every second; killed when dropped.
struct Prometheus {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus scraping `127.0.0.1:target` (job `frontdesk`) and waits until it
    /// is ready.
    async fn start(target: u16) -> Prometheus {
        let port: u16 = std::env::var("STACK_PROMETHEUS_PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(19090);
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
scrape_configs:\n  - job_name: frontdesk\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
            ),
        )
        .expect("prometheus.yml");
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus (Debian's prometheus package; scripts/test installs it)");
        let mut p = Prometheus {
            port,
            child,
            _dir: dir,
        };
        eventually(
            Duration::from_secs(30),
            "Prometheus to be ready",
            async || {
                if let Ok(Some(status)) = p.child.try_wait() {
                    panic!("prometheus exited with {status} (port {port} taken?)");
                }
                get(port, "/-/ready")
                    .await
                    .filter(|a| a.code == 200)
                    .map(|_| ())
            },
        )
        .await;
        p
    }

    /// `GET path?query`, parsed; panics unless Prometheus answers `success`.
    async fn api(&self, path: &str, params: &[(&str, &str)]) -> serde_json::Value {
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect();
        let a = get(self.port, &format!("{path}?{}", query.join("&")))
            .await
            .expect("Prometheus answers");
        let v: serde_json::Value = serde_json::from_str(&a.body).expect("JSON");
        assert_eq!(v["status"], "success", "{path} {params:?}: {}", a.body);
        v["data"].clone()
    }

    /// Waits until the daemon has been scraped successfully twice (a rate has two points).
    async fn wait_scraped(&self) {
        eventually(Duration::from_secs(30), "two good scrapes", async || {
            let data = self
                .api("/api/v1/query", &[("query", "count_over_time(up[1m])")])
                .await;
            let up = self.api("/api/v1/query", &[("query", "up")]).await;
            let ok = up["result"][0]["value"][1] == "1";
            let n: f64 = data["result"][0]["value"][1]
                .as_str()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0.0);
            (ok && n >= 2.0).then_some(())
        })
        .await;
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A daemon with its metrics listener, one customer mail through it, and a Prometheus that
/// has scraped it.
async fn scraped_daemon(stack: &Stack) -> (Daemon, u16, Prometheus) {
    let port = free_port();
    let d = Daemon::start(
        stack,
        Options {
            extra: format!("\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n"),
            ..Options::default()
        },
    )
    .await;
    let customer = format!("{}@customer.test", unique("greta"));
    send_customer_mail(stack, "Greta", &customer, &d.support, "Scraped", "Hi.").await;
    wait_for_mail(stack, &customer, 1).await;
    wait_quiet(stack, &d).await;
    let prometheus = Prometheus::start(port).await;
    prometheus.wait_scraped().await;
    (d, port, prometheus)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack and Prometheus: run scripts/test"]
async fn prometheus_reads_every_family_with_its_declared_type() {
    let stack = Stack::get();
    let (_d, port, prometheus) = scraped_daemon(&stack).await;
    let scrape = get(port, "/metrics").await.expect("/metrics");
    assert_eq!(scrape.code, 200);
    let declared: BTreeMap<&str, &str> = scrape
        .body
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.split_once(' '))
        .collect();
    assert!(declared.len() >= 15, "{declared:?}");

    // What Prometheus learned from the scrape.
    let targets = prometheus.api("/api/v1/targets", &[]).await;
    let target = &targets["activeTargets"][0];
    assert_eq!(target["health"], "up", "{target}");
    assert_eq!(target["lastError"], "", "{target}");
    let metadata = prometheus
        .api(
            "/api/v1/targets/metadata",
            &[("match_target", "{job=\"frontdesk\"}")],
        )
        .await;
    let learned: BTreeMap<String, String> = metadata
        .as_array()
        .expect("metadata")
        .iter()
        .map(|m| {
            (
                m["metric"].as_str().unwrap_or_default().to_string(),
                m["type"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    for (family, kind) in &declared {
        assert_eq!(
            learned.get(*family).map(String::as_str),
            Some(*kind),
            "{family}: Prometheus learned {learned:?}"
        );
    }
    for counter in [
        "frontdesk_mails_ingested",
        "frontdesk_mails_processed",
        "frontdesk_mails_sent",
        "frontdesk_send_retries",
        "frontdesk_send_dead",
    ] {
        assert_eq!(learned[counter], "counter", "{counter}");
    }
    assert!(
        !learned.values().any(|t| t == "unknown" || t == "untyped"),
        "{learned:?}"
    );
    // The samples behind the counters are stored as the `_total` series.
    let ingested = prometheus
        .api(
            "/api/v1/query",
            &[("query", "frontdesk_mails_ingested_total")],
        )
        .await;
    assert_eq!(ingested["result"][0]["value"][1], "1", "{ingested}");

    // The body is OpenMetrics, and says so. (Labelled `text/plain; version=0.0.4`, Debian's
    // Prometheus 2.42 still types the families above, so only this check catches it.)
    assert_eq!(
        scrape.headers.get("content-type").map(String::as_str),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert!(scrape.body.ends_with("# EOF\n"), "{}", scrape.body);
}

/// A dashboard query as Grafana sends it: its variables replaced by values.
fn as_grafana_sends_it(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__interval", "15s")
        .replace("$instance", ".+")
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack and Prometheus: run scripts/test"]
async fn every_dashboard_query_runs_on_prometheus() {
    let stack = Stack::get();
    let (d, _port, prometheus) = scraped_daemon(&stack).await;
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/contrib/grafana/frontdesk.json"
        ))
        .expect("dashboard"),
    )
    .expect("dashboard JSON");
    let mut queries = 0;
    let mut results = BTreeMap::new();
    for panel in dash["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = as_grafana_sends_it(target["expr"].as_str().expect("expr"));
            assert!(!expr.contains('$'), "a variable left in {expr}");
            let data = prometheus.api("/api/v1/query", &[("query", &expr)]).await;
            queries += 1;
            results.insert(
                panel["title"].as_str().unwrap_or_default().to_string()
                    + " / "
                    + target["refId"].as_str().unwrap_or_default(),
                data["result"].clone(),
            );
        }
    }
    assert!(queries >= 15, "{queries} queries");
    // The panels a team lead opens first show the desk as it is.
    assert_eq!(
        results["Inboxes connected / A"][0]["value"][1], "1",
        "{results:?}"
    );
    let open = &results["Open tickets per agent / A"][0];
    assert_eq!(open["metric"]["agent"], d.agent.as_str(), "{open}");
    assert_eq!(open["value"][1], "1", "{open}");
    let instance = dash["templating"]["list"]
        .as_array()
        .and_then(|l| l.iter().find(|v| v["name"] == "instance"))
        .expect("instance variable");
    let values = prometheus
        .api("/api/v1/series", &[("match[]", "frontdesk_build_info")])
        .await;
    assert!(
        instance["definition"]
            .as_str()
            .is_some_and(|q| q.contains("frontdesk_build_info")),
        "{instance}"
    );
    assert_eq!(values[0]["version"], env!("CARGO_PKG_VERSION"), "{values}");
}
