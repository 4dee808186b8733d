//! Outgoing mail built from templates (spec flow step 5, "Templates"). Pure: data in, bytes
//! out. Handlebars runs in strict mode so a misspelt variable is an error at `check-config`
//! time, not a blank in a customer's mail; text templates are rendered without HTML escaping
//! and HTML templates with it. Header values come only from cleaned data, never from template
//! output.
//!
//! | file | what it composes |
//! |---|---|
//! | `mod.rs` | the compiled [`Templates`] (built in, or overridden from `templates_dir`) and their self-test |
//! | `vars.rs` | how people, tickets and the service look to templates |
//! | `greeting.rs` | the name a mail greets someone by: given name from the display name, or the customer's sign-off; none for an address, a handle or a role |
//! | `ack.rs` | the acknowledgement (text + HTML) |
//! | `agent.rs` | the variables of notifications, notices and relayed answers (text and HTML); the notification's fingerprint |
//! | `sets.rs` | the language sets: the customer-facing templates in `de/`, `fr/`, `es/` (built in) and any `templates_dir/<lang>/`, each complete |
//! | `replies.rs` | the canned answers (`replies/NAME.txt.hbs` in `templates_dir`) an agent sends with `#reply NAME` |
//! | `closing.rs` | the customer's closing mail and reminder, the agent's note of a rating |
//! | `escalation.rs` | the mail to a team lead about a missed first-response target |
//! | `handover.rs` | the new agent's short mail to a customer whose ticket changed hands |
//! | `alert.rs` | the mail to ops about an inbox that is not being read |
//! | `build.rs` | the shared envelope, headers and bytes (lettre; text, or text and HTML with inline images); subjects and quotes |

use std::path::Path;

use handlebars::Handlebars;
use serde::Serialize;

mod ack;
mod agent;
mod alert;
mod build;
mod closing;
mod escalation;
mod greeting;
mod handover;
mod replies;
mod sets;
#[cfg(test)]
mod tests;
mod vars;

pub use ack::{AckContext, AckInput, acknowledgement};
pub use agent::{
    AnchorContext, NOTIFICATION_SENTENCES, NoticeContext, NotificationPrint, NotifyContext,
    RelayContext, notification_marker,
};
pub use alert::{Alert, ops_alert};
pub use build::{Envelope, HtmlBody, build_mail, build_mail_with_html, quote_lines, reply_subject};
pub use closing::{FollowUpContext, FollowUpInput, RatingContext, customer_follow_up};
pub use escalation::{EscalationContext, describe, escalation};
pub use greeting::{greeting_name, name_in_display, signoff_name};
pub use handover::{Handover, HandoverContext, handover};
pub use replies::{CannedReply, REPLIES_DIR, ReplyContext, canned_replies, is_reply_name};
pub use sets::LOCALIZED;
use vars::person;
pub use vars::{
    AvailabilityVars, ClosureVars, DeskClosure, HistoryVars, PersonVars, PreviousVars, ServiceVars,
    TicketVars, customer_name, customer_vars, describe_wait, known_name, person_vars, service_vars,
    ticket_vars,
};

/// A template we ship: its file name and built-in text.
struct Builtin {
    name: &'static str,
    text: &'static str,
    html: bool,
}

const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "ack.txt.hbs",
        text: include_str!("../../templates/ack.txt.hbs"),
        html: false,
    },
    Builtin {
        name: "ack.html.hbs",
        text: include_str!("../../templates/ack.html.hbs"),
        html: true,
    },
    Builtin {
        name: "agent_notify.txt.hbs",
        text: include_str!("../../templates/agent_notify.txt.hbs"),
        html: false,
    },
    Builtin {
        name: "agent_anchor.txt.hbs",
        text: include_str!("../../templates/agent_anchor.txt.hbs"),
        html: false,
    },
    Builtin {
        name: "relay.txt.hbs",
        text: include_str!("../../templates/relay.txt.hbs"),
        html: false,
    },
    Builtin {
        name: "relay.html.hbs",
        text: include_str!("../../templates/relay.html.hbs"),
        html: true,
    },
    Builtin {
        name: "agent_notice.txt.hbs",
        text: include_str!("../../templates/agent_notice.txt.hbs"),
        html: false,
    },
    Builtin {
        name: "escalation.txt.hbs",
        text: include_str!("../../templates/escalation.txt.hbs"),
        html: false,
    },
    Builtin {
        name: "handover.txt.hbs",
        text: include_str!("../../templates/handover.txt.hbs"),
        html: false,
    },
    Builtin {
        name: "closing.txt.hbs",
        text: include_str!("../../templates/closing.txt.hbs"),
        html: false,
    },
    Builtin {
        name: "reminder.txt.hbs",
        text: include_str!("../../templates/reminder.txt.hbs"),
        html: false,
    },
    Builtin {
        name: "agent_rating.txt.hbs",
        text: include_str!("../../templates/agent_rating.txt.hbs"),
        html: false,
    },
];

