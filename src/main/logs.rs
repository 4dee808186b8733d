//! Where the binary's log lines go: a terminal (human), a file or pipe (JSON or plain lines),
//! or the journal. Under systemd the lines are sent to journald natively, each with its
//! priority and our fields as journal fields (`EVENT=`, `INBOX=`, `TICKET=`), so that
//! `journalctl -u frontdesk -p warning` finds the failures and `journalctl EVENT=…` one kind.
//! What may be logged at all is decided by [`frontdesk::logging`] above `RUST_LOG`.

use std::io::IsTerminal;

use clap::ValueEnum;
use frontdesk::logging::{env_filter, hygiene};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The `--log-format` values.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human on a terminal; the journal when stderr is systemd's journal stream; plain lines
    /// otherwise.
    Auto,
    /// Human-readable lines with colours on a terminal.
    Human,
    /// The journal's native protocol (plain lines on stderr when no journal listens).
    Journald,
    /// One JSON object per line.
    Json,
}

/// The log subscriber for `format`, writing to `writer` (`terminal` when that is a terminal):
/// `filter` (from `RUST_LOG`) and then [`hygiene`] decide what is written.
fn subscriber<W>(
    format: LogFormat,
    terminal: bool,
    filter: tracing_subscriber::EnvFilter,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Json => Box::new(builder.json().flatten_event(true).finish().with(hygiene())),
        LogFormat::Human => Box::new(builder.with_ansi(terminal).finish().with(hygiene())),
        LogFormat::Auto if terminal => Box::new(builder.finish().with(hygiene())),
        // A pipe or file, or the journal's stream without its socket: the reader stamps
        // every line itself and shows no colours.
        LogFormat::Auto | LogFormat::Journald => Box::new(
            builder
                .without_time()
                .with_ansi(false)
                .with_target(false)
                .finish()
                .with(hygiene()),
        ),
    }
}

/// The journald layer: our fields under their own upper-case names (no `F_` prefix, so
/// `journalctl INBOX=billing` works), `frontdesk` as the identifier, and `info` at the
/// journal's "informational" (6) rather than the crate's default "notice" (5), so that
/// `-p notice` and above holds only what deserves attention.
fn journald() -> std::io::Result<tracing_journald::Layer> {
    use tracing_journald::{Priority, PriorityMappings};
    Ok(tracing_journald::layer()?
        .with_field_prefix(None)
        .with_syslog_identifier("frontdesk".to_owned())
        .with_priority_mappings(PriorityMappings {
            info: Priority::Informational,
            debug: Priority::Debug,
            ..PriorityMappings::new()
        }))
}

/// Installs the process's log subscriber for `format`.
pub(crate) fn init(format: LogFormat) {
    let terminal = std::io::stderr().is_terminal();
    let journal = match format {
        LogFormat::Journald => true,
        LogFormat::Auto => !terminal && frontdesk::logging::stderr_is_journal(),
        LogFormat::Human | LogFormat::Json => false,
    };
    let refused = if journal {
        match journald() {
            Ok(layer) => {
                tracing_subscriber::registry()
                    .with(layer)
                    .with(env_filter())
                    .with(hygiene())
                    .init();
                return;
            }
            Err(e) => Some(e),
        }
    } else {
        None
    };
    // Also routes the `log` records of dependencies (async-imap, sled, rustls) through it.
    subscriber(format, terminal, env_filter(), std::io::stderr).init();
    if let Some(e) = refused {
        tracing::warn!(
            event = "log.journal-unavailable",
            error = %e,
            "the journal's socket cannot be reached; logging plain lines to stderr"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A log writer into memory.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Buffer {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
        }
    }

    /// What a subscriber built from `rust_log` writes for one event per target and level.
    fn written(rust_log: &str) -> String {
        let buffer = Buffer::default();
        let sink = buffer.clone();
        let filter = tracing_subscriber::EnvFilter::new(rust_log);
        let subscriber = subscriber(LogFormat::Json, false, filter, move || sink.clone());
        tracing::subscriber::with_default(subscriber, || {
            macro_rules! each_level {
                ($target:literal) => {
                    tracing::error!(target: $target, "{} error", $target);
                    tracing::warn!(target: $target, "{} warn", $target);
                    tracing::info!(target: $target, "{} info", $target);
                    tracing::debug!(target: $target, "{} debug", $target);
                    tracing::trace!(target: $target, "{} trace", $target);
                };
            }
            each_level!("frontdesk::ingest");
            each_level!("frontdesk");
            each_level!("lettre::transport::smtp::client::async_connection");
            each_level!("async_imap::imap_stream");
            each_level!("rustls::client::hs");
            each_level!("sled::pagecache");
            each_level!("handlebars::render");
            each_level!("hyper::proto::h1::io");
            each_level!("some_future_dependency::wire");
        });
        buffer.text()
    }

    /// Issue 17: `RUST_LOG` cannot open up the libraries' transcripts, however it is
    /// written; it still opens up our own lines.
    #[test]
    fn rust_log_opens_our_lines_and_never_the_transcripts() {
        for rust_log in [
            "trace",
            "debug",
            "lettre=trace,async_imap=trace,trace",
            "lettre::transport::smtp::client::async_connection=trace,async_imap::imap_stream=trace",
            "[{x}]=trace,trace",
            "rustls=trace,sled=trace,handlebars=trace,hyper=trace,some_future_dependency=trace",
        ] {
            let out = written(rust_log);
            for target in [
                "lettre::transport::smtp::client::async_connection",
                "async_imap::imap_stream",
                "rustls::client::hs",
                "sled::pagecache",
                "handlebars::render",
                "hyper::proto::h1::io",
            ] {
                if rust_log == "trace" || rust_log == "debug" {
                    assert!(
                        out.contains(&format!("{target} warn")),
                        "{rust_log}: {target}"
                    );
                }
                for level in ["info", "debug", "trace"] {
                    assert!(
                        !out.contains(&format!("{target} {level}")),
                        "{rust_log}: {target} {level}:\n{out}"
                    );
                }
            }
            assert!(
                !out.contains("some_future_dependency::wire debug"),
                "{rust_log}"
            );
            assert!(
                !out.contains("some_future_dependency::wire trace"),
                "{rust_log}"
            );
        }
        assert!(written("trace").contains("some_future_dependency::wire info"));
        let ours = written("frontdesk=trace");
        assert!(ours.contains("frontdesk::ingest trace"), "{ours}");
        assert!(ours.contains("frontdesk trace"), "{ours}");
        assert!(!ours.contains("lettre"), "{ours}");
        let default = written("info");
        assert!(default.contains("frontdesk::ingest info"));
        assert!(!default.contains("frontdesk::ingest debug"));
        let quiet = written("error");
        assert!(quiet.contains("lettre::transport::smtp::client::async_connection error"));
        assert!(!quiet.contains("warn"), "{quiet}");
    }
}
