//! OAuth2 access tokens for `AUTHENTICATE XOAUTH2` (Gmail, Microsoft 365), taken from the
//! operator's `oauth2_token_command` the way isync's `PassCmd` and msmtp's `passwordeval`
//! take a password: Frontdesk never sees the refresh token or the client secret, only the
//! short-lived access token a helper prints.
//!
//! The command runs as `/bin/sh -c COMMAND` with the daemon's environment (so a helper can
//! read `$CREDENTIALS_DIRECTORY`), no stdin, and a timeout. Its standard output, trimmed, is
//! the token; JSON such as `{"access_token": "…", "expires_in": 3599}` (what OAuth2 helper
//! scripts print) is understood too and tells how long the token lives. A [`TokenSource`]
//! caches the token until shortly before it expires, runs the command once for concurrent
//! callers, and forgets a token the server refused so the next login runs the command again.
//! Tokens are never logged and never part of an error message.
//!
//! The configuration only describes the command ([`TokenCommand`]); the live cache is made
//! here, by whoever logs in: each inbox's IMAP loop and the SMTP transport own one
//! ([`Login::new`], [`TokenSource::new`]) for as long as they run.

use std::fmt;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::config::{Auth, Secret, TokenCommand};

/// A token whose `expires_in` is known is dropped this long before it expires (or halfway
/// through its life, if that is sooner), so it never expires in the middle of a login.
const EXPIRY_MARGIN: Duration = Duration::from_secs(5 * 60);

/// No token is cached longer than this, whatever the command claims.
const MAX_CACHE: Duration = Duration::from_secs(24 * 3600);

/// How much of the command's stderr an error message quotes.
const STDERR_CHARS: usize = 200;

/// What is wrong with the command's output (never quoting it: it may hold a token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutputError {
    /// Nothing but white space.
    #[error("the output is empty")]
    Empty,
    /// Not UTF-8 text.
    #[error("the output is not UTF-8 text")]
    NotText,
    /// Several lines, spaces or control characters: not a bearer token.
    #[error(
        "the output is not a single token (it has spaces, several lines or control characters)"
    )]
    NotAToken,
    /// JSON, but not the expected object.
    #[error("the JSON output {0}")]
    Json(String),
}

/// A token as the command printed it.
#[derive(PartialEq, Eq)]
pub struct Issued {
    /// The access token.
    pub token: String,
    /// Its lifetime from the JSON `expires_in`, if the command printed JSON with one.
    pub expires_in: Option<Duration>,
}

impl fmt::Debug for Issued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issued")
            .field("token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// Reads the command's standard output: a bare token, or a JSON object with a string
/// `access_token` and optionally `expires_in` (seconds, a number or a numeric string).
pub fn parse_output(stdout: &str) -> Result<Issued, OutputError> {
    let text = stdout.trim();
    if text.is_empty() {
        return Err(OutputError::Empty);
    }
    if !text.starts_with('{') {
        return bearer(text).map(|token| Issued {
            token,
            expires_in: None,
        });
    }
    let json: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        OutputError::Json(format!(
            "is not valid (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let token = json
        .get("access_token")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| OutputError::Json("has no string \"access_token\"".into()))?;
    let expires_in = match json.get("expires_in") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(seconds(v).ok_or_else(|| {
            OutputError::Json("has an \"expires_in\" that is not a number of seconds".into())
        })?),
    };
    Ok(Issued {
        token: bearer(token.trim())?,
        expires_in,
    })
}

/// A bearer token is printable ASCII without spaces (RFC 6750's b64token and JWTs are
/// narrower still); anything else would break the SASL string or is not a token at all.
fn bearer(text: &str) -> Result<String, OutputError> {
    if text.is_empty() {
        return Err(OutputError::Empty);
    }
    if !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(OutputError::NotAToken);
    }
    Ok(text.to_string())
}

