//! Privacy, end to end against the real Dovecot + Postfix of `scripts/mailstack`: a customer's
//! data exported and forgotten beside the running daemon, and no secret or message body in the
//! logs. `#[ignore]`d like the other end-to-end tests; `scripts/test` runs them.

use std::process::Command;

use data_encoding::BASE64;

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

/// Issue 17, point 4: `RUST_LOG` cannot undo the log hygiene. At `trace`, lettre logged
/// `AUTH PLAIN` with the base64 password and every DATA line it sent, and async-imap the
/// LOGIN line and every fetched mail. A full run at `RUST_LOG=trace` (a customer's mail
/// fetched, acknowledged, the agent notified, the agent's answer relayed, logins by password
/// and by XOAUTH2, `check-config --connect`) must log no password, token or key in any
/// form, and no line of any mail's body.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn nothing_secret_or_private_is_logged_even_at_trace() {
    let stack = Stack::get();
    let mut seen = String::new();
    let mut bodies: Vec<String> = Vec::new();

    // Password logins (IMAP LOGIN, SMTP AUTH PLAIN) and the whole life of a ticket.
    let mut d = Daemon::configure(&stack, Options::default());
    d.env.push(("RUST_LOG".into(), "trace".into()));
    d.launch().await;
    let eve = format!("{}@customer.test", unique("eve"));
    let private = [
        "Private line one: my IBAN is DE44 5001 0517 5407 3249 31.",
        "Private line two: the door code is 4711 and the key is under the mat.",
    ];
    send_customer_mail(
        &stack,
        "Eve Example",
        &eve,
        &d.support,
        "Refund please",
        &private.join("\r\n"),
    )
    .await;
    let ack = wait_for_mail(&stack, &eve, 1).await;
    let notes = wait_for_mail(&stack, &d.agent, 1).await;
    let note = &notes[0];
    let reply_to = note.header("Reply-To").expect("Reply-To");
    let token_addr = reply_to
        .rsplit('<')
        .next()
        .map(|a| a.trim_end_matches('>').to_string())
        .expect("address");
    let subject = note.parsed().subject().expect("subject").to_string();
    let answer_line = "Agent's line: your refund of 42 euros left our bank this morning.";
    let answer = format!(
        "From: Jason Miller <{agent}>\r\nTo: Acme Support <{token_addr}>\r\nSubject: Re: {subject}\r\n\
Message-ID: <{id}@example.test>\r\nIn-Reply-To: {notify}\r\n\r\nHi Eve,\r\n\r\n{answer_line}\r\n\r\nJason\r\n",
        agent = d.agent,
        id = unique("answer"),
        notify = note.header("Message-ID").expect("Message-ID"),
    );
    send_raw(&stack, Some(&d.agent), &token_addr, &answer).await;
    let eve_box = wait_for_mail(&stack, &eve, 2).await;
    assert!(
        eve_box[1].text().contains(answer_line),
        "the answer was relayed"
    );
    wait_quiet(&stack, &d).await;
    let check = Command::new(env!("CARGO_BIN_EXE_frontdesk"))
        .arg("--config")
        .arg(&d.config)
        .args(["check-config", "--connect"])
        .env("RUST_LOG", "trace")
        .output()
        .expect("run frontdesk");
    assert!(check.status.success(), "{check:?}");
    d.stop().await;
    seen.push_str(&d.log_text());
    seen.push_str(&String::from_utf8_lossy(&check.stdout));
    seen.push_str(&String::from_utf8_lossy(&check.stderr));
    bodies.extend(private.iter().map(|l| l.to_string()));
    bodies.push(answer_line.to_string());
    for mail in [&ack[0], note, &eve_box[1]] {
        bodies.extend(mail.text().lines().map(str::trim).map(String::from));
    }
    let key = std::fs::read_to_string(d.dir.path().join("token.key")).expect("key");
    let key = key.trim().to_string();

    // XOAUTH2 on both protocols, over implicit TLS.
    let token = stack.oauth_token.clone();
    assert!(!token.is_empty(), "stack.env has no STACK_OAUTH_TOKEN");
    let login = format!("oauth2_token_command = \"echo {token}\"");
    let mut o = Daemon::configure(
        &stack,
        Options {
            transport: Transport::Implicit,
            imap_login: Some(login.clone()),
            smtp_login: Some(login),
            ..Options::default()
        },
    );
    o.env.push(("RUST_LOG".into(), "trace".into()));
    o.launch().await;
    let oscar = format!("{}@customer.test", unique("oscar"));
    let oauth_line = "Private line three: my tax number is 12/345/67890.";
    send_customer_mail(&stack, "Oscar", &oscar, &o.support, "Hello", oauth_line).await;
    let oscar_ack = wait_for_mail(&stack, &oscar, 1).await;
    wait_quiet(&stack, &o).await;
    o.stop().await;
    seen.push_str(&o.log_text());
    bodies.push(oauth_line.to_string());
    bodies.extend(oscar_ack[0].text().lines().map(str::trim).map(String::from));

    assert!(
        d.events("imap.connected").len() + o.events("imap.connected").len() >= 2,
        "the daemons logged in (the log is read)"
    );
    let mut leaks = Vec::new();
    // The password as a whole word (the stack's paths and token merely start with it).
    let password = regex::Regex::new(&format!(r"{}(?:[^-\w]|$)", regex::escape(&stack.password)))
        .expect("regex");
    if password.is_match(&seen) {
        leaks.push("the password".to_string());
    }
    let user = &d.support;
    let mut secrets: Vec<(String, String)> = vec![
        ("the token key".into(), key.clone()),
        ("the OAuth2 token".into(), token.clone()),
        (
            "AUTH PLAIN's response".into(),
            BASE64.encode(format!("\0{user}\0{}", stack.password).as_bytes()),
        ),
        (
            "AUTH PLAIN's response with an authorization id".into(),
            BASE64.encode(format!("{user}\0{user}\0{}", stack.password).as_bytes()),
        ),
        (
            "XOAUTH2's response".into(),
            BASE64.encode(format!("user={}\x01auth=Bearer {token}\x01\x01", o.support).as_bytes()),
        ),
        ("a LOGIN command".into(), "LOGIN ".into()),
        ("an AUTH command".into(), "AUTH PLAIN".into()),
        (
            "an AUTHENTICATE command".into(),
            "AUTHENTICATE XOAUTH2 ".into(),
        ),
    ];
    for (what, secret) in [
        ("the password", &stack.password),
        ("the token key", &key),
        ("the OAuth2 token", &token),
    ] {
        for fragment in base64_inside(secret.as_bytes()) {
            secrets.push((format!("{what} in base64"), fragment));
        }
    }
    for (what, secret) in &secrets {
        if seen.contains(secret.as_str()) {
            leaks.push(format!("{what} ({secret})"));
        }
    }
    for line in bodies.iter().filter(|l| l.len() >= 20) {
        if seen.contains(line.as_str()) {
            leaks.push(format!("a body line: {line}"));
        }
    }
    leaks.dedup();
    assert!(
        leaks.is_empty(),
        "leaked at RUST_LOG=trace ({} bytes of log):\n{}",
        seen.len(),
        leaks.join("\n")
    );
}

/// What `secret` looks like inside any base64 text, wherever it starts: for each of the three
/// alignments, the characters that encode only its own bytes.
fn base64_inside(secret: &[u8]) -> Vec<String> {
    (0..3)
        .map(|offset| {
            let mut bytes = vec![0u8; offset];
            bytes.extend_from_slice(secret);
            let text = BASE64.encode(&bytes);
            let first = (8 * offset).div_ceil(6);
            let last = 8 * bytes.len() / 6;
            text[first..last].to_string()
        })
        .collect()
}
