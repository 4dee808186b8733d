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

/// The problems `text` has, as (key, message, fix).
fn problems_of(text: &str, env: Vec<(String, String)>) -> Vec<(String, String, String)> {
    let dir = tempfile::tempdir().expect("tempdir");
    match Config::load_with_env(&write(&dir, text), env) {
        Err(ConfigError::Invalid { problems, .. }) => problems
            .into_iter()
            .map(|p| (p.key, p.message, p.fix))
            .collect(),
        Err(e) => panic!("expected problems with key and fix, got {e}"),
        Ok(_) => panic!("accepted:\n{text}"),
    }
}

fn only(problems: &[(String, String, String)], key: &str) -> (String, String) {
    let found: Vec<_> = problems.iter().filter(|p| p.0 == key).collect();
    assert_eq!(found.len(), 1, "{key} in {problems:#?}");
    (found[0].1.clone(), found[0].2.clone())
}

#[test]
fn an_unknown_key_names_the_nearest_known_one() {
    let text = SPEC_EXAMPLE.replace("address = \"support", "adress = \"support");
    let problems = problems_of(&text, no_env());
    let (message, fix) = only(&problems, "service.adress");
    assert!(message.contains("unknown key"), "{message}");
    assert_eq!(fix, "did you mean `address`?");
    // The missing `address` is the same mistake, not a second one.
    assert_eq!(problems.len(), 1, "{problems:#?}");

    let section = SPEC_EXAMPLE.replace("[smtp]", "[smpt]");
    let problems = problems_of(&section, no_env());
    assert_eq!(only(&problems, "smpt").1, "did you mean `smtp`?");

    let far = SPEC_EXAMPLE.replace("mailbox = \"INBOX\"", "colour = \"blue\"");
    let (_, fix) = only(&problems_of(&far, no_env()), "imap.colour");
    assert!(fix.starts_with("remove it; [imap] knows "), "{fix}");
    assert!(fix.contains("mailbox"), "{fix}");
}

#[test]
fn an_enum_value_lists_the_allowed_ones() {
    let text = SPEC_EXAMPLE.replacen("tls = \"none\"", "tls = \"maybe\"", 1);
    let (message, fix) = only(&problems_of(&text, no_env()), "imap.tls");
    assert!(message.contains("\"maybe\""), "{message}");
    for allowed in ["\"none\"", "\"starttls\"", "\"implicit\""] {
        assert!(fix.contains(allowed), "{fix}");
    }
}

#[test]
fn a_number_out_of_range_gives_the_range() {
    let text = SPEC_EXAMPLE.replace("port = 1143", "port = 99999");
    let (message, fix) = only(&problems_of(&text, no_env()), "imap.port");
    assert!(message.contains("99999"), "{message}");
    assert_eq!(fix, "use a whole number from 0 to 65535");
    let negative = SPEC_EXAMPLE.replace("port = 2525", "port = -25");
    let (_, fix) = only(&problems_of(&negative, no_env()), "smtp.port");
    assert_eq!(fix, "use a whole number from 0 to 65535");
}

#[test]
fn a_wrong_type_says_what_was_expected() {
    let text = SPEC_EXAMPLE.replace("teams = [\"billing\"]", "teams = \"billing\"");
    let problems = problems_of(&text, no_env());
    let (message, fix) = only(&problems, "agents[0].teams");
    assert!(message.contains("expected a list"), "{message}");
    assert!(fix.contains("teams as a list"), "{fix}");
    // Read as meant, so the route to that team raises nothing more.
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let word = SPEC_EXAMPLE.replace("port = 2525", "port = \"soon\"");
    let (message, _) = only(&problems_of(&word, no_env()), "smtp.port");
    assert!(message.contains("expected a whole number"), "{message}");
}

#[test]
fn numbers_written_as_text_are_no_mistake() {
    // Every environment override is text; the file may quote a number too.
    let text = SPEC_EXAMPLE.replace("port = 2525", "port = \"2525\"");
    let dir = tempfile::tempdir().expect("tempdir");
    let env = vec![("FRONTDESK__IMAP__PORT".to_string(), "2143".to_string())];
    let config = Config::load_with_env(&write(&dir, &text), env).expect("valid");
    assert_eq!(config.imap.port, 2143);
    assert_eq!(config.smtp.port, 2525);
    let env = vec![("FRONTDESK__IMAP__PORT".to_string(), "imap".to_string())];
    let (message, _) = only(&problems_of(SPEC_EXAMPLE, env), "imap.port");
    assert!(message.contains("\"imap\""), "{message}");
}

