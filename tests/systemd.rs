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

/// The secrets come from one directory: systemd loads the files that exist, so no setup
/// (XOAUTH2 without passwords, a relay without login, more inboxes) needs a file it does not
/// use. A `LoadCredential=` naming a single file fails the start when the file is missing.
#[test]
fn no_credential_file_is_required() {
    let loads: Vec<String> = settings()
        .into_iter()
        .filter(|(k, _)| k.starts_with("LoadCredential"))
        .map(|(_, v)| v)
        .collect();
    assert_eq!(loads, ["frontdesk:/etc/frontdesk/credentials"]);
    let example = include_str!("../config/frontdesk.example.toml");
    let named: Vec<&str> = example
        .lines()
        .filter_map(|l| l.split("/run/credentials/frontdesk.service/").nth(1))
        .map(|rest| rest.split('"').next().unwrap_or_default())
        .collect();
    assert!(named.len() >= 4, "{named:?}");
    for name in named {
        assert!(
            name.starts_with("frontdesk_"),
            "{name} is not a credential the unit loads"
        );
    }
}

/// The documented OAuth2 drop-in verifies on top of the unit (`verify` reads drop-ins from a
/// `frontdesk.service.d/` beside the unit) and gives the helper its writable directory.
#[test]
#[ignore = "needs systemd-analyze: run scripts/test"]
fn the_oauth2_drop_in_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = unit_under_test(&dir);
    let dropins = dir.path().join("frontdesk.service.d");
    std::fs::create_dir(&dropins).expect("mkdir");
    let dropin = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/systemd/dropins/oauth2.conf"
    ))
    .expect("systemd/dropins/oauth2.conf");
    assert!(
        dropin.contains("\nStateDirectory=frontdesk-oauth2\n"),
        "{dropin}"
    );
    std::fs::write(dropins.join("oauth2.conf"), &dropin).expect("write");
    let verify = |unit: &std::path::Path| {
        Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(unit)
            .output()
            .expect("systemd-analyze")
    };
    let out = verify(&unit);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The drop-in is really read: a broken line in it is reported.
    std::fs::write(
        dropins.join("oauth2.conf"),
        format!("{dropin}NoSuchSetting=1\n"),
    )
    .expect("write");
    let out = verify(&unit);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("NoSuchSetting"),
        "the drop-in was not read: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
