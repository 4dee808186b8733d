//! Stage zero: every mistake in the file's shape at once. serde stops at the first unknown
//! key, wrong type or bad enum value, so a file with four mistakes took four runs. Here the
//! file (with its environment overrides) is read as a JSON tree and deserialized again and
//! again; each error is turned into a [`Problem`] in the validator's `key: problem / fix:`
//! form (unknown keys with the nearest known one, enum values with the allowed ones, numbers
//! with their range) and repaired in the tree (the key removed, or a stand-in of the right
//! kind put in), until the tree deserializes. The repaired configuration then goes through
//! the usual checks, so their problems are listed in the same run.

use std::collections::HashSet;

use serde_json::{Map, Value};
use serde_path_to_error::Segment;

use super::error::Problem;
use super::raw::RawConfig;

/// More rounds than any real file has mistakes; a bound so that a repair that does not take
/// can never loop.
const MAX_ROUNDS: usize = 200;

/// What [`check`] found.
pub(super) struct Shape {
    /// The configuration, stand-ins in place of its mistakes; `None` when a mistake could not
    /// be mended (the problems found so far are still listed).
    pub(super) raw: Option<RawConfig>,
    /// Every mistake in the file's shape.
    pub(super) problems: Vec<Problem>,
    /// The keys those problems cover (with the key a misspelt one was meant to be): what
    /// the checks after this say about them is no news.
    pub(super) covered: HashSet<String>,
}

impl Shape {
    /// Whether a later check's problem at `key` is about a key already reported here.
    pub(super) fn covers(&self, key: &str) -> bool {
        self.covered.iter().any(|c| key == c || is_under(key, c))
    }
}

/// The configuration in `tree`, and every problem of its shape.
pub(super) fn check(tree: Value) -> Shape {
    let mut reported: HashSet<String> = HashSet::new();
    // `parent.address` for an unknown `parent.adress`: its absence is the same mistake.
    let mut suggested: HashSet<String> = HashSet::new();
    let (raw, problems) = repair_all(tree, &mut reported, &mut suggested);
    reported.extend(suggested);
    Shape {
        raw,
        problems,
        covered: reported,
    }
}

fn repair_all(
    mut tree: Value,
    reported: &mut HashSet<String>,
    suggested: &mut HashSet<String>,
) -> (Option<RawConfig>, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut seen: HashSet<(String, String)> = HashSet::new();
    for _ in 0..MAX_ROUNDS {
        let err = match serde_path_to_error::deserialize::<_, RawConfig>(&tree) {
            Ok(raw) => return (Some(raw), problems),
            Err(e) => e,
        };
        let mut path: Vec<Step> = err.path().iter().filter_map(Step::from_segment).collect();
        let message = err.inner().to_string();
        let kind = Kind::of(&message);
        if let Kind::Unknown { key, .. } = &kind
            && path.last() != Some(&Step::Key(key.clone()))
        {
            path.push(Step::Key(key.clone()));
        }
        if let Kind::Missing(field) = &kind {
            path.push(Step::Key(field.clone()));
        }
        let key = dotted(&path);
        if !seen.insert((key.clone(), message.clone())) {
            return (None, unrepaired(problems, &key, &kind));
        }
        let repair = kind.repair();
        if let Kind::Unknown {
            key: unknown,
            known,
        } = &kind
            && let Some(near) = nearest(unknown, known)
        {
            path.pop();
            path.push(Step::Key(near));
            suggested.insert(dotted(&path));
            path.pop();
            path.push(Step::Key(unknown.clone()));
        }
        let silent = matches!(repair, Repair::Coerce(_))
            || suggested.contains(&key)
            || reported.iter().any(|r| key == *r || is_under(&key, r));
        if !silent {
            let (what, fix) = kind.explain(&key);
            problems.push(Problem {
                key: key.clone(),
                message: what,
                fix,
            });
            reported.insert(key.clone());
        }
        if !apply(&mut tree, &path, repair) {
            return (None, unrepaired(problems, &key, &kind));
        }
    }
    (None, problems)
}

/// The problems when a repair did not take: at least the one at `key`.
fn unrepaired(mut problems: Vec<Problem>, key: &str, kind: &Kind) -> Vec<Problem> {
    if !problems.iter().any(|p| p.key == key) {
        let (message, fix) = kind.explain(key);
        problems.push(Problem {
            key: key.to_string(),
            message,
            fix,
        });
    }
    problems
}

/// Whether `key` lies inside the table or list `parent` (`imap.tls` in `imap`).
pub(super) fn is_under(key: &str, parent: &str) -> bool {
    key.strip_prefix(parent)
        .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

/// One step of a key's path in the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    /// A table's key.
    Key(String),
    /// A list's element.
    Index(usize),
}

/// The value at `path` in `tree`.
pub(super) fn node<'a>(tree: &'a Value, path: &[Step]) -> Option<&'a Value> {
    path.iter().try_fold(tree, |node, step| match step {
        Step::Key(k) => node.get(k),
        Step::Index(i) => node.get(i),
    })
}

