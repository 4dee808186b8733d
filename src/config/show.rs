//! `frontdesk config show`: the configuration the daemon would run with, defaults filled in
//! and secrets redacted, like `postconf -n` / `doveconf -n`; `--changed` keeps only what
//! differs from the defaults.

use std::path::Path;

use serde_json::Value;

use super::ConfigError;
use super::load::{invalid, read_tree};
use super::raw::RawConfig;
use super::shape::{self, Step, node_mut};

/// What stands in for a secret in the output.
pub const REDACTED: &str = "[redacted]";

/// Keys whose values are secrets: a password, and a token command line (it may carry a
/// client secret). Their file paths (`password_file`) are shown.
const SECRET_KEYS: [&str; 2] = ["password", "oauth2_token_command"];

/// The effective configuration of `path` with the `FRONTDESK__…` overrides of `env`, as a
/// tree (absent optional keys are `null`); with `changed`, only the keys whose value differs
/// from what the key's default would give. Secrets are replaced by [`REDACTED`]. A file with
/// mistakes is refused with every problem, as `check-config` does.
pub fn effective(
    path: &Path,
    env: impl IntoIterator<Item = (String, String)>,
    changed: bool,
) -> Result<Value, ConfigError> {
    let written = read_tree(path, env)?;
    let shape = shape::check(written.clone());
    let raw = match shape.raw {
        Some(raw) if shape.problems.is_empty() => raw,
        _ => return Err(invalid(path, shape.problems)),
    };
    let full = serialize(&raw);
    let mut out = if changed {
        // What was written, in the types it was read as (`"993"` from the environment is 993).
        let written = prune(&full, &written);
        changes(&written, &written, &full, &mut Vec::new()).unwrap_or(Value::Null)
    } else {
        full
    };
    redact(&mut out);
    Ok(out)
}

fn serialize(raw: &RawConfig) -> Value {
    // Our own plain structs serialise to JSON without fail.
    serde_json::to_value(raw).unwrap_or(Value::Null)
}

/// The part of `node` (the written tree at `path`) whose effective value (in `full`) is not
/// what the default would be. A key's default is found by leaving the key out of `written`
/// and reading the file again; a required key (it cannot be left out) always counts.
fn changes(written: &Value, node: &Value, full: &Value, path: &mut Vec<Step>) -> Option<Value> {
    match node {
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for key in map.keys() {
                path.push(Step::Key(key.clone()));
                if let Some(v) = changes(written, &map[key], full, path) {
                    out.insert(key.clone(), v);
                }
                path.pop();
            }
            (!out.is_empty() || path.is_empty()).then_some(Value::Object(out))
        }
        Value::Array(items) if items.iter().any(Value::is_object) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                path.push(Step::Index(i));
                out.push(
                    changes(written, item, full, path).unwrap_or(Value::Object(Default::default())),
                );
                path.pop();
            }
            Some(Value::Array(out))
        }
        _ => {
            let effective = shape::node(full, path).cloned().unwrap_or(Value::Null);
            let mut without = written.clone();
            remove(&mut without, path);
            let default = serde_json::from_value::<RawConfig>(without)
                .ok()
                .and_then(|raw| shape::node(&serialize(&raw), path).cloned());
            (default.as_ref() != Some(&effective)).then_some(effective)
        }
    }
}

/// `full` cut down to the keys that `written` has.
fn prune(full: &Value, written: &Value) -> Value {
    match (full, written) {
        (Value::Object(f), Value::Object(w)) => Value::Object(
            w.keys()
                .filter_map(|k| Some((k.clone(), prune(f.get(k)?, &w[k]))))
                .collect(),
        ),
        (Value::Array(f), Value::Array(w)) if w.iter().any(Value::is_object) => {
            Value::Array(f.iter().zip(w).map(|(f, w)| prune(f, w)).collect())
        }
        _ => full.clone(),
    }
}

fn remove(tree: &mut Value, path: &[Step]) {
    let Some((Step::Key(last), parents)) = path.split_last() else {
        return;
    };
    if let Some(Value::Object(map)) = node_mut(tree, parents) {
        map.remove(last);
    }
}

/// Replaces every secret's value (at any depth) by [`REDACTED`].
fn redact(tree: &mut Value) {
    match tree {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if SECRET_KEYS.contains(&key.as_str()) && !value.is_null() {
                    *value = Value::String(REDACTED.to_string());
                } else {
                    redact(value);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// The tree as TOML, keys in alphabetical order; keys that are not set (`null`) are left
/// out, as TOML has no null.
pub fn to_toml(tree: &Value) -> String {
    fn strip(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k.clone(), strip(v)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(strip).collect()),
            other => other.clone(),
        }
    }
    toml::to_string_pretty(&strip(tree)).unwrap_or_default()
}
