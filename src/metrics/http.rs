//! The loopback HTTP listener: `/metrics` and `/healthz`.

use std::time::Duration;

use tracing::info;

use super::Metrics;
use crate::store::Store;

/// The content type of `/metrics`: prometheus-client writes OpenMetrics 1.0 text (`_total`
/// samples under a `# TYPE name counter` line, `# EOF` at the end), so that is what the
/// answer says. Labelled as the classic `text/plain; version=0.0.4`, a scraper picks the
/// classic parser, whose format has no `_total` convention and no `# EOF`: whether counters
/// keep their type then depends on the scraper's leniency (Prometheus 2.42 happens to cope).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves `/metrics` and `/healthz` on `listener` until `stop` turns true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: std::sync::Arc<Metrics>,
    store: Store,
    live: std::sync::Arc<crate::reload::Live>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    use http_body_util::Full;
    use hyper::body::Bytes;
    use hyper::{Response, StatusCode};

    if let Ok(addr) = listener.local_addr() {
        info!(event = "metrics.listening", %addr, "serving /metrics and /healthz");
    }
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => r?,
            _ = stop.changed() => return Ok(()),
        };
        let (metrics, store, live) = (metrics.clone(), store.clone(), live.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: hyper::Request<_>| {
                let (metrics, store, live) = (metrics.clone(), store.clone(), live.clone());
                async move {
                    let path = req.uri().path().to_string();
                    // Store reads are quick but blocking: keep them off the runtime's threads.
                    let answer =
                        tokio::task::spawn_blocking(move || answer(&path, &metrics, &store, &live))
                            .await
                            .unwrap_or((
                                StatusCode::INTERNAL_SERVER_ERROR,
                                "text/plain",
                                "internal error\n".to_string(),
                            ));
                    let (code, ctype, body) = answer;
                    Response::builder()
                        .status(code)
                        .header("content-type", ctype)
                        .body(Full::new(Bytes::from(body)))
                }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(5))
                .serve_connection(io, service);
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "metrics connection ended with an error");
            }
        });
    }
}

/// The answer to a GET of `path`: status, content type, body.
fn answer(
    path: &str,
    metrics: &Metrics,
    store: &Store,
    live: &crate::reload::Live,
) -> (hyper::StatusCode, &'static str, String) {
    use hyper::StatusCode;
    match path {
        "/metrics" => {
            let cfg = live.snapshot().cfg.clone();
            let agents: Vec<_> = cfg.agents.iter().map(|a| a.email.clone()).collect();
            (
                StatusCode::OK,
                CONTENT_TYPE,
                metrics.render(store, &agents, cfg.backup.interval),
            )
        }
        "/healthz" => {
            let h = metrics.health(store);
            let code = if h.problems.is_empty() {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            let body = serde_json::to_string_pretty(&h).unwrap_or_default();
            (code, "application/json", body + "\n")
        }
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: try /metrics or /healthz\n".to_string(),
        ),
    }
}
