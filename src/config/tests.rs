//! The configuration as operators write it: files, the environment, secrets and every
//! kind of problem, through the public entry points.

use std::path::PathBuf;
use std::time::Duration;

use super::{Auth, Config, ConfigError};

const SPEC_EXAMPLE: &str = r#"
[service]
name = "Acme Support"
address = "support@example.test"
state_dir = "/tmp/frontdesk-test-state"

[imap]
host = "127.0.0.1"
port = 1143
tls = "none"
username = "support@example.test"
password = "from-file"
mailbox = "INBOX"

[smtp]
host = "127.0.0.1"
port = 2525
tls = "none"
username = "support@example.test"
password = "smtp-secret"

[[agents]]
name = "Jason Miller"
email = "jason@example.test"
teams = ["billing"]

[[routes]]
to = "billing@example.test"
team = "billing"
"#;

fn write(dir: &tempfile::TempDir, text: &str) -> PathBuf {
    let key = dir.path().join("token.key");
    std::fs::write(&key, "0123456789abcdef0123456789abcdef\n").expect("write key");
    let text = text.replace(
        "state_dir = ",
        &format!(
            "token_secret_file = {:?}\nstate_dir = ",
            key.display().to_string()
        ),
    );
    let p = dir.path().join("frontdesk.toml");
    std::fs::write(&p, text).expect("write config");
    p
}

fn no_env() -> Vec<(String, String)> {
    Vec::new()
}

fn password(auth: &Auth) -> &str {
    match auth {
        Auth::Password(p) => p.expose(),
        Auth::OAuth2(s) => panic!("expected a password, got {s:?}"),
    }
}

#[test]
fn spec_example_keys_are_enough() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = Config::load_with_env(&write(&dir, SPEC_EXAMPLE), no_env()).expect("valid");
    assert_eq!(cfg.service.name, "Acme Support");
    assert_eq!(cfg.imap.idle_renew, Duration::from_secs(1200));
    assert_eq!(cfg.imap.backfill, Duration::ZERO);
    assert_eq!(cfg.ack.per_sender_per_day, 3);
    assert_eq!(cfg.routes.len(), 1);
    assert_eq!(cfg.agents[0].name, "Jason Miller");
}

#[test]
fn environment_overrides_the_file_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = vec![
        (
            "FRONTDESK__IMAP__PASSWORD".to_string(),
            "from-env".to_string(),
        ),
        ("FRONTDESK__IMAP__PORT".to_string(), "2143".to_string()),
    ];
    let cfg = Config::load_with_env(&write(&dir, SPEC_EXAMPLE), env).expect("valid");
    assert_eq!(password(&cfg.imap.auth), "from-env");
    assert_eq!(cfg.imap.port, 2143);
}

#[test]
fn password_file_is_read_and_trimmed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pw = dir.path().join("imap.pw");
    std::fs::write(&pw, "s3cret\n").expect("write");
    let text = SPEC_EXAMPLE.replace(
        "password = \"from-file\"",
        &format!("password_file = {:?}", pw.display().to_string()),
    );
    let cfg = Config::load_with_env(&write(&dir, &text), no_env()).expect("valid");
    assert_eq!(password(&cfg.imap.auth), "s3cret");
    assert!(
        !format!("{cfg:?}").contains("s3cret"),
        "secrets must not appear in Debug"
    );
}

#[test]
fn plaintext_to_a_remote_host_is_refused_with_key_and_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = SPEC_EXAMPLE.replacen("host = \"127.0.0.1\"", "host = \"imap.example.com\"", 1);
    let err = Config::load_with_env(&write(&dir, &text), no_env()).expect_err("refused");
    let msg = err.to_string();
    assert!(msg.contains("imap.tls"), "{msg}");
    assert!(msg.contains("fix:"), "{msg}");
    assert!(msg.contains("frontdesk.toml"), "{msg}");
}