#[test]
fn every_kind_of_mistake_is_reported_in_one_run() {
    let text = SPEC_EXAMPLE
        .replace("address = \"support", "adress = \"support")
        .replacen("tls = \"none\"", "tls = \"maybe\"", 1)
        .replace("port = 1143", "port = 99999")
        .replace("email = \"jason@example.test\"", "email = \"jason\"")
        .replace(
            "[[routes]]",
            "[acknowledgment]\nper_sender_per_day = 3\n\n[[routes]]",
        );
    let problems = problems_of(&text, no_env());
    let keys: Vec<&str> = problems.iter().map(|p| p.0.as_str()).collect();
    for key in [
        "service.adress",
        "imap.tls",
        "imap.port",
        "agents[0].email",
        "acknowledgment",
    ] {
        assert!(keys.contains(&key), "{key} not in {keys:?}");
    }
    // Each once, each with its fix (the route to the dropped agent's team may add its own).
    let mut unique = keys.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), keys.len(), "{keys:?}");
    assert!(problems.iter().all(|p| !p.2.is_empty()), "{problems:#?}");
}

#[test]
fn idle_check_is_off_by_default_and_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config::load_with_env(&write(&dir, SPEC_EXAMPLE), no_env()).expect("valid");
    assert_eq!(config.imap.idle_check, None);
    let on = SPEC_EXAMPLE.replace(
        "mailbox = \"INBOX\"",
        "mailbox = \"INBOX\"\nidle_check_seconds = 60",
    );
    let config = Config::load_with_env(&write(&dir, &on), no_env()).expect("valid");
    assert_eq!(config.imap.idle_check, Some(Duration::from_secs(60)));
    let fast = SPEC_EXAMPLE.replace(
        "mailbox = \"INBOX\"",
        "mailbox = \"INBOX\"\nidle_check_seconds = 2",
    );
    let (message, fix) = only(&problems_of(&fast, no_env()), "imap.idle_check_seconds");
    assert!(message.contains("outside 10..=1200"), "{message}");
    assert!(fix.contains("60"), "{fix}");
}

/// `SPEC_EXAMPLE` with a billing inbox whose `[inboxes.smtp]` holds `smtp`.
fn with_billing_smtp(smtp: &str) -> String {
    format!(
        "{SPEC_EXAMPLE}\n[[inboxes]]\nname = \"billing\"\naddress = \"billing@example.test\"\n\
         [inboxes.imap]\nhost = \"127.0.0.1\"\ntls = \"none\"\npassword = \"b\"\n\
         [inboxes.smtp]\n{smtp}\n"
    )
}

#[test]
fn an_inbox_smtp_account_falls_back_to_smtp_key_by_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A login of its own and nothing else: [smtp]'s server, the inbox's address as login.
    let cfg = Config::load_with_env(
        &write(&dir, &with_billing_smtp("password = \"billing-secret\"")),
        no_env(),
    )
    .expect("valid");
    let billing = &cfg.inboxes[0].smtp;
    assert_eq!(
        (billing.host.as_str(), billing.port, billing.tls),
        ("127.0.0.1", 2525, super::TlsMode::None)
    );
    let (user, auth) = billing.credentials.as_ref().expect("own login");
    assert_eq!(
        user, "billing@example.test",
        "login defaults to the address"
    );
    assert_eq!(password(auth), "billing-secret");
    assert_eq!(
        billing.login_section, "inboxes[0].smtp",
        "named in a refusal's fix"
    );
    assert_eq!(
        (billing.pool_size, billing.timeout, billing.retry),
        (cfg.smtp.pool_size, cfg.smtp.timeout, cfg.smtp.retry)
    );
    // Its own host (hosted mail): the port follows its tls, not [smtp]'s port.
    let hosted = with_billing_smtp(
        "host = \"smtp.gmail.com\"\ntls = \"starttls\"\nusername = \"b@example.test\"\n\
         oauth2_token_command = \"token b\"\npool_size = 1",
    );
    let cfg = Config::load_with_env(&write(&dir, &hosted), no_env()).expect("valid");
    let billing = &cfg.inboxes[0].smtp;
    assert_eq!(
        (billing.host.as_str(), billing.port),
        ("smtp.gmail.com", 587)
    );
    assert_eq!(billing.pool_size, 1);
    let (user, auth) = billing.credentials.as_ref().expect("own login");
    assert_eq!(user, "b@example.test");
    let Auth::OAuth2(cmd) = auth else {
        panic!("XOAUTH2 expected: {auth:?}")
    };
    assert_eq!(cmd.key(), "inboxes[0].smtp.oauth2_token_command");
    // No login of its own: [smtp]'s login, as without the table.
    let cfg = Config::load_with_env(&write(&dir, &with_billing_smtp("port = 2526")), no_env())
        .expect("valid");
    assert_eq!(cfg.inboxes[0].smtp.port, 2526);
    assert_eq!(cfg.inboxes[0].smtp.credentials, cfg.smtp.credentials);
    assert_eq!(cfg.inboxes[0].smtp.login_section, "smtp");
    // Without the table at all the inbox sends through [smtp] itself.
    let cfg = Config::load_with_env(&write(&dir, SPEC_EXAMPLE), no_env()).expect("valid");
    assert!(cfg.inboxes.is_empty());
    assert_eq!(cfg.smtp_accounts().len(), 1);
}