fn seconds(v: &serde_json::Value) -> Option<Duration> {
    let n = match v {
        serde_json::Value::Number(n) => n.as_f64()?,
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    n.is_finite()
        .then(|| Duration::from_secs_f64(n.clamp(0.0, MAX_CACHE.as_secs_f64())))
}

/// How long a fresh token is reused: its `expires_in` less a margin (five minutes, or half
/// its life if that is shorter), or the configured `lifetime` when the command gave none;
/// never more than a day.
pub fn cache_lifetime(expires_in: Option<Duration>, lifetime: Duration) -> Duration {
    let d = match expires_in {
        Some(e) => e.saturating_sub(EXPIRY_MARGIN.min(e / 2)),
        None => lifetime,
    };
    d.min(MAX_CACHE)
}

/// The first non-empty line of the command's stderr, cleaned of control characters and
/// shortened, for error messages.
pub fn first_line(stderr: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stderr);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let mut clean: String = line
        .chars()
        .filter(|c| !c.is_control())
        .take(STDERR_CHARS)
        .collect();
    if line.chars().count() > STDERR_CHARS {
        clean.push('…');
    }
    Some(clean)
}

/// The XOAUTH2 SASL initial response (before base64):
/// `user=USER\x01auth=Bearer TOKEN\x01\x01`.
pub fn xoauth2_response(user: &str, token: &str) -> String {
    format!("user={user}\x01auth=Bearer {token}\x01\x01")
}

/// Why no token could be had. Every message names the configuration key; none contains the
/// command's standard output.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// `/bin/sh` could not be started, or its output not read.
    #[error("{key}: cannot run it with /bin/sh -c: {source}")]
    Spawn {
        /// The configuration key.
        key: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The command did not finish in time; it was killed.
    #[error(
        "{key} did not finish within {} s and was stopped; fix the command or raise {}",
        .after.as_secs(),
        .key.replace("oauth2_token_command", "oauth2_token_timeout_seconds")
    )]
    Timeout {
        /// The configuration key.
        key: String,
        /// The timeout.
        after: Duration,
    },
    /// The command exited unsuccessfully.
    #[error("{key} failed ({status}): {}", .stderr.as_deref().unwrap_or("it printed nothing on stderr"))]
    Failed {
        /// The configuration key.
        key: String,
        /// How it ended, e.g. `exit status: 1`.
        status: String,
        /// The first line of its stderr.
        stderr: Option<String>,
    },
    /// The command succeeded but its output is no token.
    #[error(
        "{key} printed no usable token: {reason}{}; it must print only the access token, or JSON such as {{\"access_token\": \"…\", \"expires_in\": 3599}}",
        .stderr.as_deref().map(|s| format!(" (stderr: {s})")).unwrap_or_default()
    )]
    Output {
        /// The configuration key.
        key: String,
        /// What is wrong with the output.
        reason: OutputError,
        /// The first line of its stderr.
        stderr: Option<String>,
    },
}

/// An access token handed out by a [`TokenSource`]. Its `Debug` output is redacted.
#[derive(Clone)]
pub struct AccessToken {
    secret: Secret,
    serial: u64,
}

impl AccessToken {
    /// The token itself, for the one place that needs it: the login.
    pub fn expose(&self) -> &str {
        self.secret.expose()
    }

    /// Which run of the command produced it (1, 2, …): a changed serial is a changed token.
    pub fn serial(&self) -> u64 {
        self.serial
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccessToken(#{}, [redacted])", self.serial)
    }
}

struct Cache {
    current: Option<(AccessToken, Instant)>,
    runs: u64,
}

struct Inner {
    cmd: TokenCommand,
    cache: tokio::sync::Mutex<Cache>,
}

/// Tokens from one `oauth2_token_command`, cached until they expire. Clones share the cache,
/// so an IMAP loop's reconnects, and every send of the SMTP transport, reuse one token.
#[derive(Clone)]
pub struct TokenSource {
    inner: Arc<Inner>,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TokenSource").field(&self.inner.cmd).finish()
    }
}

impl TokenSource {
    /// A source with an empty cache: the first [`TokenSource::token`] runs the command.
    pub fn new(cmd: TokenCommand) -> Self {
        TokenSource {
            inner: Arc::new(Inner {
                cmd,
                cache: tokio::sync::Mutex::new(Cache {
                    current: None,
                    runs: 0,
                }),
            }),
        }
    }

    /// The configuration key of the command, e.g. `imap.oauth2_token_command`.
    pub fn key(&self) -> String {
        self.inner.cmd.key()
    }

