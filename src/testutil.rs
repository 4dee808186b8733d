//! Helpers shared by the unit tests: a valid configuration from a TOML fragment.

use crate::config::Config;

/// The token key every test configuration uses.
pub const TEST_KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

/// A validated configuration: loopback servers, `support@example.test`, the test token key,
/// and `extra` (agents, teams, routes, sections) appended.
pub fn config(extra: &str) -> Config {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("token.key");
    std::fs::write(&key, TEST_KEY).expect("key");
    let path = dir.path().join("frontdesk.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[service]
name = "Acme Support"
address = "support@example.test"
token_secret_file = "{}"
[imap]
host = "127.0.0.1"
tls = "none"
password = "x"
[smtp]
host = "127.0.0.1"
tls = "none"
{extra}
"#,
            key.display()
        ),
    )
    .expect("write");
    Config::load_with_env(&path, Vec::new()).expect("valid test configuration")
}
