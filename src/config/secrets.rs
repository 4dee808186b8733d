//! Secrets: the type that keeps them out of logs, and reading them from files, where a
//! relative name is looked up in systemd's `$CREDENTIALS_DIRECTORY` (`LoadCredential=`).

use std::fmt;
use std::path::{Path, PathBuf};

/// A secret (password) that never shows up in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret so that it stays out of logs.
    pub fn new(secret: String) -> Secret {
        Secret(secret)
    }

    /// The secret itself, for the one place that needs it: the login.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// The directory systemd put the service's credentials in, if it did.
pub(super) fn credentials_dir() -> Option<PathBuf> {
    std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from)
}

/// The file's text without trailing line breaks; a relative `path` is looked up in
/// `credentials_dir`. A file that is missing where a file of the same name with the
/// `frontdesk_` prefix exists (the name the unit's credential directory gives it, since
/// earlier versions loaded `token.key`, `imap` and `smtp` one by one) is read from there,
/// with a warning to update the path, so an upgrade does not stop the daemon. The error says
/// which file could not be read and why.
pub(super) fn read_secret_file(
    path: &Path,
    credentials_dir: Option<&Path>,
) -> Result<String, String> {
    let resolved = match credentials_dir {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path.to_path_buf(),
    };
    let renamed = resolved
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.starts_with(CREDENTIAL_PREFIX))
        .map(|n| resolved.with_file_name(format!("{CREDENTIAL_PREFIX}{n}")))
        .filter(|r| !resolved.exists() && r.is_file());
    let read = renamed.as_deref().unwrap_or(&resolved);
    if let Some(r) = &renamed {
        tracing::warn!(
            event = "config.credential-renamed",
            configured = %resolved.display(),
            read = %r.display(),
            "a secret file was read under its new name: change the path in the configuration"
        );
    }
    std::fs::read_to_string(read)
        .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
        .map_err(|e| format!("cannot read {}: {e}", resolved.display()))
}

/// The prefix systemd gives every file of the unit's credential directory
/// (`LoadCredential=frontdesk:/etc/frontdesk/credentials`).
const CREDENTIAL_PREFIX: &str = "frontdesk_";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_configurations_credential_path_still_reads_the_renamed_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("frontdesk_imap"), "s3cret\n").expect("write");
        // The path an older configuration names: the file is there under its new name.
        let old = dir.path().join("imap");
        assert_eq!(read_secret_file(&old, None).as_deref(), Ok("s3cret"));
        assert_eq!(
            read_secret_file(Path::new("imap"), Some(dir.path())).as_deref(),
            Ok("s3cret")
        );
        // A file of the configured name wins; a missing one with no renamed twin is an error
        // naming the configured path.
        std::fs::write(&old, "older\n").expect("write");
        assert_eq!(read_secret_file(&old, None).as_deref(), Ok("older"));
        let err = read_secret_file(&dir.path().join("smtp"), None).expect_err("missing");
        assert!(
            err.contains(&dir.path().join("smtp").display().to_string()),
            "{err}"
        );
    }
}