#[test]
fn each_inbox_sends_through_its_own_account() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = with_billing_smtp("password = \"billing-secret\"");
    let cfg = Config::load_with_env(&write(&dir, &text), no_env()).expect("valid");
    let support = crate::domain::EmailAddress::parse("support@example.test");
    let billing = crate::domain::EmailAddress::parse("billing@example.test");
    let stranger = crate::domain::EmailAddress::parse("gone@example.test");
    assert_eq!(cfg.smtp_for(support.as_ref()), &cfg.smtp);
    assert_eq!(cfg.smtp_for(billing.as_ref()), &cfg.inboxes[0].smtp);
    assert_eq!(cfg.smtp_for(None), &cfg.smtp, "entries of older builds");
    assert_eq!(
        cfg.smtp_for(stranger.as_ref()),
        &cfg.smtp,
        "a removed inbox"
    );
    let accounts = cfg.smtp_accounts();
    let names: Vec<_> = accounts.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(
        names,
        vec![vec!["support".to_string()], vec!["billing".into()]]
    );
    // The billing view (and so the ticket of billing) sends through billing's account, and
    // from there the main inbox still sends through [smtp].
    let view = cfg.for_inbox(&cfg.all_inboxes()[1]);
    assert_eq!(view.smtp, cfg.inboxes[0].smtp);
    assert_eq!(view.smtp_for(support.as_ref()), &cfg.smtp);
    let mut ticket = crate::testing::ticket(1001, "alice@customer.test").build();
    ticket.inbox = billing.clone();
    assert_eq!(cfg.for_ticket(&ticket).smtp, cfg.inboxes[0].smtp);
    ticket.inbox = support;
    assert_eq!(view.for_ticket(&ticket).smtp, cfg.smtp);
}

#[test]
fn inbox_smtp_problems_name_their_key_and_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let problems = |smtp: &str| -> Vec<super::Problem> {
        match Config::load_with_env(&write(&dir, &with_billing_smtp(smtp)), no_env()) {
            Err(ConfigError::Invalid { problems, .. }) => problems,
            other => panic!("expected problems for {smtp:?}, got {other:?}"),
        }
    };
    let p = problems("username = \"billing@example.test\"");
    assert_eq!(p[0].key, "inboxes[0].smtp.password", "{p:?}");
    assert!(p[0].fix.contains("[smtp]'s login"), "{p:?}");
    let p = problems("password = \"a\"\noauth2_token_command = \"t\"");
    assert_eq!(p[0].key, "inboxes[0].smtp.oauth2_token_command", "{p:?}");
    let p = problems("host = \"smtp.example.com\"\npassword = \"a\"");
    assert_eq!(
        p[0].key, "inboxes[0].smtp.tls",
        "[smtp]'s tls = none, elsewhere: {p:?}"
    );
    let p = problems("password = \"a\"\npool_size = 0");
    assert_eq!(p[0].key, "inboxes[0].smtp.pool_size", "{p:?}");
    let p = problems("password = \"a\"\nca_file = \"/nonexistent/ca.pem\"");
    assert_eq!(p[0].key, "inboxes[0].smtp.ca_file", "{p:?}");
    // The shape checker knows the table's keys: a misspelt one gets the nearest.
    let p = problems("pasword = \"a\"");
    assert_eq!(p[0].key, "inboxes[0].smtp.pasword", "{p:?}");
    assert!(p[0].fix.contains("password"), "{p:?}");
    let p = problems("tls = \"sometimes\"");
    assert_eq!(p[0].key, "inboxes[0].smtp.tls", "{p:?}");
}

#[test]
fn config_show_redacts_an_inbox_smtp_login() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = with_billing_smtp("password = \"billing-secret\"\nhost = \"127.0.0.2\"");
    let tree = super::show::effective(&write(&dir, &text), no_env(), false).expect("shown");
    let smtp = &tree["inboxes"][0]["smtp"];
    assert_eq!(smtp["password"], super::show::REDACTED, "{smtp}");
    assert_eq!(smtp["host"], "127.0.0.2", "{smtp}");
    assert!(!tree.to_string().contains("billing-secret"));
    let changed = super::show::effective(&write(&dir, &text), no_env(), true).expect("shown");
    assert_eq!(
        changed["inboxes"][0]["smtp"]["host"], "127.0.0.2",
        "{changed}"
    );
}