    /// The cached token while it is valid; otherwise the command's new one. Concurrent
    /// callers wait for one run of the command.
    pub async fn token(&self) -> Result<AccessToken, TokenError> {
        let mut cache = self.inner.cache.lock().await;
        if let Some((token, valid_until)) = &cache.current
            && Instant::now() < *valid_until
        {
            return Ok(token.clone());
        }
        cache.current = None;
        let issued = self.run().await?;
        cache.runs += 1;
        let valid_for = cache_lifetime(issued.expires_in, self.inner.cmd.lifetime);
        let token = AccessToken {
            secret: Secret::new(issued.token),
            serial: cache.runs,
        };
        info!(
            event = "oauth2.token",
            key = %self.key(),
            run = cache.runs,
            expires_in_s = issued.expires_in.map(|d| d.as_secs()),
            cached_for_s = valid_for.as_secs(),
            "got an access token from the command"
        );
        cache.current = Some((token.clone(), Instant::now() + valid_for));
        Ok(token)
    }

    /// The server refused `token`: forget it (unless a newer one replaced it already), so
    /// the next [`TokenSource::token`] runs the command again.
    pub async fn reject(&self, token: &AccessToken) {
        let mut cache = self.inner.cache.lock().await;
        if cache
            .current
            .as_ref()
            .is_some_and(|(t, _)| t.serial == token.serial)
        {
            cache.current = None;
        }
        warn!(
            event = "oauth2.rejected",
            key = %self.key(),
            run = token.serial,
            "the server refused the access token; the command runs again for the next login"
        );
    }

    async fn run(&self) -> Result<Issued, TokenError> {
        let cmd = &self.inner.cmd;
        let key = cmd.key();
        let child = tokio::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&cmd.command)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A timeout drops the future and with it the child: it is killed, not left behind.
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| TokenError::Spawn {
                key: key.clone(),
                source,
            })?;
        let output = match tokio::time::timeout(cmd.timeout, child.wait_with_output()).await {
            Err(_) => {
                return Err(TokenError::Timeout {
                    key,
                    after: cmd.timeout,
                });
            }
            Ok(Err(source)) => return Err(TokenError::Spawn { key, source }),
            Ok(Ok(output)) => output,
        };
        let stderr = first_line(&output.stderr);
        if !output.status.success() {
            return Err(TokenError::Failed {
                key,
                status: output.status.to_string(),
                stderr,
            });
        }
        let parsed = match String::from_utf8(output.stdout) {
            Ok(text) => parse_output(&text),
            Err(_) => Err(OutputError::NotText),
        };
        parsed.map_err(|reason| TokenError::Output {
            key,
            reason,
            stderr,
        })
    }
}

/// A configured login made ready to use: the password, or a [`TokenSource`] with its own
/// cache for the token command. Make it once per connection owner and keep it, so that
/// reconnects reuse the cached token.
#[derive(Debug, Clone)]
pub enum Login {
    /// Log in with this password.
    Password(Secret),
    /// Log in with XOAUTH2, taking tokens from this source.
    OAuth2(TokenSource),
}

impl Login {
    /// The login for `auth`, with an empty token cache for a token command.
    pub fn new(auth: &Auth) -> Login {
        match auth {
            Auth::Password(password) => Login::Password(password.clone()),
            Auth::OAuth2(cmd) => Login::OAuth2(TokenSource::new(cmd.clone())),
        }
    }
}

/// async-imap's side of `AUTHENTICATE XOAUTH2`. It is stateful: the first challenge (`+ `)
/// gets the SASL string; a second one, which carries the server's JSON error, gets an empty
/// line, after which the server answers NO. Replying with the token again would make the
/// exchange loop until the server gives up.
pub struct ImapXOAuth2 {
    response: Option<Vec<u8>>,
}

impl ImapXOAuth2 {
    /// The authenticator for `user` with `token`.
    pub fn new(user: &str, token: &AccessToken) -> Self {
        ImapXOAuth2 {
            response: Some(xoauth2_response(user, token.expose()).into_bytes()),
        }
    }
}

impl async_imap::Authenticator for ImapXOAuth2 {
    type Response = Vec<u8>;