/// The value at `path` in `tree`, to change.
pub(super) fn node_mut<'a>(tree: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    path.iter().try_fold(tree, |node, step| match step {
        Step::Key(k) => node.get_mut(k.as_str()),
        Step::Index(i) => node.get_mut(*i),
    })
}

impl Step {
    fn from_segment(s: &Segment) -> Option<Step> {
        match s {
            Segment::Map { key } => Some(Step::Key(key.clone())),
            Segment::Seq { index } => Some(Step::Index(*index)),
            Segment::Enum { .. } | Segment::Unknown => None,
        }
    }
}

/// The key as the validator writes it: `agents[0].email`.
fn dotted(path: &[Step]) -> String {
    let mut s = String::new();
    for step in path {
        match step {
            Step::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Step::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// What serde said, read back into its kind (serde's messages are stable: they are built by
/// `serde::de::Error`'s provided constructors).
#[derive(Debug)]
enum Kind {
    /// `unknown field `adress`, expected one of `name`, `address`…`
    Unknown { key: String, known: Vec<String> },
    /// `unknown variant `maybe`, expected one of `none`, `starttls`, `implicit``
    Variant { value: String, allowed: Vec<String> },
    /// `invalid value: integer `99999`, expected u16`
    Range { value: String, expected: String },
    /// `invalid type: string "x", expected u16`
    Type { found: String, expected: String },
    /// `missing field `address``
    Missing(String),
    /// Anything else, as serde said it.
    Other(String),
}

impl Kind {
    fn of(message: &str) -> Kind {
        if let Some(rest) = message.strip_prefix("unknown field ") {
            let (key, expected) = split_expected(rest);
            return Kind::Unknown {
                key,
                known: backticked(&expected),
            };
        }
        if let Some(rest) = message.strip_prefix("unknown variant ") {
            let (value, expected) = split_expected(rest);
            return Kind::Variant {
                value,
                allowed: backticked(&expected),
            };
        }
        if let Some(rest) = message.strip_prefix("invalid value: ") {
            let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
            let value = found
                .rsplit_once(' ')
                .map_or(found, |(_, v)| v)
                .trim_matches('`');
            return Kind::Range {
                value: value.to_string(),
                expected: expected.to_string(),
            };
        }
        if let Some(rest) = message.strip_prefix("invalid type: ") {
            let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
            return Kind::Type {
                found: found.to_string(),
                expected: expected.to_string(),
            };
        }
        if let Some(rest) = message.strip_prefix("missing field ") {
            return Kind::Missing(rest.trim_matches('`').to_string());
        }
        Kind::Other(message.to_string())
    }

    /// How the tree is mended so the next round gets past this key.
    fn repair(&self) -> Repair {
        match self {
            Kind::Unknown { .. } | Kind::Other(_) => Repair::Remove,
            Kind::Variant { allowed, .. } => allowed
                .first()
                .map_or(Repair::Remove, |v| Repair::Put(Value::String(v.clone()))),
            Kind::Range { expected, .. } => Repair::Put(stand_in(expected)),
            Kind::Type { found, expected } => match coerce(found, expected) {
                Some(v) => Repair::Coerce(v),
                // `teams = "billing"` for `["billing"]`: reported, and read as meant, so
                // that the checks after it do not add that team has no agent.
                None => match (text_of(found), expected.as_str()) {
                    (Some(text), "a sequence") => {
                        Repair::Put(Value::Array(vec![Value::String(text.to_string())]))
                    }
                    _ => Repair::Put(stand_in(expected)),
                },
            },
            Kind::Missing(_) => Repair::Put(Value::String(String::new())),
        }
    }

    /// The problem and its fix, for `key`.
    fn explain(&self, key: &str) -> (String, String) {
        let (parent, leaf) = key.rsplit_once('.').unwrap_or(("", key));
        let section = if parent.is_empty() {
            "the top level".to_string()
        } else {
            format!("[{parent}]")
        };
        match self {
            Kind::Unknown {
                key: unknown,
                known,
            } => {
                let fix = match nearest(unknown, known) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None if known.is_empty() => "remove it".to_string(),
                    None => format!("remove it; {section} knows {}", known.join(", ")),
                };
                (format!("unknown key `{unknown}` in {section}"), fix)
            }
            Kind::Variant { value, allowed } => (
                format!("{value:?} is not one of the allowed values"),
                format!(
                    "use one of {}",
                    allowed
                        .iter()
                        .map(|a| format!("{a:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            Kind::Range { value, expected } => match range(expected) {
                Some((lo, hi)) => (
                    format!("{value} is out of range"),
                    format!("use a whole number from {lo} to {hi}"),
                ),
                None => (
                    format!("{value} is not a valid value here (expected {expected})"),
                    format!("use {}", human(expected)),
                ),
            },
            Kind::Type { found, expected } => (
                format!("expected {}, found {found}", human(expected)),
                format!("write {leaf} as {}", human(expected)),
            ),
            Kind::Missing(field) => (
                "is missing".to_string(),
                if parent.is_empty() {
                    format!("add a [{field}] section")
                } else {
                    format!("add `{field} = …` to {section}")
                },
            ),
            Kind::Other(message) => (
                message.clone(),
                "see config/frontdesk.example.toml for this key's form".to_string(),
            ),
        }
    }
}

/// `` `adress`, expected one of `name`, `address` `` → (`adress`, "one of `name`, `address`").
fn split_expected(rest: &str) -> (String, String) {
    let (head, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
    (head.trim_matches('`').to_string(), expected.to_string())
}

/// The backticked words of serde's "expected" list (`there are no fields` gives none).
fn backticked(s: &str) -> Vec<String> {
    s.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The known key nearest to `unknown`, when it is near enough to be a typo.
fn nearest(unknown: &str, known: &[String]) -> Option<String> {
    known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(unknown, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4) && *d < k.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.clone())
}

/// The range of serde's integer type names.
fn range(expected: &str) -> Option<(i128, i128)> {
    let bits = |s: &str| s.parse::<u32>().ok().filter(|b| *b <= 64);
    if expected == "usize" {
        return Some((0, u64::MAX.into()));
    }
    if let Some(b) = expected.strip_prefix('u').and_then(bits) {
        return Some((0, (1i128 << b) - 1));
    }
    if let Some(b) = expected.strip_prefix('i').and_then(bits) {
        return Some((-(1i128 << (b - 1)), (1i128 << (b - 1)) - 1));
    }
    None
}

/// serde's name for what it expected, in an operator's words.
fn human(expected: &str) -> String {
    if range(expected).is_some() {
        return "a whole number".into();
    }
    match expected {
        "a boolean" => "true or false".into(),
        "a string" => "text in quotes".into(),
        "a sequence" => "a list, e.g. [\"a\", \"b\"]".into(),
        e if e.starts_with("struct ") || e == "a map" => "a table (a [section])".into(),
        e if e.starts_with("f32") || e.starts_with("f64") => "a number".into(),
        e => e.to_string(),
    }
}

/// A value that deserializes as `expected`, standing in for a reported mistake.
fn stand_in(expected: &str) -> Value {
    if range(expected).is_some() {
        return Value::from(1);
    }
    match expected {
        "a boolean" => Value::Bool(false),
        "a sequence" => Value::Array(Vec::new()),
        e if e.starts_with("struct ") || e == "a map" => Value::Object(Map::new()),
        e if e.starts_with("f32") || e.starts_with("f64") => Value::from(1.0),
        _ => Value::String(String::new()),
    }
}

/// What the `config` crate has always accepted, and so is no mistake: a number or boolean
/// written as text (every environment override is text), or a number where text is expected.
fn coerce(found: &str, expected: &str) -> Option<Value> {
    if let Some(text) = text_of(found) {
        if range(expected).is_some() {
            return text
                .parse::<i64>()
                .map(Value::from)
                .or_else(|_| text.parse::<u64>().map(Value::from))
                .ok();
        }
        if expected == "a boolean" {
            return text.parse::<bool>().ok().map(Value::Bool);
        }
        if expected.starts_with("f64") || expected.starts_with("f32") {
            return text.parse::<f64>().ok().map(Value::from);
        }
        return None;
    }
    let number = found
        .strip_prefix("integer `")
        .or_else(|| found.strip_prefix("floating point `"))?;
    (expected == "a string").then(|| Value::String(number.trim_end_matches('`').to_string()))
}

/// The text of serde's `string "…"` (escapes left as serde wrote them).
fn text_of(found: &str) -> Option<&str> {
    found
        .strip_prefix("string \"")
        .and_then(|s| s.strip_suffix('"'))
}

/// How one key of the tree is mended.
#[derive(Debug)]
enum Repair {
    /// Taken out (an unknown key).
    Remove,
    /// Replaced by, or added as, this stand-in (a reported mistake).
    Put(Value),
    /// Replaced by the same value in the type asked for (no mistake).
    Coerce(Value),
}

/// Mends `tree` at `path`; false when the path does not lead anywhere (no progress possible).
fn apply(tree: &mut Value, path: &[Step], repair: Repair) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let Some(node) = node_mut(tree, parents) else {
        return false;
    };
    match (last, node, repair) {
        (Step::Key(k), Value::Object(m), Repair::Remove) => m.remove(k).is_some(),
        (Step::Key(k), Value::Object(m), Repair::Put(v) | Repair::Coerce(v)) => {
            m.insert(k.clone(), v);
            true
        }
        (Step::Index(i), Value::Array(a), Repair::Remove) if *i < a.len() => {
            a.remove(*i);
            true
        }
        (Step::Index(i), Value::Array(a), Repair::Put(v) | Repair::Coerce(v)) if *i < a.len() => {
            a[*i] = v;
            true
        }
        _ => false,
    }
}