/// A template that could not be loaded or rendered.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// An override file could not be read.
    #[error("template {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Handlebars refused the template text.
    #[error("template {name}: {source}")]
    Syntax {
        /// Template file name.
        name: String,
        /// The parser's message with line and column.
        source: Box<handlebars::TemplateError>,
    },
    /// An HTML template inserts a value unescaped (`{{{…}}}`, `{{&…}}`), or `relay.html.hbs`
    /// does not insert the answer exactly once as [`RAW_HTML`].
    #[error("template {name}: {reason}")]
    Unescaped {
        /// Template file name.
        name: String,
        /// What is wrong, and what is allowed.
        reason: String,
    },
    /// `agent_anchor.txt.hbs` does not render to one line that names the ticket: answers to
    /// notifications could not be cut at it.
    #[error("template agent_anchor.txt.hbs: {reason}")]
    Anchor {
        /// What is wrong, and the fix.
        reason: String,
    },
    /// A canned answer's file name is not a name an agent can write after `#reply`.
    #[error(
        "canned answer {path}: its name (before .txt.hbs) may hold only lowercase letters, digits, '-' and '_'; rename the file"
    )]
    ReplyName {
        /// The file.
        path: String,
    },
    /// A language set is incomplete or holds what no set may: `check-config`'s message
    /// names the key, the directory and the file, and the fix.
    #[error("service.templates_dir: {dir}: {reason}\n      fix: {fix}")]
    Set {
        /// The language set's directory.
        dir: String,
        /// What is wrong.
        reason: String,
        /// What to do about it.
        fix: String,
    },
    /// A default language (`service.language`, an inbox's `language`) has no template set.
    #[error(
        "{key}: there are no {lang} templates\n      fix: add {lang}/ with a translation of each of {files} to service.templates_dir, or choose one of: {available}"
    )]
    NoSet {
        /// The configuration key.
        key: String,
        /// The language it names.
        lang: String,
        /// The languages there are.
        available: String,
        /// The templates a set must have.
        files: String,
    },
    /// Rendering failed, e.g. a variable that does not exist (strict mode).
    #[error("template {name}: {source}")]
    Render {
        /// Template file name.
        name: String,
        /// The renderer's message.
        source: Box<handlebars::RenderError>,
    },
}

/// The compiled templates: one registry for text (no escaping), one for HTML (escaping), and
/// the names of the canned answers among the text ones.
#[derive(Debug, Clone)]
pub struct Templates {
    text: Handlebars<'static>,
    html: Handlebars<'static>,
    replies: Vec<String>,
    /// Every language with a template set, English first.
    languages: Vec<String>,
}

