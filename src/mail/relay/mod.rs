//! The agent's side of a ticket (spec flow step 7), as pure functions: reply tokens that bind
//! a ticket to an agent, recognising a token address among a mail's recipients, stripping the
//! quoted notification from an agent's answer (its text, or its HTML document), the
//! `#commands` at its top, and copies of the notification in what an answer would relay.
//!
//! A token is an HMAC-SHA256 over the ticket number and the agent's address, keyed with
//! `service.token_secret_file`, truncated to 50 bits and written in lowercase base32:
//! `support+1042.k7q2m9d4xa@example.com`. It cannot be forged without the key, and it only
//! verifies for the agent it was issued to, compared in constant time.

mod commands;
mod html;
mod leak;
mod quote;
#[cfg(test)]
mod tests;
mod token;

pub use commands::{AgentMessage, Command, has_command_line, read_agent_message, read_commands};
pub use html::{HtmlAnswer, html_agrees_with_text, html_text, read_html_answer};
pub use leak::{FingerprintError, Fingerprints, Notifications, Trace, is_agents_only_id};
pub use quote::{OurQuote, cut_our_quote, strip_answer, strip_quoted, text_before_quote};
pub use token::{
    TOKENS_BOUND_SINCE, TokenAddress, find_subject_token, find_token_address, find_token_addresses,
    message_id, mint, reply_address, subject_marker, ticket_key, verify,
};