    fn process(&mut self, _challenge: &[u8]) -> Vec<u8> {
        self.response.take().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_imap::Authenticator;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn a_bare_token_is_trimmed() {
        let issued = parse_output("  ya29.a0AfB_byC-x~y+z/w==\n").expect("token");
        assert_eq!(issued.token, "ya29.a0AfB_byC-x~y+z/w==");
        assert_eq!(issued.expires_in, None);
    }

    #[test]
    fn json_output_gives_the_lifetime() {
        let issued = parse_output(
            r#"{"access_token": "tok-1", "expires_in": 3599, "token_type": "Bearer"}"#,
        )
        .expect("json");
        assert_eq!(issued.token, "tok-1");
        assert_eq!(issued.expires_in, Some(Duration::from_secs(3599)));
        let text = parse_output(r#"{"access_token":"t","expires_in":"120"}"#).expect("json");
        assert_eq!(text.expires_in, Some(Duration::from_secs(120)));
        let float = parse_output(r#"{"access_token":"t","expires_in":59.5}"#).expect("json");
        assert_eq!(float.expires_in, Some(Duration::from_millis(59_500)));
        let past = parse_output(r#"{"access_token":"t","expires_in":-5}"#).expect("json");
        assert_eq!(past.expires_in, Some(Duration::ZERO));
        let none = parse_output(r#"{"access_token":"t","expires_in":null}"#).expect("json");
        assert_eq!(none.expires_in, None);
    }

    #[test]
    fn output_that_is_no_token_is_refused_without_quoting_it() {
        assert_eq!(parse_output(" \n"), Err(OutputError::Empty));
        assert_eq!(parse_output("two\nlines"), Err(OutputError::NotAToken));
        assert_eq!(parse_output("Bearer tok"), Err(OutputError::NotAToken));
        assert_eq!(parse_output("tok\x01en"), Err(OutputError::NotAToken));
        assert_eq!(
            parse_output(r#"{"access_token": ""}"#),
            Err(OutputError::Empty)
        );
        for bad in [
            r#"{"token": "secret-value"}"#,
            r#"{"access_token": 42}"#,
            r#"{"access_token": "secret-value", "expires_in": "soon"}"#,
            r#"{"access_token": "secret-value",}"#,
        ] {
            let err = parse_output(bad).expect_err(bad);
            assert!(matches!(err, OutputError::Json(_)), "{bad}: {err:?}");
            assert!(!err.to_string().contains("secret-value"), "{err}");
        }
    }

    #[test]
    fn lifetimes_keep_a_margin() {
        let default = TokenCommand::DEFAULT_LIFETIME;
        assert_eq!(cache_lifetime(None, default), Duration::from_secs(3000));
        assert_eq!(
            cache_lifetime(Some(Duration::from_secs(3599)), default),
            Duration::from_secs(3299)
        );
        assert_eq!(
            cache_lifetime(Some(Duration::from_secs(60)), default),
            Duration::from_secs(30),
            "a short-lived token is reused for half its life"
        );
        assert_eq!(
            cache_lifetime(Some(Duration::ZERO), default),
            Duration::ZERO
        );
        assert_eq!(cache_lifetime(None, Duration::ZERO), Duration::ZERO);
        assert_eq!(cache_lifetime(Some(HOUR * 1000), default), MAX_CACHE);
    }

    #[test]
    fn stderr_is_quoted_by_its_first_line() {
        assert_eq!(
            first_line(b"\n  invalid_grant: token revoked \nmore\n").as_deref(),
            Some("invalid_grant: token revoked")
        );
        assert_eq!(first_line(b"\n \n"), None);
        assert_eq!(first_line(b"a\x1b[31mb").as_deref(), Some("a[31mb"));
        let long = "x".repeat(500);
        assert_eq!(
            first_line(long.as_bytes()).map(|l| l.chars().count()),
            Some(STDERR_CHARS + 1)
        );
    }

    #[test]
    fn the_sasl_string_is_googles_format() {
        assert_eq!(
            xoauth2_response("support@example.com", "ya29.abc"),
            "user=support@example.com\x01auth=Bearer ya29.abc\x01\x01"
        );
    }

    #[test]
    fn the_imap_authenticator_answers_an_error_challenge_with_an_empty_line() {
        let token = AccessToken {
            secret: Secret::new("tok".to_string()),
            serial: 1,
        };
        let mut auth = ImapXOAuth2::new("u@example.test", &token);
        assert_eq!(
            auth.process(b""),
            b"user=u@example.test\x01auth=Bearer tok\x01\x01"
        );
        assert_eq!(
            auth.process(br#"{"status":"401","schemes":"bearer","scope":"mail"}"#),
            b""
        );
        assert_eq!(auth.process(b""), b"");
    }

    fn source(dir: &tempfile::TempDir, script: &str, lifetime: Duration) -> TokenSource {
        let path = dir.path().join("token.sh");
        std::fs::write(&path, script).expect("script");
        TokenSource::new(TokenCommand {
            section: "imap".into(),
            command: format!("sh {}", path.display()),
            lifetime,
            timeout: Duration::from_secs(5),
        })
    }

    /// A script that counts its runs in `runs` and prints `tok-N` for run N.
    fn counting(dir: &tempfile::TempDir) -> String {
        let runs = dir.path().join("runs");
        format!(
            "n=$(( $(cat {runs} 2>/dev/null || echo 0) + 1 ))\necho $n > {runs}\necho tok-$n\n",
            runs = runs.display()
        )
    }

    #[tokio::test]
    async fn a_token_is_cached_until_the_server_refuses_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = source(&dir, &counting(&dir), HOUR);
        let first = src.token().await.expect("token");
        assert_eq!(first.expose(), "tok-1");
        assert_eq!(first.serial(), 1);
        assert_eq!(src.clone().token().await.expect("cached").expose(), "tok-1");
        src.reject(&first).await;
        let second = src.token().await.expect("token");
        assert_eq!(second.expose(), "tok-2");
        // A late refusal of the old token does not throw away the new one.
        src.reject(&first).await;
        assert_eq!(src.token().await.expect("cached").expose(), "tok-2");
        assert!(!format!("{src:?} {second:?}").contains("tok-2"));
    }

    #[tokio::test]
    async fn an_expired_token_is_replaced_and_concurrent_callers_share_one_run() {
        let dir = tempfile::tempdir().expect("tempdir");
        let runs = dir.path().join("runs");
        let script = format!(
            "sleep 0.2\nn=$(( $(cat {runs} 2>/dev/null || echo 0) + 1 ))\necho $n > {runs}\n\
             printf '{{\"access_token\": \"tok-%s\", \"expires_in\": 2}}' $n\n",
            runs = runs.display()
        );
        let src = source(&dir, &script, HOUR);
        let (a, b) = tokio::join!(src.token(), src.token());
        let (a, b) = (a.expect("a"), b.expect("b"));
        assert_eq!(a.expose(), b.expose(), "one run for both callers");
        assert_eq!(a.expose(), "tok-1");
        // expires_in 2: reused for one second (half its life), then replaced.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(src.token().await.expect("rerun").expose(), "tok-2");
    }

    #[tokio::test]
    async fn a_zero_lifetime_runs_the_command_for_every_login() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = source(&dir, &counting(&dir), Duration::ZERO);
        assert_eq!(src.token().await.expect("1").expose(), "tok-1");
        assert_eq!(src.token().await.expect("2").expose(), "tok-2");
    }

    #[tokio::test]
    async fn a_failing_command_names_the_key_and_its_stderr_but_not_its_stdout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = source(
            &dir,
            "echo half-a-secret\necho 'invalid_grant: token revoked' >&2\necho detail >&2\nexit 3\n",
            HOUR,
        );
        let err = src.token().await.expect_err("fails").to_string();
        assert!(err.contains("imap.oauth2_token_command"), "{err}");
        assert!(err.contains("exit status: 3"), "{err}");
        assert!(err.contains("invalid_grant: token revoked"), "{err}");
        assert!(
            !err.contains("detail") && !err.contains("half-a-secret"),
            "{err}"
        );

        let empty = source(&dir, "echo 'no account configured' >&2\n", HOUR);
        let err = empty.token().await.expect_err("empty").to_string();
        assert!(
            err.contains("imap.oauth2_token_command printed no usable token"),
            "{err}"
        );
        assert!(err.contains("no account configured"), "{err}");

        let garbage = source(&dir, "echo 'Your token is: secret-value'\n", HOUR);
        let err = garbage.token().await.expect_err("garbage").to_string();
        assert!(err.contains("not a single token"), "{err}");
        assert!(!err.contains("secret-value"), "{err}");
    }

    #[tokio::test]
    async fn a_hanging_command_is_stopped_at_the_timeout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = TokenSource::new(TokenCommand {
            section: "smtp".into(),
            command: "sleep 30; echo late".into(),
            lifetime: HOUR,
            timeout: Duration::from_millis(300),
        });
        let start = Instant::now();
        let err = src.token().await.expect_err("times out").to_string();
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(
            err.contains("smtp.oauth2_token_command did not finish"),
            "{err}"
        );
        assert!(err.contains("smtp.oauth2_token_timeout_seconds"), "{err}");
        drop(dir);
    }
}