impl Templates {
    /// Compiles the built-in templates, each replaced by a file of the same name in
    /// `overrides` when that file exists, and the canned answers in `overrides/replies/`.
    pub fn load(overrides: Option<&Path>) -> Result<Templates, TemplateError> {
        let mut text = Handlebars::new();
        text.set_strict_mode(true);
        text.register_escape_fn(handlebars::no_escape);
        let mut html = Handlebars::new();
        html.set_strict_mode(true);
        for b in BUILTINS {
            let source = match overrides.map(|d| d.join(b.name)) {
                Some(path) if path.is_file() => {
                    std::fs::read_to_string(&path).map_err(|source| TemplateError::Read {
                        path: path.display().to_string(),
                        source,
                    })?
                }
                _ => b.text.to_string(),
            };
            if b.html {
                check_unescaped(b.name, &source)?;
            }
            let registry = if b.html { &mut html } else { &mut text };
            registry
                .register_template_string(b.name, source)
                .map_err(|e| TemplateError::Syntax {
                    name: b.name.into(),
                    source: Box::new(e),
                })?;
        }
        let mut languages = vec![crate::lang::ENGLISH.to_string()];
        for t in sets::language_sets(overrides)? {
            let name = format!("{}/{}", t.lang, t.file);
            let is_html = t.file.ends_with(".html.hbs");
            if is_html {
                check_unescaped(&name, &t.source)?;
            }
            let registry = if is_html { &mut html } else { &mut text };
            registry
                .register_template_string(&name, t.source)
                .map_err(|e| TemplateError::Syntax {
                    name: name.clone(),
                    source: Box::new(e),
                })?;
            if !languages.contains(&t.lang) {
                languages.push(t.lang);
            }
        }
        let mut replies = Vec::new();
        for reply in overrides
            .map(canned_replies)
            .transpose()?
            .unwrap_or_default()
        {
            let name = replies::template_name(&reply.name);
            text.register_template_string(&name, reply.source)
                .map_err(|e| TemplateError::Syntax {
                    name,
                    source: Box::new(e),
                })?;
            replies.push(reply.name);
        }
        // Canned answers in the customers' languages: `<lang>/replies/NAME.txt.hbs`, each a
        // translation of an English one (the name an agent writes is the English file's).
        for lang in languages.iter().skip(1) {
            let Some(dir) = overrides.map(|d| d.join(lang)).filter(|d| d.is_dir()) else {
                continue;
            };
            for reply in canned_replies(&dir)? {
                if !replies.contains(&reply.name) {
                    return Err(TemplateError::Set {
                        dir: dir.display().to_string(),
                        reason: format!(
                            "the canned answer {} has no English original: agents send canned answers by the English file's name",
                            reply.name
                        ),
                        fix: format!(
                            "add replies/{}.txt.hbs at the top of templates_dir, or remove {}",
                            reply.name,
                            reply.path.display()
                        ),
                    });
                }
                let name = format!("{lang}/{}", replies::template_name(&reply.name));
                text.register_template_string(&name, reply.source)
                    .map_err(|e| TemplateError::Syntax {
                        name,
                        source: Box::new(e),
                    })?;
            }
        }
        Ok(Templates {
            text,
            html,
            replies,
            languages,
        })
    }

    /// Every language with a template set, English first.
    pub fn languages(&self) -> &[String] {
        &self.languages
    }

    /// Whether there is a template set in `lang`.
    pub fn has_language(&self, lang: &str) -> bool {
        self.languages.iter().any(|l| l == lang)
    }

    /// Refuses a default language (`service.language`, an inbox's `language`) that has no
    /// template set: its customers would silently get English.
    pub fn check_languages(&self, cfg: &crate::config::Config) -> Result<(), TemplateError> {
        let main = std::iter::once(("service.language".to_string(), &cfg.service.language));
        let inboxes = cfg
            .inboxes
            .iter()
            .enumerate()
            .map(|(n, i)| (format!("inboxes[{n}].language"), &i.language));
        for (key, lang) in main.chain(inboxes) {
            if !self.has_language(lang) {
                return Err(TemplateError::NoSet {
                    key,
                    lang: lang.clone(),
                    available: self.languages.join(", "),
                    files: LOCALIZED.join(", "),
                });
            }
        }
        Ok(())
    }

    /// Renders the customer-facing template `name` in `lang`'s set, or the English one when
    /// there is no such set (or `name` is not customer-facing).
    pub(crate) fn render_in(
        &self,
        lang: &str,
        name: &str,
        data: &impl Serialize,
    ) -> Result<String, TemplateError> {
        let localized = format!("{lang}/{name}");
        let registry = if name.ends_with(".html.hbs") {
            &self.html
        } else {
            &self.text
        };
        if lang != crate::lang::ENGLISH && registry.has_template(&localized) {
            return self.render(&localized, data);
        }
        self.render(name, data)
    }

