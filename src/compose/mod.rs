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
        Ok(Templates {
            text,
            html,
            replies,
        })
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
        let sample = ReplyContext::sample();
        for name in &self.replies {
            self.canned_reply(name, &sample)?;
            names.push(replies::template_name(name));
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
