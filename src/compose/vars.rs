//! How people, tickets and the service look to templates, and the names we call them by.

use serde::Serialize;

use super::greeting;
use crate::domain::{EmailAddress, TicketId};
use crate::mail::parse::Mailbox;
use crate::mail::sanitize;
use crate::mail::thread::ticket_tag;

/// A person as templates see them.
#[derive(Debug, Clone, Serialize)]
pub struct PersonVars {
    /// Full name, or a fallback made from the address; never empty.
    pub name: String,
    /// The name to greet by ("Alice" for "Doe, Alice"; the full name of a Chinese, Japanese
    /// or Korean name), or empty when none is known: templates write
    /// `Hello{{#if customer.greeting_name}} {{customer.greeting_name}}{{/if}},`.
    /// See [`greeting`](super::greeting) for the rules.
    pub greeting_name: String,
    /// Kept for templates written before `greeting_name`: the greeting name when there is
    /// one; otherwise, for a customer, a neutral word ("there" in the acknowledgement and
    /// relay, "the customer" in the agent's notification), for an agent the name's first
    /// word.
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
    /// "2 hours": how long the agent's (else their team's) first answers usually take in
    /// working time; empty when there are too few to say.
    pub usually_within: String,
}

/// A closure of the whole desk the acknowledgement mentions.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClosureVars {
    /// What it is ("Christmas"); may be empty.
    pub name: String,
    /// "Monday 28 December": the first day the desk is open again; empty when it is open
    /// (`{{#if closure.reopens}}`).
    pub reopens: String,
}

/// A closure of the whole desk, as decided: its name and the day it is open again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeskClosure {
    /// What it is, if named.
    pub name: Option<String>,
    /// The first day open again, in the agent's calendar.
    pub reopens: jiff::civil::Date,
}

impl ClosureVars {
    /// The variables for `closure` ("" throughout when the desk is open).
    pub fn of(closure: Option<&DeskClosure>) -> ClosureVars {
        closure
            .map(|c| ClosureVars {
                name: c.name.clone().unwrap_or_default(),
                reopens: c.reopens.strftime("%A %-d %B").to_string(),
            })
            .unwrap_or_default()
    }
}

/// The earlier ticket a returning customer is reminded of (the same agent helped them).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PreviousVars {
    /// Its number; 0 when the customer is not remembered (`{{#if previous.number}}`).
    pub number: u64,
    /// Its subject as the customer wrote it.
    pub subject: String,
}

/// A wait in words for a customer, rounded up so the promise holds: "15 minutes", "1 hour",
/// "3 hours". Minutes in fives up to 50, then whole hours.
pub fn describe_wait(wait: std::time::Duration) -> String {
    let minutes = wait.as_secs().div_ceil(60).max(1);
    if minutes <= 50 {
        let five = minutes.div_ceil(5) * 5;
        return format!("{five} minutes");
    }
    match minutes.div_ceil(60) {
        1 => "1 hour".into(),
        hours => format!("{hours} hours"),
    }
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

/// A person by name and address (an agent, or a name already chosen): the greeting name read
/// from the name, the first name the greeting name or else the name's first word.
pub(super) fn person(name: &str, address: &str) -> PersonVars {
    let greeting_name = greeting::name_in_display(name, address).unwrap_or_default();
    let first_name = match greeting_name.as_str() {
        "" => name.split_whitespace().next().unwrap_or(name).into(),
        given => given.into(),
    };
    PersonVars {
        name: name.into(),
        greeting_name,
        first_name,
        address: address.into(),
    }
}

/// A customer as templates see them, greeted by the given name in their display name or,
/// without one, by the name they signed `text` (their own words) with
/// ([`greeting::greeting_name`]): `name` is [`customer_name`], `first_name` the greeting name
/// or `fallback` ("there", "the customer") when none is known.
pub fn customer_vars(customer: &Mailbox, text: &str, fallback: &str) -> PersonVars {
    let address = customer.address.as_str();
    let greeting_name =
        greeting::greeting_name(customer.name.as_deref(), address, text).unwrap_or_default();
    PersonVars {
        name: customer_name(customer),
        first_name: match greeting_name.as_str() {
            "" => fallback.into(),
            given => given.into(),
        },
        greeting_name,
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

/// Someone's full name for `customer.name`: their display name, or one made from a name-like
/// local part (`jane.doe` → "Jane Doe"), or "there" — never empty. (The name a mail greets
/// them by is [`greeting::greeting_name`].)
pub fn customer_name(mailbox: &Mailbox) -> String {
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
