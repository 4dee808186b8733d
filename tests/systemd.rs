//! The shipped unit, checked offline by systemd's own tools (no running systemd needed):
//! `systemd-analyze verify` accepts it and `security --offline` rates it 2.0 or better, and
//! a broken configuration is tried once, not restarted for ever.
//! `scripts/test` installs systemd-analyze when it is missing.

use std::process::Command;

/// The unit with its paths pointed at the binary under test (verify checks they exist).
fn unit_under_test(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/systemd/frontdesk.service"
    ))
    .expect("systemd/frontdesk.service");
    let path = dir.path().join("frontdesk.service");
    std::fs::write(
        &path,
        text.replace("/usr/bin/frontdesk", env!("CARGO_BIN_EXE_frontdesk")),
    )
    .expect("write");
    path
}

#[test]
#[ignore = "needs systemd-analyze: run scripts/test"]
fn the_unit_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(unit_under_test(&dir))
        .output()
        .expect("systemd-analyze");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore = "needs systemd-analyze: run scripts/test"]
fn the_unit_is_hardened() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--threshold=20"])
        .arg(unit_under_test(&dir))
        .output()
        .expect("systemd-analyze");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "exposure above 2.0:\n{text}");
    assert!(text.contains("OK") || text.contains("SAFE"), "{text}");
}

/// The unit's `Key=value` settings, in order (comments and section headers left out).
fn settings() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/systemd/frontdesk.service"
    ))
    .expect("systemd/frontdesk.service");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// `run` exits with 78 on a broken configuration (tests/cli.rs), and systemd does not
/// restart a main process that exits with a status listed in `RestartPreventExitStatus=`.
/// That setting is ignored for `ExecStartPre=` (systemd.service(5)), so no check may run
/// there: a failing pre-check would be restarted every `RestartSec=` for ever.
#[test]
fn a_broken_configuration_is_not_restarted() {
    let settings = settings();
    let values = |key: &str| -> Vec<&str> {
        settings
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert_eq!(values("Restart"), ["on-failure"]);
    assert!(
        values("RestartPreventExitStatus")
            .iter()
            .any(|v| v.split_whitespace().any(|s| s == "78")),
        "no RestartPreventExitStatus=78 in {settings:?}"
    );
    for key in ["ExecStartPre", "ExecStartPost"] {
        assert!(values(key).is_empty(), "{key}= would restart for ever");
    }
    assert_eq!(
        values("ExecStart"),
        ["/usr/bin/frontdesk run --config /etc/frontdesk/frontdesk.toml"]
    );
}
