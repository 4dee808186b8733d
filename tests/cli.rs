//! The command line without servers: configuration errors and `check-config`.

use std::process::Command;

use frontdesk::testing::{agent, ticket};

fn frontdesk(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_frontdesk"))
        .args(args)
        .env_remove("FRONTDESK__IMAP__PASSWORD")
        .output()
        .expect("run frontdesk")
}

const EXAMPLE: &str = include_str!("../config/frontdesk.example.toml");

fn write_config(dir: &tempfile::TempDir, text: &str) -> String {
    let p = dir.path().join("frontdesk.toml");
    std::fs::write(&p, text).expect("write");
    p.display().to_string()
}

/// The shipped example, made runnable here: secrets inline, state in a temporary directory.
fn runnable_example(dir: &tempfile::TempDir) -> String {
    let key = dir.path().join("token.key");
    std::fs::write(&key, "0123456789abcdef0123456789abcdef\n").expect("key");
    EXAMPLE
        .replace(
            "password_file = \"/run/credentials/frontdesk.service/frontdesk_imap\"",
            "password = \"imap-secret-Zq81\"",
        )
        .replace(
            "password_file = \"/run/credentials/frontdesk.service/frontdesk_smtp\"",
            "password = \"smtp-secret-Zq82\"",
        )
        .replace(
            "\"/run/credentials/frontdesk.service/frontdesk_token.key\"",
            &format!("{:?}", key.display().to_string()),
        )
        .replace(
            "/var/lib/frontdesk",
            &dir.path().join("state").display().to_string(),
        )
}

#[test]
fn check_config_accepts_the_example_and_renders_templates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_config(&dir, &runnable_example(&dir));
    let out = frontdesk(&["check-config", "--config", &path]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("ack.txt.hbs") && stdout.contains("ack.html.hbs"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("imap-secret-Zq81") && !stdout.contains("smtp-secret-Zq82"),
        "secrets leaked: {stdout}"
    );
}

#[test]
fn bad_configuration_names_file_key_and_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = runnable_example(&dir).replace("tls = \"implicit\"", "tls = \"none\"");
    let path = write_config(&dir, &text);
    let out = frontdesk(&["check-config", "--config", &path]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains(&path), "{stderr}");
    assert!(stderr.contains("imap.tls"), "{stderr}");
    assert!(stderr.contains("fix:"), "{stderr}");
}

/// sysexits' EX_CONFIG, which the unit's `RestartPreventExitStatus=` names.
const EX_CONFIG: i32 = 78;

