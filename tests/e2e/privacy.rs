//! Privacy, end to end against the real Dovecot + Postfix of `scripts/mailstack`: a customer's
//! data exported and forgotten beside the running daemon, and no secret or message body in the
//! logs. `#[ignore]`d like the other end-to-end tests; `scripts/test` runs them.

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn a_customer_is_exported_then_forgotten_beside_the_daemon() {
    let stack = Stack::get();
    let mut d = Daemon::start(&stack, Options::default()).await;
    let alice = format!("{}@customer.test", unique("alice"));
    let mid = send_customer_mail(
        &stack,
        "Alice Secret",
        &alice,
        &d.support,
        "Private matter",
        "My account number is 4711-0815.",
    )
    .await;
    wait_for_mail(&stack, &alice, 1).await;
    wait_quiet(&stack, &d).await;

    let export = d.cli(&["customer", "export", &alice]);
    let json: serde_json::Value = serde_json::from_str(&export).expect("export is JSON");
    assert_eq!(json["tickets"].as_array().map(Vec::len), Some(1), "{json}");
    assert!(
        export.contains("4711-0815"),
        "the export holds her mail: {export}"
    );
    let number = json["tickets"][0]["id"].as_u64().expect("ticket number");

    assert!(d.cli(&["mail", "list", "--json"]).contains(&mid));
    let forgot = d.cli(&["customer", "forget", &alice]);
    assert!(
        forgot.contains("1 ticket(s) kept as tombstones"),
        "{forgot}"
    );
    let tomb = d.cli(&["tickets", "show", &number.to_string(), "--json"]);
    for secret in [
        alice.as_str(),
        "Alice Secret",
        "Private matter",
        "4711-0815",
    ] {
        assert!(!tomb.contains(secret), "{secret} left in {tomb}");
    }
    let again: serde_json::Value =
        serde_json::from_str(&d.cli(&["customer", "export", &alice])).expect("JSON");
    assert_eq!(
        again["tickets"].as_array().map(Vec::len),
        Some(0),
        "{again}"
    );
    assert_eq!(again["mails"].as_array().map(Vec::len), Some(0), "{again}");
    let listed = d.cli(&["mail", "list", "--json"]);
    assert!(!listed.contains(&mid), "her Message-ID left in {listed}");
    // The body never reached the log either.
    assert!(!d.log_text().contains("4711-0815"), "a body in the log");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn secrets_never_reach_the_logs_or_check_config() {
    let stack = Stack::get();
    let d = Daemon::start(&stack, Options::default()).await;
    let bob = format!("{}@customer.test", unique("bob"));
    send_customer_mail(&stack, "Bob", &bob, &d.support, "Hello", "Hi.").await;
    wait_for_mail(&stack, &bob, 1).await;
    wait_quiet(&stack, &d).await;
    let check = d.cli_output(&["check-config", "--connect"]);
    assert!(check.status.success(), "{check:?}");
    let seen = format!(
        "{}{}{}",
        d.log_text(),
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    // The password as a whole word (the stack's paths merely start with the same letters).
    let password = regex::Regex::new(&format!(r"{}(?:[^-\w]|$)", regex::escape(&stack.password)))
        .expect("regex");
    assert!(!password.is_match(&seen), "the password leaked:\n{seen}");
    let key = std::fs::read_to_string(d.dir.path().join("token.key")).expect("key");
    assert!(!seen.contains(key.trim()), "the token key leaked:\n{seen}");
    assert!(
        !seen.contains("AUTH PLAIN") && !seen.contains("LOGIN "),
        "{seen}"
    );
}
