//! Logging to the journal as a systemd service does (issue 13): under a journal stream the
//! daemon sends every line natively to journald with its priority and our fields, so that
//! `journalctl -p warning` finds a refused login and `EVENT=`/`INBOX=` select lines.
//!
//! The journal is a real `systemd-journald`, started for this test alone inside a private
//! mount namespace (`unshare -m`, tmpfs over `/run/systemd` and `/run/log`), so the machine's
//! own journal (if any) is never touched. The daemon's stderr is the journal's stream socket
//! (through `systemd-cat`), with `JOURNAL_STREAM` naming it as systemd sets it for a unit.

use std::process::Command;

use crate::common::*;

/// The script run inside the namespace: `$1` the binary, `$2` its configuration, `$3` where
/// to leave `journalctl`'s JSON (all lines, and `-p warning` only).
const SCRIPT: &str = r#"
set -eu
bin=$1 config=$2 out=$3
mkdir -p /run/systemd /run/log
mount -t tmpfs tmpfs /run/systemd
mount -t tmpfs tmpfs /run/log
/lib/systemd/systemd-journald &
journald=$!
i=0
while [ ! -S /run/systemd/journal/socket ] || [ ! -S /run/systemd/journal/stdout ]; do
    i=$((i + 1)); [ $i -lt 100 ] || { echo "journald did not start" >&2; exit 1; }
    sleep 0.1
done
# As systemd does for a unit with StandardError=journal: stderr is a stream into the
# journal, and JOURNAL_STREAM names that socket's device and inode.
systemd-cat -t frontdesk-stderr sh -c \
    'JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec "$0" run --config "$1"' \
    "$bin" "$config" &
daemon=$!
i=0
until journalctl -D /run/log/journal -p warning SYSLOG_IDENTIFIER=frontdesk -o cat --no-pager \
        | grep -q .; do
    i=$((i + 1)); [ $i -lt 300 ] || break
    sleep 0.1
done
kill -TERM $daemon 2>/dev/null || true
wait $daemon || true
journalctl -D /run/log/journal --no-pager -o json SYSLOG_IDENTIFIER=frontdesk > "$out/all.json"
journalctl -D /run/log/journal --no-pager -o json -p warning SYSLOG_IDENTIFIER=frontdesk \
    > "$out/warning.json"
journalctl -D /run/log/journal --no-pager -o json SYSLOG_IDENTIFIER=frontdesk-stderr \
    > "$out/stderr.json"
kill $journald
wait $journald || true
"#;

/// The journal entries in `file` (one JSON object per line), as `journalctl -o json` wrote them.
fn entries(file: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("journalctl JSON"))
        .collect()
}

fn field<'a>(entry: &'a serde_json::Value, name: &str) -> &'a str {
    entry[name].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack and root (a private journald): run scripts/test"]
async fn a_refused_login_is_a_warning_in_the_journal_with_its_fields() {
    let stack = Stack::get();
    let d = Daemon::configure(&stack, Options::default());
    let wrong = d.dir.path().join("wrong.pw");
    std::fs::write(&wrong, "not-the-password\n").expect("password file");
    let config = std::fs::read_to_string(&d.config).expect("config");
    let imap_section = config.find("[imap]").expect("[imap]");
    let smtp_section = config.find("[smtp]").expect("[smtp]");
    let imap = config[imap_section..smtp_section].replacen(
        "password_file = ",
        &format!("password_file = \"{}\"\n# was: ", wrong.display()),
        1,
    );
    let config = format!(
        "{}{imap}{}",
        &config[..imap_section],
        &config[smtp_section..]
    );
    std::fs::write(&d.config, config).expect("config");

    let out = d.dir.path().join("journal");
    std::fs::create_dir_all(&out).expect("out dir");
    let run = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            SCRIPT,
            "sh",
        ])
        .arg(env!("CARGO_BIN_EXE_frontdesk"))
        .arg(&d.config)
        .arg(&out)
        .env("RUST_LOG", "info")
        .output()
        .expect("run unshare (util-linux)");
    assert!(
        run.status.success(),
        "the journal script failed: {}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );

    let all = entries(&out.join("all.json"));
    let warnings = entries(&out.join("warning.json"));
    // `journalctl -p warning` finds the refused login, as a warning, with our fields.
    let refused = warnings
        .iter()
        .find(|e| field(e, "EVENT") == "imap.disconnected")
        .unwrap_or_else(|| panic!("no refused login at -p warning: {warnings:#?}"));
    assert_eq!(field(refused, "PRIORITY"), "4", "{refused:#}");
    assert!(field(refused, "ERROR").contains("refused"), "{refused:#}");
    let inbox = d.support.split('@').next().unwrap_or_default();
    assert_eq!(field(refused, "INBOX"), inbox, "{refused:#}");
    assert!(!field(refused, "MESSAGE").is_empty(), "{refused:#}");
    // Routine lines are in the journal as informational, and not at -p warning.
    assert!(
        all.iter().any(|e| field(e, "PRIORITY") == "6"),
        "no informational line: {all:#?}"
    );
    assert!(
        warnings
            .iter()
            .all(|e| field(e, "PRIORITY").parse::<u8>().is_ok_and(|p| p <= 4)),
        "{warnings:#?}"
    );
    // Natively, not also as plain lines through the stream (which would all be "info").
    let stderr = entries(&out.join("stderr.json"));
    assert!(
        stderr.iter().all(|e| field(e, "MESSAGE").is_empty()),
        "lines also went to the stream: {stderr:#?}"
    );
    // The password never reaches the journal.
    let text = std::fs::read_to_string(out.join("all.json")).expect("journal");
    assert!(!text.contains(&stack.password) && !text.contains("not-the-password"));
}
