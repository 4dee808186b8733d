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
/// `credentials_dir`. The error says which file could not be read and why.
pub(super) fn read_secret_file(
    path: &Path,
    credentials_dir: Option<&Path>,
) -> Result<String, String> {
    let resolved = match credentials_dir {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path.to_path_buf(),
    };
    std::fs::read_to_string(&resolved)
        .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
        .map_err(|e| format!("cannot read {}: {e}", resolved.display()))
}
