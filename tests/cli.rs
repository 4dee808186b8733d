//! The command line without servers: configuration errors and `check-config`.

use std::process::Command;

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
            "password_file = \"/run/credentials/frontdesk.service/imap\"",
            "password = \"imap-secret-Zq81\"",
        )
        .replace(
            "password_file = \"/run/credentials/frontdesk.service/smtp\"",
            "password = \"smtp-secret-Zq82\"",
        )
        .replace(
            "\"/etc/frontdesk/token.key\"",
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
    assert!(
        !out.status.success(),
        "strict mode must refuse an unknown variable"
    );
    assert!(stderr.contains("ack.txt.hbs"), "{stderr}");
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
