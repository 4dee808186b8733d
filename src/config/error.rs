//! What goes wrong when a configuration is loaded: the file cannot be read or parsed, or
//! its values have problems, each with its key and a fix, all reported at once.

use std::path::{Path, PathBuf};

/// One thing wrong in a configuration: the key, what is wrong, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path, e.g. `imap.tls`.
    pub key: String,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub fix: String,
}

/// A configuration that could not be loaded or validated.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or parsed (syntax, types, unknown keys).
    #[error("configuration {file}: {message}")]
    Load {
        /// The configuration file.
        file: PathBuf,
        /// The parser's message, which names the key.
        message: String,
    },
    /// The file parsed but its values are not usable.
    #[error("{}", format_problems(file, problems))]
    Invalid {
        /// The configuration file.
        file: PathBuf,
        /// Every problem found.
        problems: Vec<Problem>,
    },
}

/// The text of [`ConfigError::Invalid`]: a count, then every problem with its fix.
fn format_problems(file: &Path, problems: &[Problem]) -> String {
    let mut s = format!(
        "configuration {} has {} problem{}:",
        file.display(),
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        s.push_str(&format!(
            "\n  {}: {}\n      fix: {}",
            p.key, p.message, p.fix
        ));
    }
    s
}

/// Why [`Config::find_agent`](super::Config::find_agent) found nobody; the texts are what an
/// agent (`#assign`) or an operator (`tickets assign`) reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentLookupError {
    /// Nothing was given.
    #[error("name an agent, e.g. #assign Maria Lopez")]
    Unnamed,
    /// No agent has that address, name or first name.
    #[error("no agent is called {0:?}")]
    Unknown(String),
    /// More than one agent has that first name.
    #[error("{0:?} matches several agents; use the full name or the address")]
    Ambiguous(String),
}
