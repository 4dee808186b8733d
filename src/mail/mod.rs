//! Reading mail, purely: bytes in, facts out. No store, no network, no configuration files.
//!
//! | module | one job |
//! |---|---|
//! | [`parse`] | raw bytes → [`parse::ParsedMail`]: addresses re-validated, text decoded |
//! | [`auth_results`] | an `Authentication-Results` field (RFC 8601) → who vouches for what |
//! | [`classify`] | may this be auto-answered? RFC 3834 → [`classify::Classified`] |
//! | [`html`] | an HTML part read as lines (to cut it), and the sanitizer for HTML a customer gets |
//! | [`providers`] | is a domain a public mailbox provider (gmail.com, yahoo.*)? may two addresses be colleagues? |
//! | [`signals`] | one header, subject or local part → is it a machine's? (each a table-tested rule) |
//! | [`thread`] | which ticket does it join? headers first, a subject tag only from its customer |
//! | [`envelope`] | an envelope sender → the address it stands for (SRS, BATV undone) |
//! | [`rating`] | a customer's answer to the closing mail → a rating from 1 to 5, and the words that rate |
//! | [`relay`] | reply tokens, token addresses, quote stripping, agents' `#commands` |
//! | [`sanitize`] | customer text → safe header text |

pub mod auth_results;
pub mod classify;
pub mod envelope;
pub mod html;
pub mod parse;
pub mod providers;
pub mod rating;
pub mod relay;
pub mod sanitize;
pub mod signals;
pub mod thread;
