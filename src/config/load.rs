//! The entry points: read the file with its `FRONTDESK__SECTION__KEY` environment overrides
//! (`FRONTDESK__IMAP__PASSWORD` sets `imap.password`), then validate it. Secrets are read
//! during validation, relative to `$CREDENTIALS_DIRECTORY` when systemd sets it.

use std::path::{Path, PathBuf};

use super::error::Problem;
use super::raw::default_state_dir;
use super::secrets::credentials_dir;
use super::shape;
use super::{Config, ConfigError, DEFAULT_CONFIG_PATH};

impl Config {
    /// Reads `path` plus `FRONTDESK__SECTION__KEY` environment overrides and validates it.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Self::load_with_env(path, std::env::vars())
    }

    /// Everything but the secrets (they stay empty): for ops commands that need the agent
    /// table but run where the service's credentials are not readable.
    pub fn load_without_secrets(path: &Path) -> Result<Config, ConfigError> {
        Self::load_inner(path, std::env::vars(), false)
    }

    /// [`Config::load`] with an explicit environment, so tests need not touch the process's.
    pub fn load_with_env(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        Self::load_inner(path, env, true)
    }

    fn load_inner(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
        secrets: bool,
    ) -> Result<Config, ConfigError> {
        let mut shape = shape::check(read_tree(path, env)?);
        let Some(raw) = shape.raw.take() else {
            return Err(invalid(path, shape.problems));
        };
        match raw.validate(path, credentials_dir(), secrets) {
            Ok(config) if shape.problems.is_empty() => Ok(config),
            Ok(_) => Err(invalid(path, shape.problems)),
            // A key whose shape was wrong was given a stand-in; what the checks say about the
            // stand-in is no news.
            Err(ConfigError::Invalid { problems, .. }) => {
                let more = problems.into_iter().filter(|p| !shape.covers(&p.key));
                let all = shape.problems.iter().cloned().chain(more).collect();
                Err(invalid(path, all))
            }
            Err(e) => Err(e),
        }
    }

    /// Only `service.state_dir` (file plus environment), for the ops commands: they read the
    /// store and must work without the service's secrets.
    pub fn state_dir(path: &Path) -> Result<PathBuf, ConfigError> {
        let c = read(path, std::env::vars(), "pass --config FILE")?;
        match c.get_string("service.state_dir") {
            Ok(dir) => Ok(PathBuf::from(dir)),
            Err(::config::ConfigError::NotFound(_)) => Ok(default_state_dir()),
            Err(e) => Err(load_error(path, e.to_string())),
        }
    }
}

/// The file at `path` with the `FRONTDESK__…` variables of `env` laid over it, as a tree of
/// the values as written (environment values are text).
pub(super) fn read_tree(
    path: &Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<serde_json::Value, ConfigError> {
    read(
        path,
        env,
        "create it from config/frontdesk.example.toml or pass --config FILE",
    )?
    .try_deserialize()
    .map_err(|e| load_error(path, e.to_string()))
}

/// The file at `path` with the `FRONTDESK__…` variables of `env` laid over it, not yet
/// deserialized. A missing file is an error whose fix is `missing_fix`.
fn read(
    path: &Path,
    env: impl IntoIterator<Item = (String, String)>,
    missing_fix: &str,
) -> Result<::config::Config, ConfigError> {
    if !path.exists() {
        return Err(load_error(
            path,
            format!("file not found; fix: {missing_fix} (default {DEFAULT_CONFIG_PATH})"),
        ));
    }
    let overrides: ::config::Map<String, String> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with("FRONTDESK__"))
        .collect();
    ::config::Config::builder()
        .add_source(::config::File::from(path).format(::config::FileFormat::Toml))
        .add_source(
            ::config::Environment::with_prefix("FRONTDESK")
                .prefix_separator("__")
                .separator("__")
                .source(Some(overrides)),
        )
        .build()
        .map_err(|e| load_error(path, e.to_string()))
}

/// The error listing `problems`.
pub(super) fn invalid(path: &Path, problems: Vec<Problem>) -> ConfigError {
    ConfigError::Invalid {
        file: path.to_path_buf(),
        problems,
    }
}

fn load_error(path: &Path, message: String) -> ConfigError {
    ConfigError::Load {
        file: path.to_path_buf(),
        message,
    }
}
