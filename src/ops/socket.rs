//! The control socket: the daemon answers ops commands over a Unix socket in its state
//! directory (mode 0600), so the CLI works beside a running daemon.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use super::{Context, OpsError, Request, run};
use crate::store::Store;

/// The socket's file name in the state directory.
pub const SOCKET: &str = "control.sock";

/// The daemon's answer.
#[derive(Debug, Serialize, Deserialize)]
struct Response {
    ok: bool,
    output: String,
}

/// Asks the running daemon to run `req` (the CLI's path while the daemon holds the store).
pub fn ask(state_dir: &Path, req: &Request) -> Result<String, OpsError> {
    let path = state_dir.join(SOCKET);
    let mut conn = std::os::unix::net::UnixStream::connect(&path).map_err(|e| {
        OpsError(format!(
            "the daemon holds the store, and its control socket {} does not answer ({e})",
            path.display()
        ))
    })?;
    let timeout = Some(std::time::Duration::from_secs(60));
    let _ = conn.set_read_timeout(timeout);
    let _ = conn.set_write_timeout(timeout);
    let line = serde_json::to_string(req).map_err(|e| OpsError(e.to_string()))?;
    conn.write_all(format!("{line}\n").as_bytes())
        .map_err(|e| OpsError(format!("talking to the daemon: {e}")))?;
    let mut text = String::new();
    BufReader::new(&mut conn)
        .read_line(&mut text)
        .map_err(|e| OpsError(format!("talking to the daemon: {e}")))?;
    let resp: Response =
        serde_json::from_str(&text).map_err(|e| OpsError(format!("the daemon's answer: {e}")))?;
    if resp.ok {
        Ok(resp.output)
    } else {
        Err(OpsError(resp.output))
    }
}

/// Serves ops commands on `state_dir/control.sock` until `shutdown`: the same code as the
/// CLI, on the daemon's open store, each on a blocking thread. Write commands wake the outbox.
pub async fn serve(
    state_dir: PathBuf,
    store: Store,
    live: Arc<crate::reload::Live>,
    metrics: Arc<crate::metrics::Metrics>,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let path = state_dir.join(SOCKET);
    let _ = std::fs::remove_file(&path);
    let listener = match tokio::net::UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) => {
            warn!(path = %path.display(), error = %e, "no control socket: ops commands need the daemon stopped");
            return;
        }
    };
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
    info!(path = %path.display(), "control socket ready");
    loop {
        let conn = tokio::select! {
            c = listener.accept() => c,
            _ = shutdown.changed() => break,
        };
        let Ok((conn, _)) = conn else { continue };
        let (store, live, metrics, wake) =
            (store.clone(), live.clone(), metrics.clone(), wake.clone());
        tokio::spawn(async move {
            let (read, mut write) = conn.into_split();
            let mut line = String::new();
            let mut reader =
                tokio::io::BufReader::new(tokio::io::AsyncReadExt::take(read, 64 * 1024));
            if reader.read_line(&mut line).await.is_err() {
                return;
            }
            let resp = match serde_json::from_str::<Request>(&line) {
                Err(e) => Response {
                    ok: false,
                    output: format!("not a request: {e}"),
                },
                Ok(req) => {
                    let snap = live.snapshot();
                    let writes = req.writes();
                    // Commands read and write the store synchronously, a backup for as long
                    // as the copy takes: never on an async worker.
                    let result = tokio::task::spawn_blocking(move || {
                        let ctx = Context {
                            store: &store,
                            cfg: Some(&snap.cfg),
                            templates: Some(&snap.templates),
                            metrics: Some(metrics),
                        };
                        run(&req, &ctx)
                    })
                    .await
                    .unwrap_or_else(|e| Err(OpsError(format!("the command did not finish: {e}"))));
                    if writes {
                        wake.notify_one();
                    }
                    match result {
                        Ok(output) => Response { ok: true, output },
                        Err(e) => Response {
                            ok: false,
                            output: e.0,
                        },
                    }
                }
            };
            if let Ok(text) = serde_json::to_string(&resp) {
                let _ = write.write_all(format!("{text}\n").as_bytes()).await;
            }
        });
    }
    let _ = std::fs::remove_file(&path);
}
