//! The cut in an agent's HTML answer: the quote of our notification is found in the parsed
//! document by the rules of the text cut (`quote.rs`), and taken out of the document itself,
//! so the agent's formatting stays. The document is read as the lines a reader sees
//! (blockquotes as `>` quotes, [`crate::mail::html::Lines`]); the text cut's plan says which
//! lines stay; every leaf of the tree on the others goes, and with them every element they
//! leave empty (the quote's blockquote, Gmail's `gmail_quote`, Outlook's `divRplyFwdMsg`, a
//! `<hr>` and its header block …), whatever the client calls it.

use super::commands::{AgentMessage, leading_command_lines, read_commands};
use super::quote::{OurQuote, plan_cut, strip_quoted, tidy, unquote};
use crate::mail::html::{self, Lines};

/// An agent's HTML answer with the quote of our notification cut out, ready for a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HtmlAnswer {
    /// The commands at its top and its text without them (read as the text cut reads a text
    /// answer: what an HTML-only answer is decided on).
    pub message: AgentMessage,
    /// The answer as the customer gets it: without the quote and the command lines,
    /// sanitized ([`crate::mail::html::clean`]).
    pub html: String,
    /// The text of that HTML, line by line as a reader sees it (blockquotes as `>` quotes).
    pub text: String,
    /// The Content-IDs of the inline images it shows, as the agent's mail names them.
    pub images: Vec<String>,
}

/// Cuts the quote of our notification out of an agent's HTML answer (`source`, a whole HTML
/// part) by the text cut's rules, removes the command lines at its top, and sanitizes the
/// rest. `inline` names the Content-ID an inline image the mail carries goes out under.
///
/// `None` when the HTML holds no quote of our notification but quotes something else (the
/// known attribution formats, `>` quotes, an Outlook header block would be stripped from its
/// text): such an answer goes out as text, cut by those formats.
pub fn read_html_answer(
    source: &str,
    ours: &OurQuote<'_>,
    inline: &dyn Fn(&str) -> Option<String>,
) -> Option<HtmlAnswer> {
    let mut doc = html::document(source);
    let read = Lines::read(&doc);
    let quoted = read.quoted();
    let lines: Vec<&str> = quoted.iter().map(String::as_str).collect();
    // keep[i] for line i; keep[len] for what follows the last line.
    let mut keep = vec![true; lines.len() + 1];
    match plan_cut(&lines, ours) {
        Some(cut) => {
            for (i, k) in keep.iter_mut().enumerate().skip(cut.top) {
                *k = cut.below.as_ref().is_some_and(|b| b.contains(&i));
            }
        }
        None => {
            let all = tidy(&lines);
            if words(&strip_quoted(&all)) != words(&all) {
                return None;
            }
        }
    }
    let kept: Vec<usize> = (0..lines.len()).filter(|&i| keep[i]).collect();
    let kept_lines: Vec<&str> = kept.iter().map(|&i| lines[i]).collect();
    let message = read_commands(&tidy(&kept_lines));
    let commands = leading_command_lines(&kept_lines);
    for &i in &kept[..commands] {
        keep[i] = false;
    }
    // Blank lines at either end go too (Gmail's `<br>`s above its quote).
    let blank = |i: usize| unquote(lines[i]).1.is_empty();
    let first = (0..lines.len()).find(|&i| keep[i] && !blank(i));
    let last = (0..lines.len()).rev().find(|&i| keep[i] && !blank(i));
    for (i, k) in keep.iter_mut().enumerate().take(lines.len()) {
        if first.is_none_or(|f| i < f) || last.is_none_or(|l| i > l) {
            *k = false;
        }
    }
    if last.is_none_or(|l| l + 1 < lines.len()) {
        keep[lines.len()] = false;
    }
    read.remove(&mut doc, |i| keep[i]);
    let clean = html::clean(&html::body_html(&doc), inline);
    let text = html_text(&clean.html);
    Some(HtmlAnswer {
        message,
        html: clean.html,
        text,
        images: clean.images,
    })
}

/// The text of an HTML fragment as a reader sees it, line by line, blockquotes as `>`
/// quotes: what the leak guard and the relay's text part read of an HTML part.
pub fn html_text(fragment: &str) -> String {
    let quoted = Lines::read(&html::fragment(fragment)).quoted();
    tidy(&quoted.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Whether the text of a cut HTML answer says what the cut text body of the same answer says
/// (a client writes both): the same words, compared without case, punctuation, quote marks
/// and link targets (which the two write differently: `*bold*`, `text <https://…>`), at most
/// one word in fifty apart (an image's placeholder). When they differ more, one of the cuts went wrong,
/// and the answer goes as text, as it did before HTML was relayed.
pub fn html_agrees_with_text(text: &str, html_text: &str) -> bool {
    let (a, b) = (plain_words(text), plain_words(html_text));
    let mut unmatched: Vec<&str> = b.iter().map(String::as_str).collect();
    let mut missing = 0;
    for w in &a {
        match unmatched.iter().position(|u| u == w) {
            Some(i) => {
                unmatched.swap_remove(i);
            }
            None => missing += 1,
        }
    }
    missing + unmatched.len() <= (a.len() + b.len()) / 50
}

/// Words for [`html_agrees_with_text`]: lowercase letters and digits, without link targets.
fn plain_words(s: &str) -> Vec<String> {
    s.split(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '(' | ')' | '[' | ']'))
        .filter(|w| !w.contains("://") && !w.to_ascii_lowercase().starts_with("mailto:"))
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

fn words(s: &str) -> Vec<&str> {
    s.split_whitespace().collect()
}
