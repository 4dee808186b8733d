//! How people, tickets and the service look to templates, and the name we greet by.

use serde::Serialize;

use crate::domain::{EmailAddress, TicketId};
use crate::mail::parse::Mailbox;
use crate::mail::sanitize;
use crate::mail::thread::ticket_tag;

/// A person as templates see them.
#[derive(Debug, Clone, Serialize)]
pub struct PersonVars {
    /// Full name, or a fallback made from the address; never empty.
    pub name: String,
    /// The first word of the name.
    pub first_name: String,
    /// The address.
    pub address: String,
}

/// A ticket as templates see it.
#[derive(Debug, Clone, Serialize)]
pub struct TicketVars {
    /// The number, e.g. 1042.
    pub number: u64,
    /// The tag, e.g. `[Acme Support #1042]`.
    pub tag: String,
}

/// The service as templates see it.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceVars {
    /// Display name.
    pub name: String,
    /// Support address.
    pub address: String,
}

/// What the acknowledgement may honestly promise.
#[derive(Debug, Clone, Serialize)]
pub struct AvailabilityVars {
    /// At work with capacity now.
    pub available: bool,
    /// "Monday at 09:00 CET", or empty when not known (away without a date).
    pub back_at: String,
}

/// A customer's earlier tickets, for the agent's header block.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HistoryVars {
    /// How many earlier tickets (0: none).
    pub count: usize,
    /// The last one's number.
    pub last_number: u64,
    /// The last one's subject.
    pub last_subject: String,
    /// The last one's agent (name).
    pub last_agent: String,
}

/// A person by name and address, the first name being the name's first word.
pub(super) fn person(name: &str, address: &str) -> PersonVars {
    PersonVars {
        name: name.into(),
        first_name: name.split_whitespace().next().unwrap_or(name).into(),
        address: address.into(),
    }
}

/// The display form of a person for templates.
pub fn person_vars(name: &str, address: &EmailAddress) -> PersonVars {
    person(name, address.as_str())
}

/// The service for templates.
pub fn service_vars(name: &str, address: &EmailAddress) -> ServiceVars {
    ServiceVars {
        name: name.into(),
        address: address.to_string(),
    }
}

/// The ticket for templates.
pub fn ticket_vars(service_name: &str, ticket: TicketId) -> TicketVars {
    TicketVars {
        number: ticket.get(),
        tag: ticket_tag(service_name, ticket),
    }
}

/// The name to greet someone by: their display name, or one made from a name-like local
/// part (`jane.doe` → "Jane Doe"), or "there" ("Hello there,") — never an empty greeting.
pub fn greeting_name(mailbox: &Mailbox) -> String {
    known_name(mailbox).unwrap_or_else(|| "there".into())
}

/// Their name as far as we know it: their display name ("Doe, Jane" turned around), or one
/// made from a name-like local part (`jane.doe` → "Jane Doe"); `None` if neither gives one.
pub fn known_name(mailbox: &Mailbox) -> Option<String> {
    let cleaned = mailbox
        .name
        .as_deref()
        .map(|n| sanitize::header_text(n, 80));
    if let Some(name) = cleaned.as_deref().filter(|n| !n.is_empty()) {
        // "Doe, Jane" is how some directories write names.
        if let Some((last, first)) = name.split_once(", ")
            && !first.contains(',')
        {
            return Some(format!("{first} {last}"));
        }
        return Some(name.to_string());
    }
    let local = mailbox.address.local_part();
    let local = local.split('+').next().unwrap_or(local);
    let parts: Vec<&str> = local
        .split(['.', '_', '-'])
        .filter(|p| !p.is_empty())
        .collect();
    let name_like = !parts.is_empty()
        && parts.len() <= 3
        && parts
            .iter()
            .all(|p| p.len() >= 2 && p.chars().all(|c| c.is_alphabetic()));
    name_like.then(|| {
        parts
            .iter()
            .map(|p| {
                let mut c = p.chars();
                c.next()
                    .map(|f| f.to_uppercase().collect::<String>() + &c.as_str().to_lowercase())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(" ")
    })
}