/// Issue 14, point 2: closures from dates and from a calendar file become days off in the
/// working hours of exactly the agents they apply to.
#[test]
fn closures_become_days_off_of_the_agents_they_apply_to() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("holidays.ics"),
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:1@test\r\n\
DTSTAMP:20260101T000000Z\r\nSUMMARY:Boxing Day\r\nDTSTART;VALUE=DATE:20261226\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    )
    .expect("write ics");
    let text = format!(
        "{SPEC_EXAMPLE}
[[agents]]
name = \"Maria Lopez\"
email = \"maria@example.test\"

[[closures]]
name = \"Christmas\"
from = \"2026-12-24\"
to = \"2026-12-25\"

[[closures]]
ics = \"holidays.ics\"
team = \"billing\"

[[closures]]
agent = \"maria@example.test\"
from = \"2026-08-03\"
to = \"2026-08-14\"
"
    );
    let cfg = Config::load_with_env(&write(&dir, &text), no_env()).expect("valid");
    let at = |s: &str| -> jiff::Timestamp { s.parse().expect("timestamp") };
    let jason = cfg
        .agents
        .iter()
        .find(|a| a.name == "Jason Miller")
        .expect("jason");
    let maria = cfg
        .agents
        .iter()
        .find(|a| a.name == "Maria Lopez")
        .expect("maria");
    assert!(!jason.hours.is_open(at("2026-12-24T12:00:00Z")), "everyone");
    assert!(!maria.hours.is_open(at("2026-12-24T12:00:00Z")), "everyone");
    assert!(
        !jason.hours.is_open(at("2026-12-26T12:00:00Z")),
        "billing's calendar"
    );
    assert!(
        maria.hours.is_open(at("2026-12-26T12:00:00Z")),
        "not in billing"
    );
    assert!(
        !maria.hours.is_open(at("2026-08-05T12:00:00Z")),
        "her leave"
    );
    assert!(jason.hours.is_open(at("2026-08-05T12:00:00Z")), "not his");
    let date = |s: &str| -> jiff::civil::Date { s.parse().expect("date") };
    assert_eq!(
        cfg.desk_closure(date("2026-12-25")),
        Some((Some("Christmas"), date("2026-12-26")))
    );
    assert_eq!(cfg.desk_closure(date("2026-12-26")), None, "only billing's");
}

#[test]
fn a_closure_that_cannot_be_meant_names_its_key() {
    let bad = format!(
        "{SPEC_EXAMPLE}
[[closures]]
from = \"24.12.2026\"

[[closures]]
from = \"2026-12-27\"
to = \"2026-12-20\"

[[closures]]
team = \"nobody\"
from = \"2026-12-24\"

[[closures]]
agent = \"ghost@example.test\"
from = \"2026-12-24\"

[[closures]]
ics = \"missing.ics\"

[[closures]]
ics = \"missing.ics\"
from = \"2026-12-24\"
"
    );
    let problems = problems_of(&bad, no_env());
    assert!(only(&problems, "closures[0].from").1.contains("YYYY-MM-DD"));
    assert!(only(&problems, "closures[1].to").0.contains("is before"));
    assert!(only(&problems, "closures[2].team").0.contains("nobody"));
    assert!(
        only(&problems, "closures[3].agent")
            .0
            .contains("ghost@example.test")
    );
    assert!(
        only(&problems, "closures[4].ics")
            .0
            .contains("cannot be read")
    );
    assert!(only(&problems, "closures[5]").0.contains("both"));
}

#[test]
fn the_closing_mail_is_on_by_default_and_an_inbox_may_switch_it_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inbox = |own: &str| {
        format!(
            "{SPEC_EXAMPLE}\n[[inboxes]]\nname = \"billing\"\naddress = \"billing@example.test\"\n\
             {own}[inboxes.imap]\nhost = \"127.0.0.1\"\ntls = \"none\"\npassword = \"b\"\n"
        )
    };
    let views = |text: &str| {
        let cfg = Config::load_with_env(&write(&dir, text), no_env()).expect("valid");
        let all = cfg.all_inboxes();
        let billing = cfg.for_inbox(&all[1]);
        // Each view reads the same resolved list, whichever view it is built from.
        let main_again = billing.for_inbox(&all[0]);
        (
            cfg.sends_closing_mail(),
            billing.sends_closing_mail(),
            main_again.sends_closing_mail(),
            cfg.closing.remind_after,
        )
    };
    assert_eq!(views(&inbox("")), (true, true, true, None));
    assert_eq!(
        views(&inbox("closing_mail = false\n")),
        (true, false, true, None)
    );
    let off = inbox("closing_mail = true\n").replace(
        "[[inboxes]]",
        "[tickets]\nclosing_mail = false\nremind_after_days = 3\n\n[[inboxes]]",
    );
    assert_eq!(
        views(&off),
        (
            false,
            true,
            false,
            Some(std::time::Duration::from_secs(3 * 86_400))
        )
    );
}