    pub(crate) fn render(
        &self,
        name: &str,
        data: &impl Serialize,
    ) -> Result<String, TemplateError> {
        let registry = if name.ends_with(".html.hbs") {
            &self.html
        } else {
            &self.text
        };
        registry
            .render(name, data)
            .map_err(|e| TemplateError::Render {
                name: name.into(),
                source: Box::new(e),
            })
    }

    /// Renders every template once with sample data: what `check-config` runs.
    pub fn self_test(&self) -> Result<Vec<String>, TemplateError> {
        let ack = AckContext::sample();
        let notify = NotifyContext::sample();
        let relay = RelayContext::sample();
        let notice = NoticeContext::sample();
        let mut names = Vec::new();
        for b in BUILTINS {
            match b.name {
                "agent_notify.txt.hbs" => self.render(b.name, &notify)?,
                "relay.txt.hbs" | "relay.html.hbs" => self.render(b.name, &relay)?,
                "agent_notice.txt.hbs" => self.render(b.name, &notice)?,
                "agent_anchor.txt.hbs" => self.anchor(&AnchorContext::sample())?,
                "escalation.txt.hbs" => self.render(b.name, &EscalationContext::sample())?,
                "handover.txt.hbs" => self.render(b.name, &HandoverContext::sample())?,
                "closing.txt.hbs" | "reminder.txt.hbs" => {
                    self.render(b.name, &FollowUpContext::sample())?
                }
                "agent_rating.txt.hbs" => self.render(b.name, &RatingContext::sample())?,
                _ => self.render(b.name, &ack)?,
            };
            names.push(b.name.to_string());
        }
        for lang in self.languages.iter().skip(1) {
            let ack = AckContext::sample_in(lang);
            for file in LOCALIZED {
                match *file {
                    "handover.txt.hbs" => self.render_in(lang, file, &HandoverContext::sample())?,
                    "closing.txt.hbs" | "reminder.txt.hbs" => {
                        self.render_in(lang, file, &FollowUpContext::sample())?
                    }
                    _ => self.render_in(lang, file, &ack)?,
                };
                names.push(format!("{lang}/{file}"));
            }
        }
        let sample = ReplyContext::sample();
        for name in &self.replies {
            self.canned_reply(crate::lang::ENGLISH, name, &sample)?;
            names.push(replies::template_name(name));
            for lang in self.languages.iter().skip(1) {
                let localized = format!("{lang}/{}", replies::template_name(name));
                if self.text.has_template(&localized) {
                    self.render(&localized, &sample)?;
                    names.push(localized);
                }
            }
        }
        Ok(names)
    }
}

/// The one value an HTML template may insert unescaped, and where: the relayed answer's
/// HTML (already sanitized, `mail::html::clean`) in `relay.html.hbs`. Every other value is
/// HTML-escaped, so a customer's or an agent's text can never become markup.
pub const RAW_HTML: (&str, &str) = ("relay.html.hbs", "{{{body_html}}}");

/// Refuses an HTML template that inserts a value unescaped, except [`RAW_HTML`] in its
/// template, where it must appear exactly once (or the customer would get an empty or a
/// doubled answer).
fn check_unescaped(name: &str, source: &str) -> Result<(), TemplateError> {
    let unescaped: usize = ["{{{", "{{~{", "{{&", "{{~&"]
        .iter()
        .map(|p| source.matches(p).count())
        .sum();
    let (raw_name, raw) = RAW_HTML;
    let expected = usize::from(name == raw_name);
    if unescaped == expected && source.matches(raw).count() == expected {
        return Ok(());
    }
    let reason = if name == raw_name {
        format!("it must insert the answer exactly once as {raw}, and nothing else unescaped")
    } else {
        "an HTML template inserts every value escaped ({{name}}), never with {{{…}}} or {{&…}}"
            .to_string()
    };
    Err(TemplateError::Unescaped {
        name: name.into(),
        reason,
    })
}

/// A mail that could not be composed.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// A template failed.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// lettre refused to build the message.
    #[error("building the message: {0}")]
    Build(String),
}