#[test]
fn further_inboxes_are_checked_like_the_main_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let two = format!(
        "{SPEC_EXAMPLE}\n[[inboxes]]\nname = \"billing\"\naddress = \"billing@example.test\"\n\
         [inboxes.imap]\nhost = \"127.0.0.1\"\ntls = \"none\"\npassword = \"b\"\n\
         [alerts]\nto = \"ops@example.test\"\n"
    );
    let cfg = Config::load_with_env(&write(&dir, &two), no_env()).expect("valid");
    let all = cfg.all_inboxes();
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].name, "billing");
    assert_eq!(
        all[1].imap.username, "billing@example.test",
        "login defaults to the address"
    );
    assert_eq!(cfg.alerts.as_ref().map(|a| a.after_failures), Some(5));
    // Mail from either inbox is ours: the two can never answer each other.
    let own = cfg.own_addresses();
    assert!(
        own.iter().any(|a| a.as_str() == "billing@example.test"),
        "{own:?}"
    );
    // The billing view answers from billing@ and still knows support@ is ours.
    let view = cfg.for_inbox(&all[1]);
    assert_eq!(view.service.address.as_str(), "billing@example.test");
    assert!(
        view.own_addresses()
            .iter()
            .any(|a| a.as_str() == "support@example.test")
    );

    let broken = two
        .replace("password = \"b\"\n", "")
        .replace("billing@example.test", "support@example.test");
    let msg = Config::load_with_env(&write(&dir, &broken), no_env())
        .expect_err("refused")
        .to_string();
    assert!(msg.contains("inboxes[0].imap.password"), "{msg}");
    assert!(msg.contains("configured twice"), "{msg}");
}

#[test]
fn metrics_listen_must_stay_on_loopback() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = Config::load_with_env(&write(&dir, SPEC_EXAMPLE), no_env()).expect("valid");
    assert_eq!(cfg.metrics_listen, None, "off by default");
    let on = format!("{SPEC_EXAMPLE}\n[metrics]\nlisten = \"127.0.0.1:9187\"\n");
    let cfg = Config::load_with_env(&write(&dir, &on), no_env()).expect("valid");
    assert_eq!(
        cfg.metrics_listen,
        Some("127.0.0.1:9187".parse().expect("addr"))
    );
    let open = on.replace("127.0.0.1:9187", "0.0.0.0:9187");
    let msg = Config::load_with_env(&write(&dir, &open), no_env())
        .expect_err("refused")
        .to_string();
    assert!(
        msg.contains("metrics.listen") && msg.contains("fix:"),
        "{msg}"
    );
}

#[test]
fn all_problems_are_reported_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = SPEC_EXAMPLE
        .replace(
            "address = \"support@example.test\"",
            "address = \"not an address\"",
        )
        .replace("email = \"jason@example.test\"", "email = \"jason\"");
    let err = Config::load_with_env(&write(&dir, &text), no_env()).expect_err("refused");
    let ConfigError::Invalid { problems, .. } = err else {
        panic!("expected validation problems, got {err}");
    };
    let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
    assert!(keys.contains(&"service.address"), "{keys:?}");
    assert!(keys.contains(&"agents[0].email"), "{keys:?}");
}

#[test]
fn unknown_keys_are_refused_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = SPEC_EXAMPLE.replace("mailbox = \"INBOX\"", "mailbxo = \"INBOX\"");
    let err = Config::load_with_env(&write(&dir, &text), no_env()).expect_err("refused");
    assert!(err.to_string().contains("mailbxo"), "{err}");
}

#[test]
fn missing_imap_credential_names_the_environment_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = SPEC_EXAMPLE.replace("password = \"from-file\"\n", "");
    let err = Config::load_with_env(&write(&dir, &text), no_env()).expect_err("refused");
    assert!(
        err.to_string().contains("FRONTDESK__IMAP__PASSWORD"),
        "{err}"
    );
}

const IMAP_TOKEN_COMMAND: &str =
    "oauth2_token_command = \"oauth2-helper --client-secret not-for-logs support\"";

