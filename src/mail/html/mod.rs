//! The HTML of a mail, read and cleaned: a document read as the lines a reader sees (each
//! with its blockquote depth and the tree's leaves on it, so that lines can be taken out of
//! the document), and the sanitizer policy for HTML that goes to a customer.
//!
//! Parsing is html5ever's HTML5 parser (through scraper's tree); sanitizing is ammonia's.

mod clean;
mod lines;
#[cfg(test)]
mod tests;

pub use clean::{Clean, clean};
pub use lines::{Line, Lines, body_html, document, fragment};
