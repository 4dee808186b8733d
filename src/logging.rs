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