#[test]
fn an_oauth2_token_command_replaces_the_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = SPEC_EXAMPLE.replacen("password = \"from-file\"", IMAP_TOKEN_COMMAND, 1);
    let cfg = Config::load_with_env(&write(&dir, &text), no_env()).expect("valid");
    let Auth::OAuth2(command) = &cfg.imap.auth else {
        panic!("expected XOAUTH2, got {:?}", cfg.imap.auth);
    };
    assert_eq!(command.key(), "imap.oauth2_token_command");
    assert_eq!(cfg.imap.auth.mechanism(), "XOAUTH2");
    assert!(
        !format!("{cfg:?}").contains("not-for-logs"),
        "the command line stays out of Debug"
    );
    // The SMTP side still uses its password.
    let Some((_, Auth::Password(_))) = &cfg.smtp.credentials else {
        panic!("smtp: {:?}", cfg.smtp.credentials);
    };
    // Without secrets (the ops commands) the command is kept and never run.
    let path = write(&dir, &text);
    let cfg = Config::load_without_secrets(&path).expect("valid");
    assert_eq!(cfg.imap.auth.mechanism(), "XOAUTH2");
}

#[test]
fn token_command_lifetime_timeout_and_environment_override() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = SPEC_EXAMPLE.replacen(
        "password = \"smtp-secret\"",
        "oauth2_token_command = \"cat /run/token\"\noauth2_token_lifetime_minutes = 0\noauth2_token_timeout_seconds = 5",
        1,
    );
    let env = vec![(
        "FRONTDESK__SMTP__OAUTH2_TOKEN_COMMAND".to_string(),
        "from-env-helper".to_string(),
    )];
    let cfg = Config::load_with_env(&write(&dir, &text), env).expect("valid");
    let Some((user, Auth::OAuth2(command))) = &cfg.smtp.credentials else {
        panic!("smtp: {:?}", cfg.smtp.credentials);
    };
    assert_eq!(user, "support@example.test");
    let shown = format!("{command:?}");
    assert!(shown.contains("smtp.oauth2_token_command"), "{shown}");
    assert!(
        shown.contains("lifetime: 0ns") && shown.contains("timeout: 5s"),
        "{shown}"
    );
    // The environment variable reached the command (the oauth2 tests run commands).
    assert_eq!(command.command, "from-env-helper");
}

#[test]
fn a_token_command_with_a_password_is_refused_with_key_and_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = SPEC_EXAMPLE.replacen(
        "password = \"from-file\"",
        &format!("password = \"from-file\"\n{IMAP_TOKEN_COMMAND}"),
        1,
    );
    let err = Config::load_with_env(&write(&dir, &text), no_env()).expect_err("refused");
    let msg = err.to_string();
    assert!(msg.contains("imap.oauth2_token_command: both"), "{msg}");
    assert!(
        msg.contains("fix: keep only imap.oauth2_token_command"),
        "{msg}"
    );

    let text = SPEC_EXAMPLE.replacen(
        "password = \"smtp-secret\"",
        "password_file = \"/run/smtp\"\noauth2_token_command = \" \"",
        1,
    );
    let err = Config::load_with_env(&write(&dir, &text), no_env()).expect_err("refused");
    let msg = err.to_string();
    assert!(
        msg.contains("smtp.oauth2_token_command: both oauth2_token_command and password_file"),
        "{msg}"
    );

    let text = SPEC_EXAMPLE.replacen(
        "password = \"from-file\"",
        "oauth2_token_command = \"  \"",
        1,
    );
    let err = Config::load_with_env(&write(&dir, &text), no_env()).expect_err("refused");
    assert!(
        err.to_string()
            .contains("imap.oauth2_token_command: is empty"),
        "{err}"
    );
}

#[test]
fn missing_credential_mentions_the_token_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = SPEC_EXAMPLE.replace("password = \"from-file\"\n", "");
    let err = Config::load_with_env(&write(&dir, &text), no_env()).expect_err("refused");
    assert!(
        err.to_string()
            .contains("imap.oauth2_token_command (XOAUTH2)"),
        "{err}"
    );
    let text = SPEC_EXAMPLE.replace("password = \"smtp-secret\"\n", "");
    let err = Config::load_with_env(&write(&dir, &text), no_env()).expect_err("refused");
    assert!(
        err.to_string()
            .contains("smtp.oauth2_token_command (XOAUTH2)"),
        "{err}"
    );
}

#[test]
fn token_key_is_required() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("frontdesk.toml");
    std::fs::write(&p, SPEC_EXAMPLE).expect("write");
    let err = Config::load_with_env(&p, no_env()).expect_err("refused");
    assert!(
        err.to_string().contains("service.token_secret_file"),
        "{err}"
    );
}
