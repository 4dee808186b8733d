//! Canned answers: `replies/NAME.txt.hbs` in `service.templates_dir`, which an agent sends by
//! writing `#reply NAME` at the top of an answer. Each is a text template with the relay's
//! variables (`customer.*`, `ticket.*`, `agent.*`, `service.*`), compiled with the other
//! templates and rendered once with sample data by `check-config` and every reload. There
//! are no built-in ones: the desk writes its own (`templates/replies/` in the source, and
//! `/usr/share/frontdesk/templates/replies/` in the package, hold examples to start from).
//! A translation, `<lang>/replies/NAME.txt.hbs`, is sent instead on tickets in that language;
//! agents still name the English file.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{AckContext, PersonVars, ServiceVars, TemplateError, Templates, TicketVars};

/// The directory under `templates_dir` that holds the canned answers.
pub const REPLIES_DIR: &str = "replies";

/// What a canned answer's file name ends with.
const SUFFIX: &str = ".txt.hbs";

/// Whether `name` may name a canned answer: one or more lowercase ASCII letters, digits,
/// `-` and `_` (so it is a safe file name and easy to type in any mail client).
pub fn is_reply_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The name a canned answer is registered under among the text templates.
pub(super) fn template_name(name: &str) -> String {
    format!("{REPLIES_DIR}/{name}{SUFFIX}")
}

/// One canned answer as its file holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CannedReply {
    /// Its name, what an agent writes after `#reply`.
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// The template text.
    pub source: String,
}

impl CannedReply {
    /// The first line of the file that is not blank, trimmed: what `replies list` shows. A
    /// canned answer may open with a one-line `{{!-- … --}}` comment saying what it is for;
    /// the preview is then the comment's text.
    pub fn preview(&self) -> &str {
        let line = self
            .source
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or_default();
        let comment = ["{{~!--", "{{!--", "{{~!", "{{!"]
            .iter()
            .find_map(|open| line.strip_prefix(open))
            .and_then(|rest| {
                ["--~}}", "--}}", "~}}", "}}"]
                    .iter()
                    .find_map(|close| rest.strip_suffix(close))
            });
        comment.map_or(line, str::trim)
    }
}

/// Every canned answer in `templates_dir/replies/`, by name; none when that directory does
/// not exist. A `*.txt.hbs` file whose name is not a valid [`is_reply_name`] is an error
/// naming the file, so an answer an agent could never send is not silently ignored; other
/// files (a README, an editor's backup) are skipped.
pub fn canned_replies(templates_dir: &Path) -> Result<Vec<CannedReply>, TemplateError> {
    let dir = templates_dir.join(REPLIES_DIR);
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let read_err = |path: &Path, source| TemplateError::Read {
        path: path.display().to_string(),
        source,
    };
    let mut replies = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| read_err(&dir, e))? {
        let path = entry.map_err(|e| read_err(&dir, e))?.path();
        let file = path
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or_default();
        let Some(name) = file.strip_suffix(SUFFIX) else {
            continue;
        };
        if !is_reply_name(name) {
            return Err(TemplateError::ReplyName {
                path: path.display().to_string(),
            });
        }
        let source = std::fs::read_to_string(&path).map_err(|e| read_err(&path, e))?;
        replies.push(CannedReply {
            name: name.to_string(),
            path,
            source,
        });
    }
    replies.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(replies)
}

/// Variables of a canned answer: the relay's, without the agent's answer.
#[derive(Debug, Clone, Serialize)]
pub struct ReplyContext {
    /// The customer.
    pub customer: PersonVars,
    /// The agent who sends it.
    pub agent: PersonVars,
    /// The ticket.
    pub ticket: TicketVars,
    /// Us.
    pub service: ServiceVars,
}

impl ReplyContext {
    pub(super) fn sample() -> ReplyContext {
        let a = AckContext::sample();
        ReplyContext {
            customer: a.customer,
            agent: a.agent,
            ticket: a.ticket,
            service: a.service,
        }
    }
}

impl Templates {
    /// The names of the canned answers, sorted.
    pub fn reply_names(&self) -> &[String] {
        &self.replies
    }

    /// Renders the canned answer `name` (one of [`Templates::reply_names`]) for a ticket in
    /// `lang`, without blank lines at its start or end: its translation
    /// `<lang>/replies/NAME.txt.hbs` in `templates_dir` when there is one, else the English.
    pub fn canned_reply(
        &self,
        lang: &str,
        name: &str,
        ctx: &ReplyContext,
    ) -> Result<String, TemplateError> {
        let text = self.render_in(lang, &template_name(name), ctx)?;
        let mut text = text.trim_end();
        while let Some((first, rest)) = text.split_once('\n')
            && first.trim().is_empty()
        {
            text = rest;
        }
        Ok(text.to_string())
    }
}
