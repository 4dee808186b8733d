//! Language sets: the customer-facing templates ([`LOCALIZED`]: acknowledgement, handover,
//! closing mail, reminder) in other languages than
//! English. English is the templates at the top of the templates directory (and the
//! fallback); `de/`, `fr/` and `es/` are built in, and a `templates_dir/<lang>/` directory
//! replaces built-in files of that language or adds a language. Every set must hold every
//! customer-facing template: one that lacks one is refused at `check-config`, start and
//! reload, naming the file and the language. Agent-facing templates are English only.

use std::path::Path;

use super::TemplateError;
use crate::lang::{ENGLISH, normalize};

/// The templates a customer reads: every language set has each of them.
pub const LOCALIZED: &[&str] = &[
    "ack.txt.hbs",
    "ack.html.hbs",
    "handover.txt.hbs",
    "closing.txt.hbs",
    "reminder.txt.hbs",
];

/// The built-in sets besides English: language, then each [`LOCALIZED`] file's text.
const BUILTIN: &[(&str, &[(&str, &str)])] = &[
    (
        "de",
        &[
            (
                "ack.txt.hbs",
                include_str!("../../templates/de/ack.txt.hbs"),
            ),
            (
                "ack.html.hbs",
                include_str!("../../templates/de/ack.html.hbs"),
            ),
            (
                "handover.txt.hbs",
                include_str!("../../templates/de/handover.txt.hbs"),
            ),
            (
                "closing.txt.hbs",
                include_str!("../../templates/de/closing.txt.hbs"),
            ),
            (
                "reminder.txt.hbs",
                include_str!("../../templates/de/reminder.txt.hbs"),
            ),
        ],
    ),
    (
        "es",
        &[
            (
                "ack.txt.hbs",
                include_str!("../../templates/es/ack.txt.hbs"),
            ),
            (
                "ack.html.hbs",
                include_str!("../../templates/es/ack.html.hbs"),
            ),
            (
                "handover.txt.hbs",
                include_str!("../../templates/es/handover.txt.hbs"),
            ),
            (
                "closing.txt.hbs",
                include_str!("../../templates/es/closing.txt.hbs"),
            ),
            (
                "reminder.txt.hbs",
                include_str!("../../templates/es/reminder.txt.hbs"),
            ),
        ],
    ),
    (
        "fr",
        &[
            (
                "ack.txt.hbs",
                include_str!("../../templates/fr/ack.txt.hbs"),
            ),
            (
                "ack.html.hbs",
                include_str!("../../templates/fr/ack.html.hbs"),
            ),
            (
                "handover.txt.hbs",
                include_str!("../../templates/fr/handover.txt.hbs"),
            ),
            (
                "closing.txt.hbs",
                include_str!("../../templates/fr/closing.txt.hbs"),
            ),
            (
                "reminder.txt.hbs",
                include_str!("../../templates/fr/reminder.txt.hbs"),
            ),
        ],
    ),
];

/// One template of a language set, ready to register as `<lang>/<file>`.
pub(super) struct SetTemplate {
    /// The language.
    pub lang: String,
    /// The file name, one of [`LOCALIZED`].
    pub file: &'static str,
    /// Its text (the override's, else the built-in one).
    pub source: String,
}

/// The languages of `templates_dir`'s subdirectories: every directory whose name is a
/// language subtag (`replies/` and anything else are not sets).
fn override_languages(dir: &Path) -> Result<Vec<String>, TemplateError> {
    let entries = std::fs::read_dir(dir).map_err(|source| TemplateError::Read {
        path: dir.display().to_string(),
        source,
    })?;
    let mut langs = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_dir() && normalize(&name).as_deref() == Some(name.as_str()) {
            langs.push(name);
        }
    }
    Ok(langs)
}

/// Every language set's templates: the built-in ones, each file replaced by
/// `templates_dir/<lang>/<file>` when it exists, and the sets `templates_dir` adds. Refuses
/// an `en/` directory (English is the top of the directory), a set that lacks a
/// customer-facing template English has, and a template in a set that is not
/// customer-facing.
pub(super) fn language_sets(overrides: Option<&Path>) -> Result<Vec<SetTemplate>, TemplateError> {
    let mut langs: Vec<String> = BUILTIN.iter().map(|(l, _)| l.to_string()).collect();
    if let Some(dir) = overrides {
        for lang in override_languages(dir)? {
            if lang == ENGLISH {
                return Err(TemplateError::Set {
                    dir: dir.join(ENGLISH).display().to_string(),
                    reason: "the English templates are the ones at the top of templates_dir".into(),
                    fix: "move its files up into templates_dir and remove en/".into(),
                });
            }
            if !langs.contains(&lang) {
                langs.push(lang);
            }
        }
    }
    langs.sort();
    let mut out = Vec::new();
    for lang in langs {
        let own = overrides.map(|d| d.join(&lang)).filter(|d| d.is_dir());
        if let Some(dir) = &own {
            refuse_agent_templates(dir)?;
        }
        let builtin = BUILTIN.iter().find(|(l, _)| *l == lang).map(|(_, f)| *f);
        for file in LOCALIZED {
            let path = own.as_ref().map(|d| d.join(file)).filter(|p| p.is_file());
            let source = match (path, builtin) {
                (Some(path), _) => {
                    std::fs::read_to_string(&path).map_err(|source| TemplateError::Read {
                        path: path.display().to_string(),
                        source,
                    })?
                }
                (None, Some(files)) => files
                    .iter()
                    .find(|(f, _)| f == file)
                    .map(|(_, t)| t.to_string())
                    .ok_or_else(|| missing(&lang, file, own.as_deref()))?,
                (None, None) => return Err(missing(&lang, file, own.as_deref())),
            };
            out.push(SetTemplate {
                lang: lang.clone(),
                file,
                source,
            });
        }
    }
    Ok(out)
}

/// The error for a set without `file`.
fn missing(lang: &str, file: &str, dir: Option<&Path>) -> TemplateError {
    let dir = dir.map_or_else(|| format!("templates/{lang}"), |d| d.display().to_string());
    TemplateError::Set {
        dir: dir.clone(),
        reason: format!("the {lang} templates lack {file}, which the {ENGLISH} templates have"),
        fix: format!(
            "add {dir}/{file} (the {ENGLISH} one translated), or remove {dir} to send {ENGLISH} to {lang}-speaking customers"
        ),
    }
}

/// Refuses a `*.hbs` file in a language set that is not customer-facing: it would never be
/// used, and its author would believe it is.
fn refuse_agent_templates(dir: &Path) -> Result<(), TemplateError> {
    let entries = std::fs::read_dir(dir).map_err(|source| TemplateError::Read {
        path: dir.display().to_string(),
        source,
    })?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".hbs") && !LOCALIZED.contains(&name.as_str()) {
            return Err(TemplateError::Set {
                dir: dir.display().to_string(),
                reason: format!(
                    "{name} has no language sets: only the templates customers read ({}) do",
                    LOCALIZED.join(", ")
                ),
                fix: format!("remove {}", dir.join(&name).display()),
            });
        }
    }
    Ok(())
}
