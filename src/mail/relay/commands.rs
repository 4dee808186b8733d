//! The `#commands` an agent writes at the top of an answer (`#note`, `#close`, `#reopen`,
//! `#assign WHO`, `#reply NAME`, `#cc add|drop ADDRESS`), read after the quote is stripped.

use super::{OurQuote, strip_answer};

/// Whether any line looks like one of our commands (`#note`, `# close:` …): below the text
/// such a line means the agent misplaced it, and relaying would leak an internal note.
pub fn has_command_line(body: &str) -> bool {
    body.lines()
        .any(|l| parse_command(l).is_some_and(|c| !matches!(c, Command::Unknown(_))))
}

fn trim_invisible(s: &str) -> &str {
    s.trim_matches(|c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{2060}' | '\u{feff}'
            )
    })
}

/// A command line: `#`, optional spaces, a word, optional `:`/`,`/`-`, the rest.
fn parse_command(line: &str) -> Option<Command> {
    let t = trim_invisible(line);
    let rest = t.strip_prefix('#')?.trim_start();
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    if word.is_empty() {
        return None;
    }
    let after = rest[word.len()..]
        .trim_start_matches([':', ',', '-'])
        .trim();
    Some(match word.to_ascii_lowercase().as_str() {
        "note" => Command::Note,
        "close" => Command::Close,
        "reopen" => Command::Reopen,
        "assign" => Command::Assign(after.to_string()),
        "reply" => Command::Reply(after.to_string()),
        "cc" => Command::Cc(after.to_string()),
        other => Command::Unknown(other.to_string()),
    })
}

/// What an agent's mail asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `#note`: the text is internal, nothing goes to the customer.
    Note,
    /// `#close`: close the ticket.
    Close,
    /// `#reopen`: reopen the ticket.
    Reopen,
    /// `#assign WHO`: hand the ticket to another agent.
    Assign(String),
    /// `#reply NAME`: the canned answer `NAME` goes to the customer, above whatever the agent
    /// wrote below the commands. The name is as written; whether it names one is decided
    /// against the templates.
    Reply(String),
    /// `#cc add ADDRESS` / `#cc drop ADDRESS`: copy someone on the conversation from now on,
    /// or stop. The rest of the line as written; decided against the ticket.
    Cc(String),
    /// Anything else that looks like a command: refused with an explanation.
    Unknown(String),
}

/// An agent's answer, split into commands and the text for the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentMessage {
    /// Commands from the lines at the top, in order.
    pub commands: Vec<Command>,
    /// The answer without the commands and without the quoted notification.
    pub body: String,
}

/// Strips the quoted notification first (so a bottom-posted command is never missed), then
/// reads the `#command` lines at the top of what is left (blank lines between them allowed).
pub fn read_agent_message(text: &str, ours: &OurQuote<'_>) -> AgentMessage {
    read_commands(&strip_answer(text, ours))
}

/// Reads the `#command` lines at the top of an answer whose quote is already cut (blank lines
/// between them allowed); the rest is the body.
pub fn read_commands(stripped: &str) -> AgentMessage {
    let mut commands = Vec::new();
    let mut lines = stripped.lines().peekable();
    while let Some(line) = lines.peek() {
        if trim_invisible(line).is_empty() {
            lines.next();
            continue;
        }
        let Some(cmd) = parse_command(line) else {
            break;
        };
        // `#note` may carry its text on the same line.
        let inline_note = match &cmd {
            Command::Note => {
                let t = trim_invisible(line).trim_start_matches('#').trim_start();
                let after = t
                    .get(4..)
                    .unwrap_or_default()
                    .trim_start_matches([':', ',', '-'])
                    .trim();
                (!after.is_empty()).then(|| after.to_string())
            }
            _ => None,
        };
        commands.push(cmd);
        lines.next();
        if let Some(first) = inline_note {
            let remaining: Vec<String> = std::iter::once(first)
                .chain(lines.map(str::to_string))
                .collect();
            return AgentMessage {
                commands,
                body: remaining.join("\n").trim().to_string(),
            };
        }
    }
    let remaining: Vec<&str> = lines.collect();
    AgentMessage {
        commands,
        body: remaining.join("\n").trim().to_string(),
    }
}

/// How many lines at the top of `lines` [`read_commands`] reads as commands (or blank lines
/// between them): the lines an HTML answer loses with its commands.
pub(super) fn leading_command_lines(lines: &[&str]) -> usize {
    let last = lines
        .iter()
        .take_while(|l| trim_invisible(l).is_empty() || parse_command(l).is_some())
        .enumerate()
        .filter(|(_, l)| !trim_invisible(l).is_empty())
        .map(|(i, _)| i + 1)
        .last();
    last.unwrap_or(0)
}