/// A broken configuration ends `run` and `check-config` with 78 and nothing else, so systemd
/// (`RestartPreventExitStatus=78`, see tests/systemd.rs) gives up after one try.
#[test]
fn a_broken_configuration_exits_with_ex_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let invalid = write_config(
        &dir,
        &runnable_example(&dir).replace("tls = \"implicit\"", "tls = \"none\""),
    );
    let unparsable = dir.path().join("unparsable.toml");
    std::fs::write(&unparsable, "[imap\nhost = ").expect("write");
    let unparsable = unparsable.display().to_string();
    for command in ["run", "check-config"] {
        for config in [
            invalid.as_str(),
            unparsable.as_str(),
            "/nonexistent/frontdesk.toml",
        ] {
            let out = frontdesk(&[command, "--config", config]);
            assert_eq!(
                out.status.code(),
                Some(EX_CONFIG),
                "{command} --config {config}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// A secret file the configuration names but that is missing is a configuration error too.
#[test]
fn a_missing_secret_file_exits_with_ex_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = runnable_example(&dir).replace(
        "password = \"imap-secret-Zq81\"",
        "password_file = \"/nonexistent/credentials/imap\"",
    );
    let path = write_config(&dir, &text);
    let out = frontdesk(&["run", "--config", &path]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(EX_CONFIG), "{stderr}");
    assert!(stderr.contains("imap.password_file"), "{stderr}");
}

/// A usage error keeps clap's 2: it is not a configuration error.
#[test]
fn a_usage_error_exits_with_2() {
    let out = frontdesk(&["no-such-command"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn missing_configuration_file_says_how_to_fix() {
    let out = frontdesk(&["check-config", "--config", "/nonexistent/frontdesk.toml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("/nonexistent/frontdesk.toml") && stderr.contains("fix:"),
        "{stderr}"
    );
}

#[test]
fn broken_template_override_is_caught_by_check_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tpl = dir.path().join("templates");
    std::fs::create_dir(&tpl).expect("mkdir");
    std::fs::write(tpl.join("ack.txt.hbs"), "Dear {{customer.nmae}},\n").expect("write");
    let text = runnable_example(&dir).replace(
        "# templates_dir = \"/etc/frontdesk/templates\"",
        &format!("templates_dir = \"{}\"", tpl.display()),
    );
    let path = write_config(&dir, &text);
    let out = frontdesk(&["check-config", "--config", &path]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(EX_CONFIG),
        "strict mode must refuse an unknown variable, as a configuration error: {stderr}"
    );
    assert!(stderr.contains("ack.txt.hbs"), "{stderr}");
    let run = frontdesk(&["run", "--config", &path]);
    assert_eq!(
        run.status.code(),
        Some(EX_CONFIG),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

/// A language set that lacks a customer-facing template is refused by check-config (and at
/// start), naming the key, the set and the file, with the fix; the complete set passes and
/// is listed among the rendered templates.
#[test]
fn check_config_refuses_a_language_set_without_a_template_english_has() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tpl = dir.path().join("templates");
    std::fs::create_dir_all(tpl.join("it")).expect("mkdir");
    std::fs::write(
        tpl.join("it/ack.txt.hbs"),
        "Buongiorno{{#if customer.greeting_name}} {{customer.greeting_name}}{{/if}},\n\
         grazie per averci scritto: il ticket #{{ticket.number}} è di {{agent.name}}.\n",
    )
    .expect("write");
    let path = example_with_templates(&dir, &runnable_example(&dir), &tpl);
    for command in ["check-config", "run"] {
        let out = frontdesk(&[command, "--config", &path]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(EX_CONFIG), "{command}: {stderr}");
        assert!(
            stderr.contains("service.templates_dir")
                && stderr.contains("the it templates lack ack.html.hbs")
                && stderr.contains("fix: add ")
                && stderr.contains("it/ack.html.hbs"),
            "{command}: {stderr}"
        );
    }
    std::fs::write(
        tpl.join("it/ack.html.hbs"),
        "<p>Buongiorno, il ticket #{{ticket.number}} è di {{agent.name}}.</p>\n",
    )
    .expect("write");
    for file in ["handover.txt.hbs", "closing.txt.hbs", "reminder.txt.hbs"] {
        std::fs::write(
            tpl.join("it").join(file),
            "Buongiorno, sono {{agent.name}} ({{ticket.tag}}).\n",
        )
        .expect("write");
    }
    let out = frontdesk(&["check-config", "--config", &path]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("it/ack.html.hbs") && stdout.contains("languages  en, de, es, fr, it"),
        "{stdout}"
    );
}

/// A default language without templates would silently send English: refused.
#[test]
fn check_config_refuses_a_default_language_without_templates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = runnable_example(&dir).replace("language = \"en\"", "language = \"pt\"");
    let path = write_config(&dir, &text);
    let out = frontdesk(&["check-config", "--config", &path]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(EX_CONFIG), "{stderr}");
    assert!(
        stderr.contains("service.language: there are no pt templates") && stderr.contains("fix:"),
        "{stderr}"
    );
}

/// The shipped example with `templates_dir` set to `tpl`.
fn example_with_templates(dir: &tempfile::TempDir, text: &str, tpl: &std::path::Path) -> String {
    let text = text.replace(
        "# templates_dir = \"/etc/frontdesk/templates\"",
        &format!("templates_dir = \"{}\"", tpl.display()),
    );
    write_config(dir, &text)
}

#[test]
fn check_config_renders_the_canned_answers_and_names_a_broken_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tpl = dir.path().join("templates");
    std::fs::create_dir_all(tpl.join("replies")).expect("mkdir");
    std::fs::write(
        tpl.join("replies/refund-received.txt.hbs"),
        "Hello {{customer.greeting_name}}, your refund is on its way.\n",
    )
    .expect("write");
    let path = example_with_templates(&dir, &runnable_example(&dir), &tpl);
    let out = frontdesk(&["check-config", "--config", &path]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("replies/refund-received.txt.hbs"),
        "{stdout}"
    );

    std::fs::write(
        tpl.join("replies/late.txt.hbs"),
        "Dear {{customer.nmae}},\n",
    )
    .expect("write");
    let out = frontdesk(&["check-config", "--config", &path]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(EX_CONFIG), "{stderr}");
    assert!(stderr.contains("replies/late.txt.hbs"), "{stderr}");
}

#[test]
fn replies_list_shows_the_canned_answers_without_daemon_or_secrets() {
    // The example as shipped: its secret files do not exist here, and no store is open.
    let dir = tempfile::tempdir().expect("tempdir");
    let tpl = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let text = EXAMPLE.replace(
        "/var/lib/frontdesk",
        &dir.path().join("state").display().to_string(),
    );
    let path = example_with_templates(&dir, &text, &tpl);
    let out = frontdesk(&["replies", "list", "--config", &path]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].ends_with("PREVIEW"),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with("password-reset ") && lines[1].contains("Password reset:"),
        "{stdout}"
    );
    assert!(
        lines[2].starts_with("refund-received ") && lines[2].contains("Refund confirmed"),
        "{stdout}"
    );

    let out = frontdesk(&["replies", "list", "--json", "--config", &path]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let names: Vec<&str> = rows
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| r["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["password-reset", "refund-received"]);
    assert!(
        rows[0]["file"]
            .as_str()
            .expect("file")
            .ends_with("replies/password-reset.txt.hbs")
    );

    // Without a templates directory there are none, and the output says where they go.
    let path = write_config(&dir, &text);
    let out = frontdesk(&["replies", "list", "--config", &path]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("no canned answers") && stdout.contains("replies/NAME.txt.hbs"),
        "{stdout}"
    );
    let out = frontdesk(&["replies", "list", "--json", "--config", &path]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
}

#[test]
fn the_examples_xoauth2_lines_are_a_valid_login() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The documented lines of [imap] and [smtp], uncommented, in place of both passwords
    // (the commented-out [inboxes.smtp] example further down stays commented).
    let mut in_inboxes = false;
    let text: String = runnable_example(&dir)
        .lines()
        .filter(|l| !l.starts_with("password = "))
        .map(|l| {
            in_inboxes |= l.starts_with("# [[inboxes]]");
            l.strip_prefix("# oauth2_")
                .filter(|_| !in_inboxes)
                .map_or(l.to_string(), |k| format!("oauth2_{k}"))
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(
        text.matches("\noauth2_token_command = ").count(),
        2,
        "{text}"
    );
    let path = write_config(&dir, &text);
    let out = frontdesk(&["check-config", "--config", &path]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("user=support@example.com (XOAUTH2)")
            && stdout.contains("auth=support@example.com (XOAUTH2)"),
        "{stdout}"
    );
}

/// Under the unit, `$CREDENTIALS_DIRECTORY` holds only the files that exist in
/// /etc/frontdesk/credentials/: a setup with XOAUTH2 for IMAP and a relay without login has
/// the token key alone, and starts, because only the files the configuration names are read.
#[test]
fn only_the_credentials_the_configuration_names_are_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let credentials = dir.path().join("credentials");
    std::fs::create_dir(&credentials).expect("mkdir");
    std::fs::write(
        credentials.join("frontdesk_token.key"),
        "0123456789abcdef0123456789abcdef\n",
    )
    .expect("key");
    let mut section = String::new();
    let text: String = EXAMPLE
        .replace(
            "/run/credentials/frontdesk.service/frontdesk_token.key",
            "frontdesk_token.key",
        )
        .replace(
            "/var/lib/frontdesk",
            &dir.path().join("state").display().to_string(),
        )
        .lines()
        .filter_map(|l| {
            if l.starts_with('[') {
                section = l.to_string();
            }
            match section.as_str() {
                "[imap]" if l.starts_with("password_file") => None,
                "[imap]" => Some(
                    l.strip_prefix("# oauth2_")
                        .map_or(l.to_string(), |k| format!("oauth2_{k}")),
                ),
                "[smtp]" if l.starts_with("password_file") || l.starts_with("username") => None,
                _ => Some(l.to_string()),
            }
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        text.lines()
            .all(|l| l.starts_with('#') || !l.contains("/run/credentials/")),
        "{text}"
    );
    let path = write_config(&dir, &text);
    let out = Command::new(env!("CARGO_BIN_EXE_frontdesk"))
        .args(["check-config", "--config", &path])
        .env("CREDENTIALS_DIRECTORY", &credentials)
        .env_remove("FRONTDESK__IMAP__PASSWORD")
        .output()
        .expect("run frontdesk");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("(XOAUTH2)") && stdout.contains("auth=none"),
        "{stdout}"
    );
}

#[test]
fn ops_commands_work_without_the_service_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Secrets point at files this user cannot read (as under systemd's LoadCredential=).
    let text = runnable_example(&dir).replace(
        "password = \"imap-secret-Zq81\"",
        "password_file = \"/nonexistent/imap\"",
    );
    let path = write_config(&dir, &text);
    let out = frontdesk(&["tickets", "list", "--config", &path]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 ticket(s)"));
}

/// Seeds a store the way the daemon would have left it, then closes it (the CLI needs the lock).
fn seeded(dir: &tempfile::TempDir, seed: impl FnOnce(&frontdesk::store::Store)) {
    let store = frontdesk::store::Store::open(&dir.path().join("state")).expect("open store");
    seed(&store);
    store.flush_blocking().expect("flush");
}

/// Alice's open ticket, Jason's (an agent of the shipped example).
fn ticket_for(id: u64) -> frontdesk::domain::Ticket {
    ticket(id, "alice@customer.test")
        .agent(agent("jason@example.com"))
        .build()
}

#[test]
fn quarantine_release_runs_the_mail_through_the_pipeline_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_config(&dir, &runnable_example(&dir));
    let mut seq = 0;
    seeded(&dir, |store| {
        let raw = b"From: Alice Doe <alice@customer.test>\r\nSubject: Help\r\nMessage-ID: <q1@customer.test>\r\n\r\nHello.\r\n";
        let seqs = store
            .store_fetched(
                "INBOX",
                1,
                &[frontdesk::domain::Fetched {
                    uid: 1,
                    raw: raw.to_vec(),
                }],
                0,
            )
            .expect("store");
        seq = seqs[0];
        // Quarantined earlier, e.g. under a smaller size limit since raised.
        store
            .record_outcome(
                seq,
                None,
                false,
                &frontdesk::domain::Plan::Quarantine("too big then".into()),
                0,
            )
            .expect("record");
    });
    let listed = frontdesk(&["quarantine", "list", "--json", "--config", &path]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("too big then"));
    let out = frontdesk(&["quarantine", "release", &seq.to_string(), "--config", &path]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("new-ticket #1001"), "{stdout}");
    let listed = frontdesk(&["quarantine", "list", "--json", "--config", &path]);
    assert_eq!(String::from_utf8_lossy(&listed.stdout).trim(), "[]");
    let again = frontdesk(&["quarantine", "release", &seq.to_string(), "--config", &path]);
    assert!(
        !again.status.success(),
        "a mail that is not quarantined cannot be released"
    );
}

#[test]
fn outbox_retry_queues_dead_letters_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_config(&dir, &runnable_example(&dir));
    seeded(&dir, |store| {
        let seqs = store
            .store_fetched(
                "INBOX",
                1,
                &[frontdesk::domain::Fetched {
                    uid: 1,
                    raw: b"x".to_vec(),
                }],
                0,
            )
            .expect("store");
        let mail = frontdesk::domain::OutgoingMail {
            kind: frontdesk::domain::MailKind::Acknowledgement,
            message_id: "<ack.1001.x@example.com>".into(),
            envelope_from: None,
            recipients: vec![
                frontdesk::domain::EmailAddress::parse("alice@customer.test").expect("valid"),
            ],
            inbox: frontdesk::domain::EmailAddress::parse("support@example.com").expect("valid"),
            raw: b"Subject: hi\r\n\r\nhi\r\n".to_vec(),
            splices: Vec::new(),
        };
        let plan = frontdesk::domain::Plan::NewTicket {
            ticket: ticket_for(1001),
            pool_key: "all".into(),
            not_acknowledged: None,
            outgoing: vec![mail],
        };
        store
            .record_outcome(seqs[0], None, true, &plan, 0)
            .expect("record");
        let (due, _) = store.due(i64::MAX, 10).expect("due");
        store
            .mark_dead(&due[0], "550 5.1.1 no such user", 0)
            .expect("dead");
    });
    let listed = frontdesk(&["outbox", "list", "--config", &path]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("0 queued, 1 dead"));
    let out = frontdesk(&["outbox", "retry", "--config", &path]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = frontdesk(&["outbox", "list", "--config", &path]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(text.contains("1 queued, 0 dead"), "{text}");
    assert!(text.contains("retried after: 550 5.1.1"), "{text}");
}

/// The subcommands `frontdesk --help` lists (without clap's own `help`).
fn subcommands() -> Vec<String> {
    let out = frontdesk(&["--help"]);
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    let names: Vec<String> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|n| n != "help")
        .collect();
    assert!(
        names.len() >= 8 && names.iter().any(|n| n == "quarantine"),
        "cannot read the subcommands from --help: {help}"
    );
    names
}

#[test]
fn bash_completion_completes_subcommands() {
    let out = frontdesk(&["completions", "bash"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let script = String::from_utf8(out.stdout).expect("utf-8 script");
    for name in subcommands() {
        assert!(
            script.contains(&name),
            "bash completion lacks {name}: {script}"
        );
    }
    // Load it into a real bash and ask it what `frontdesk quar<TAB>` and
    // `frontdesk tickets <TAB>` complete to, as bash-completion would.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("frontdesk.bash");
    std::fs::write(&path, &script).expect("write");
    let probe = format!(
        r#"source {path:?}
complete_line() {{
    COMP_LINE="$1"; COMP_POINT=${{#COMP_LINE}}
    read -r -a COMP_WORDS <<< "$COMP_LINE"
    [[ "$COMP_LINE" == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
    COMPREPLY=()
    _frontdesk frontdesk "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
    echo "$1 => ${{COMPREPLY[*]}}"
}}
complete_line "frontdesk quar"
complete_line "frontdesk tickets "
"#,
        path = path.display().to_string()
    );
    let out = Command::new("bash")
        .args(["--norc", "-c", &probe])
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("frontdesk quar => quarantine\n"),
        "{stdout}"
    );
    let tickets = stdout
        .lines()
        .find(|l| l.starts_with("frontdesk tickets  =>"))
        .unwrap_or_default();
    for sub in ["list", "show", "assign", "close"] {
        assert!(tickets.split_whitespace().any(|w| w == sub), "{stdout}");
    }
}

#[test]
fn completions_exist_for_every_shell_and_unknown_shells_are_refused() {
    for (shell, marker) in [
        ("bash", "complete -F _frontdesk"),
        ("zsh", "#compdef frontdesk"),
        ("fish", "complete -c frontdesk"),
        ("elvish", "edit:completion:arg-completer[frontdesk]"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = frontdesk(&["completions", shell]);
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{shell}");
        assert!(
            script.contains(marker),
            "{shell}: no {marker:?} in {script}"
        );
        assert!(script.contains("quarantine"), "{shell}: {script}");
    }
    let out = frontdesk(&["completions", "tcsh"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("possible values"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn man_page_is_roff_and_names_every_command() {
    let out = frontdesk(&["man"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = String::from_utf8(out.stdout).expect("utf-8 roff");
    assert!(page.contains("\n.TH FRONTDESK 1 "), "{page}");
    for section in [
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH OPTIONS",
        ".SH COMMANDS",
        ".SH FILES",
        ".SH \"EXIT STATUS\"",
    ] {
        assert!(page.contains(section), "no {section}: {page}");
    }
    let exit_status = page
        .split(".SH \"EXIT STATUS\"")
        .nth(1)
        .and_then(|s| s.split("\n.SH ").next())
        .unwrap_or_default();
    for status in ["\\fB0\\fR", "\\fB1\\fR", "\\fB2\\fR", "\\fB78\\fR"] {
        assert!(exit_status.contains(status), "no {status}: {exit_status}");
    }
    assert!(
        exit_status.contains("RestartPreventExitStatus=78"),
        "{exit_status}"
    );
    let commands: String = page
        .split(".SH COMMANDS")
        .nth(1)
        .and_then(|s| s.split("\n.SH ").next())
        .unwrap_or_default()
        .replace("\\-", "-");
    for name in subcommands() {
        assert!(
            commands.contains(&format!("\\fBfrontdesk {name}")),
            "COMMANDS lacks {name}: {commands}"
        );
    }
    // Nested commands appear as whole command lines with their arguments.
    for line in [
        "frontdesk tickets show\\fR NUMBER [--json]",
        "frontdesk quarantine release\\fR ID",
        "frontdesk outbox retry\\fR [ID]",
        "frontdesk agents away\\fR AGENT",
        "frontdesk replies list\\fR [--json]",
    ] {
        assert!(commands.contains(line), "no {line:?} in {commands}");
    }
    // No links to per-subcommand pages that are not shipped.
    assert!(!page.contains("frontdesk\\-tickets(1)"), "{page}");
    assert!(page.contains("/etc/frontdesk/frontdesk.toml"), "{page}");
}

/// `config show` as TOML or JSON (the output parsed back).
fn config_show(path: &str, extra: &[&str], env: &[(&str, &str)]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_frontdesk"))
        .args(["config", "show", "--json", "--config", path])
        .args(extra)
        .envs(env.iter().copied())
        .output()
        .expect("run frontdesk");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("config show --json prints JSON")
}

#[test]
fn config_show_prints_the_effective_configuration_without_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_config(&dir, &runnable_example(&dir));
    let env = [("FRONTDESK__IMAP__PORT", "1993")];
    let full = config_show(&path, &[], &env);
    // Defaults filled in: the example does not set these.
    assert_eq!(full["acknowledgement"]["quote_lines"], 6, "{full:#}");
    assert_eq!(full["backup"]["keep"], 7, "{full:#}");
    // The environment override, in its type.
    assert_eq!(full["imap"]["port"], 1993);
    // Secrets redacted, wherever they came from.
    assert_eq!(full["imap"]["password"], "[redacted]");
    let text = full.to_string();
    assert!(!text.contains("imap-secret-Zq81") && !text.contains("smtp-secret-Zq82"));

    let changed = config_show(&path, &["--changed"], &env);
    assert_eq!(changed["imap"]["port"], 1993, "{changed:#}");
    assert_eq!(changed["imap"]["host"], "imap.example.com", "{changed:#}");
    // Written, but the default anyway (tls = "implicit"), or not written at all: left out.
    assert!(changed["imap"].get("tls").is_none(), "{changed:#}");
    assert!(changed.get("backup").is_none(), "{changed:#}");
    assert!(changed.get("acknowledgement").is_none(), "{changed:#}");

    // The TOML form reads back as the same configuration.
    let out = frontdesk(&["config", "show", "--config", &path]);
    let toml_text = String::from_utf8_lossy(&out.stdout);
    assert!(toml_text.contains("[imap]"), "{toml_text}");
    assert!(
        toml_text.contains("password = \"[redacted]\""),
        "{toml_text}"
    );
    assert!(!toml_text.contains("imap-secret-Zq81"), "{toml_text}");
}

#[test]
fn config_show_refuses_a_broken_file_with_every_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = runnable_example(&dir)
        .replace("tls = \"implicit\"", "tls = \"maybe\"")
        .replace("mailbox = \"INBOX\"", "mailbxo = \"INBOX\"");
    let path = write_config(&dir, &text);
    let out = frontdesk(&["config", "show", "--config", &path]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(EX_CONFIG), "{stderr}");
    assert!(
        stderr.contains("imap.tls") && stderr.contains("imap.mailbxo"),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `mailbox`?"), "{stderr}");
}

/// Every (section header, key) of a configuration tree as `config show --json` prints it:
/// `[imap]`/`port`, `[[agents]]`/`email`, `[inboxes.imap]`/`host`.
fn keys_of(v: &serde_json::Value, path: &[String], array: bool, out: &mut Vec<(String, String)>) {
    let Some(map) = v.as_object() else { return };
    for (k, v) in map {
        let mut inner = path.to_vec();
        inner.push(k.clone());
        match v {
            serde_json::Value::Object(_) => keys_of(v, &inner, false, out),
            serde_json::Value::Array(items) if items.iter().any(|i| i.is_object()) => {
                for item in items {
                    keys_of(item, &inner, true, out);
                }
            }
            _ => {
                let name = path.join(".");
                let header = if array {
                    format!("[[{name}]]")
                } else {
                    format!("[{name}]")
                };
                out.push((header, k.clone()));
            }
        }
    }
}

/// frontdesk.toml(5) documents every key the daemon reads (a key added to the configuration
/// without a line in config/frontdesk.example.toml fails here).
#[test]
fn the_configuration_page_documents_every_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = runnable_example(&dir);
    // The sections the example leaves commented out, so that their keys are read too.
    text.push_str(
        "\n[alerts]\nto = \"ops@example.com\"\n\n[[inboxes]]\nname = \"billing\"\naddress = \"billing@example.com\"\n[inboxes.imap]\nhost = \"imap.example.com\"\npassword = \"x\"\n[inboxes.smtp]\npassword = \"y\"\n\n[[closures]]\nname = \"Christmas\"\nfrom = \"2026-12-24\"\nto = \"2026-12-26\"\nteam = \"billing\"\n",
    );
    let path = write_config(&dir, &text);
    let tree = config_show(&path, &[], &[]);
    let mut keys = Vec::new();
    keys_of(&tree, &[], false, &mut keys);
    assert!(keys.len() > 60, "{keys:?}");

    let out = frontdesk(&["man", "frontdesk.toml"]);
    assert!(out.status.success());
    let page = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(page.starts_with(".TH FRONTDESK.TOML 5") || page.contains("\n.TH FRONTDESK.TOML 5"));
    let section = |header: &str| -> String {
        page.split("\n.SH ")
            .find(|s| s.starts_with(&format!("{header}\n")))
            .unwrap_or_default()
            .to_string()
    };
    let mut missing = Vec::new();
    for (header, key) in &keys {
        // `[inboxes.imap]` and `[inboxes.smtp]` take the same keys as `[imap]` and `[smtp]`,
        // and their page says so.
        let header = match header.as_str() {
            "[inboxes.imap]" => "[imap]",
            "[inboxes.smtp]" => "[smtp]",
            other => other,
        };
        if !section(header).contains(&format!("\\fB{key}\\fR")) {
            missing.push(format!("{header} {key}"));
        }
    }
    assert!(missing.is_empty(), "not on frontdesk.toml(5): {missing:?}");
    assert!(section("[[inboxes]]").contains("Same keys as [imap]"));
    assert!(section("[inboxes.smtp]").contains("Same keys as [smtp]"));
}
