//! The shipped unit, checked offline by systemd's own tools (no running systemd needed):
//! `systemd-analyze verify` accepts it and `security --offline` rates it 2.0 or better.
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
