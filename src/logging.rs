//! What the log may hold: the filter that sits above `RUST_LOG` so that no setting of it logs
//! a secret or a mail (issue 17), used by the binary's log subscriber.

/// The dependencies whose debug and trace lines are protocol transcripts or data: lettre
/// writes every SMTP command and reply (`AUTH PLAIN` with the base64 password, each line of
/// DATA), async-imap every IMAP line both ways (`LOGIN` with the password, `AUTHENTICATE`
/// with the token, every fetched mail), imap-proto what it parses, rustls and tokio-rustls the
/// handshakes, hyper and hyper-util the HTTP requests, sled its pages (stored mail), handlebars
/// the values it renders (customer text), mail-parser what it reads. They are held at `warn`
/// whatever `RUST_LOG` says.
pub const PROTOCOL_TARGETS: &[&str] = &[
    "lettre",
    "async_imap",
    "imap_proto",
    "rustls",
    "tokio_rustls",
    "rustls_platform_verifier",
    "webpki",
    "hyper",
    "hyper_util",
    "sled",
    "handlebars",
    "mail_parser",
];

/// The ceiling every log line must pass on top of the `RUST_LOG` filter, so that no setting
/// of `RUST_LOG` logs a secret or a mail: our own targets (`frontdesk…`) as `RUST_LOG` says,
/// the protocol crates ([`PROTOCOL_TARGETS`]) at `warn` at most, and every other dependency
/// (including any added later) at `info` at most. Our own events never hold a password, a key,
/// a token or a body line at any level.
pub fn hygiene() -> tracing_subscriber::filter::Targets {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    Targets::new()
        .with_default(LevelFilter::INFO)
        .with_targets(PROTOCOL_TARGETS.iter().map(|t| (*t, LevelFilter::WARN)))
        .with_target("frontdesk", LevelFilter::TRACE)
}

/// The `RUST_LOG` filter, or `info` without one (or with one that does not parse).
pub fn env_filter() -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
}

/// Whether `journal_stream` (the `JOURNAL_STREAM` variable, `DEVICE:INODE` in decimal) names
/// the file `dev`/`ino`. systemd sets it for a service whose output goes to the journal; it
/// is only to be trusted while stderr is still that stream (a shell may have redirected it).
pub fn journal_stream_names(journal_stream: &str, dev: u64, ino: u64) -> bool {
    let Some((d, i)) = journal_stream.trim().split_once(':') else {
        return false;
    };
    d.parse::<u64>() == Ok(dev) && i.parse::<u64>() == Ok(ino)
}

/// Whether stderr is connected to systemd's journal (see [`journal_stream_names`]), in which
/// case the binary logs to journald natively, with priorities and fields.
pub fn stderr_is_journal() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    match std::fs::File::from(fd).metadata() {
        Ok(meta) => journal_stream_names(&stream.to_string_lossy(), meta.dev(), meta.ino()),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_journal_stream_must_name_stderr_itself() {
        assert!(journal_stream_names("8:4242", 8, 4242));
        assert!(journal_stream_names("8:4242\n", 8, 4242));
        // Output redirected to a file by a wrapper script: another inode.
        assert!(!journal_stream_names("8:4242", 8, 4243));
        assert!(!journal_stream_names("9:4242", 8, 4242));
        assert!(!journal_stream_names("", 8, 4242));
        assert!(!journal_stream_names("8", 8, 4242));
        assert!(!journal_stream_names("8:x", 8, 4242));
    }
}
