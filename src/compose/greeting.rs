//! Whom a mail greets, and by which name (issue 14, "Greet people the way they sign"): "Hello
//! Alice,", not "Hello Alice Doe," or "Hello alice.doe,". Pure.
//!
//! The name comes from the From display name ([`name_in_display`]) or, when that holds no
//! usable name, from the sign-off of the customer's own text ([`signoff_name`]); with neither,
//! there is none and the templates greet neutrally ("Hello,"). The rules, kept simple:
//!
//! - **Order.** The given name is the first word ("Alice Doe" → Alice), after a comma
//!   ("Doe, Alice" → Alice), or the first word not written in capitals when others are
//!   ("DOE Alice", "Alice DOE" → Alice; a capitalised word counts as a family name from three
//!   letters on, so "AJ Smith" stays AJ). Titles in front ("Dr.", "Prof.", "Herr", "Mme") and
//!   suffixes behind ("Jr.", "PhD") are dropped, and a title before one word ("Dr. Doe")
//!   names no given name; an initial is never greeted ("J. Alice Doe" → Alice, "J. Doe" →
//!   none).
//! - **One word.** A hyphenated given name is one word ("Jean-Luc Picard" → Jean-Luc). Two
//!   given names written apart cannot be told from a given and a family name without a list
//!   of names, so "Mary Ann Smith" is greeted as Mary. Names that start with the family
//!   name but are written in Latin letters without a comma ("Nguyen Van An", "Kim Min-jun",
//!   "Győrvári Gábor") are not recognised: the first word is taken.
//! - **Chinese, Japanese, Korean** names (Han, kana, Hangul) start with the family name, and
//!   the full name is the polite form: they are greeted with the name as written. Cyrillic,
//!   Greek and Arabic names are read like Latin ones.
//! - **Case.** A word all in lower case, or in capitals from three letters on, is recased
//!   ("alice doe" → Alice, "JEAN-LUC" → Jean-Luc); mixed case ("McKenzie") is kept. Scripts
//!   without case are never changed.
//! - **Not a person.** Affixes go first: anything in brackets ("Alice Doe (Acme)"), and what
//!   follows " via ", "|", " - ", " / " ("Alice Doe via LinkedIn", "Alice Doe | Acme Corp").
//!   What is left is no name if it holds an address, a digit, a handle (`alice.doe`,
//!   `alice_doe`), a role or company word (`info`, `support`, `noreply`, `team`, `GmbH`,
//!   `Inc` …), or is the address's local part written the same way (`alice` <alice@…>).

use crate::mail::relay::text_before_quote;
use crate::mail::sanitize;

/// The name to greet a customer by: the given name in their display name when it holds one
/// ([`name_in_display`]), else the name they signed their own text with ([`signoff_name`]);
/// `None` when neither gives one (greet neutrally).
pub fn greeting_name(display_name: Option<&str>, address: &str, text: &str) -> Option<String> {
    display_name
        .and_then(|name| name_in_display(name, address))
        .or_else(|| signoff_name(text))
}

/// The name to greet by in a display name (`address` is the mailbox it names, so a display
/// name that only repeats the address's local part is no name); `None` when the display name
/// is an address, a handle, a role or a company (see the module's rules).
pub fn name_in_display(display_name: &str, address: &str) -> Option<String> {
    let cleaned = sanitize::header_text(display_name, 80);
    let cleaned = cleaned.trim_matches(|c: char| QUOTES.contains(&c) || c.is_whitespace());
    let local = address.rsplit_once('@').map_or(address, |(local, _)| local);
    if cleaned == local || cleaned.eq_ignore_ascii_case(address) {
        return None;
    }
    given_name(cleaned)
}

/// The name a customer signed their own text with: the line after a closing ("Thanks,",
/// "Best regards,", "Viele Grüße", "Cordialement,", "Saludos," …) among the last lines of
/// their text above any quote, signature separator (`-- `, a rule) or "Sent from my …"
/// footer, or the name after a closing on the same line ("Regards, Roman"; never after a
/// "Thanks,", which may thank someone). At most two short lines (a title, a company, a phone
/// number) may follow the name. A line that reads like a sentence, holds digits, an address
/// or a link, or names a company or role is no name; `None` then.
pub fn signoff_name(text: &str) -> Option<String> {
    let own = text_before_quote(text);
    let lines: Vec<&str> = own
        .lines()
        .map(str::trim)
        .take_while(|line| !is_signature_start(line))
        .filter(|line| !line.is_empty())
        .collect();
    let window = lines.len().saturating_sub(4);
    let at = (window..lines.len())
        .rev()
        .find(|&i| closing(lines[i]).is_some())?;
    let after = &lines[at + 1..];
    let same_line = closing(lines[at]).unwrap_or_default();
    let (candidate, trailing) = if same_line.is_empty() {
        (*after.first()?, after.len() - 1)
    } else {
        (same_line, after.len())
    };
    if trailing > 2 || after.iter().skip(1).any(|l| l.chars().count() > 60) {
        return None;
    }
    name_line(candidate)
}

/// Quotation marks a display name may come wrapped in.
const QUOTES: &[char] = &['"', '\'', '`', '“', '”', '‘', '’', '«', '»', '„'];

/// What separates a name from the company, relay or role a display name adds after it.
const AFFIX_SEPARATORS: &[&str] = &[
    " via ", " Via ", " VIA ", "|", " - ", " – ", " — ", " / ", " @ ",
];

/// Titles in front of a name, compared without dots and in lower case.
const TITLES: &[&str] = &[
    "mr",
    "mrs",
    "ms",
    "miss",
    "mx",
    "dr",
    "prof",
    "professor",
    "sir",
    "dame",
    "rev",
    "herr",
    "frau",
    "dipl",
    "ing",
    "mag",
    "mme",
    "mlle",
    "sr",
    "sra",
    "srta",
    "dott",
    "dottssa",
    "sig",
    "sigra",
];

/// Suffixes behind a name, compared without dots and in lower case.
const SUFFIXES: &[&str] = &[
    "jr", "sr", "ii", "iii", "iv", "phd", "md", "mba", "esq", "cpa", "msc", "bsc", "dds", "rn",
];

/// Words that make a display name a role, a company or a system rather than a person,
/// wherever they stand ("Acme Support", "Billing Team", "Acme GmbH").
const NOT_PEOPLE: &[&str] = &[
    "info",
    "support",
    "noreply",
    "no-reply",
    "donotreply",
    "do-not-reply",
    "admin",
    "administrator",
    "billing",
    "team",
    "helpdesk",
    "webmaster",
    "postmaster",
    "hostmaster",
    "mailer-daemon",
    "notification",
    "notifications",
    "newsletter",
    "marketing",
    "accounts",
    "accounting",
    "customers",
    "careers",
    "abuse",
    "reception",
    "orders",
    "undisclosed",
    "recipients",
    "inc",
    "ltd",
    "llc",
    "gmbh",
    "corp",
    "corporation",
    "plc",
    "sarl",
    "limited",
    "department",
    "dept",
    "kundenservice",
    "vertrieb",
    "buchhaltung",
    "équipe",
    "equipe",
    "soporte",
    "ventas",
    "facturation",
];

/// Words that are a role when the display name is made of nothing else ("Sales", "Customer
/// Service"), but may be a family name beside a given name ("Casey Customer", "Joe Root").
const ROLES_ALONE: &[&str] = &[
    "sales", "contact", "office", "service", "services", "help", "daemon", "news", "jobs",
    "security", "root", "system", "shop", "store", "hello", "mail", "email", "inbox", "user",
    "unknown", "customer", "company", "group", "desk",
];

/// Words after a closing that are no name ("Thanks,\nbye", "Best regards, and see you
/// soon").
const NOT_SIGNED: &[&str] = &[
    "bye", "ciao", "cheers", "thanks", "everyone", "all", "you", "again", "sent", "iphone",
    "android", "mobile", "and", "see", "soon", "to", "the", "a", "an", "of", "for", "in", "on",
    "at", "with", "your", "my", "me", "us", "we", "und", "mit", "für", "et", "à", "vous", "pour",
    "con", "para", "looking", "forward", "hope", "waiting",
];

/// Name particles written in lower case inside a name ("Ludwig van Beethoven"), which do not
/// make a line a sentence.
const PARTICLES: &[&str] = &[
    "von", "van", "de", "der", "den", "da", "di", "du", "la", "le", "del", "della", "dos", "das",
    "bin", "ibn", "al", "el", "y", "e", "zu", "ten", "ter",
];

/// Closings before a name, in lower case without trailing punctuation: English, German,
/// French, Spanish.
const CLOSINGS: &[&str] = &[
    "best",
    "best regards",
    "kind regards",
    "warm regards",
    "warmest regards",
    "regards",
    "best wishes",
    "all the best",
    "sincerely",
    "yours sincerely",
    "sincerely yours",
    "yours truly",
    "yours faithfully",
    "respectfully",
    "take care",
    "cordially",
    "br",
    "cheers",
    "viele grüße",
    "viele grüsse",
    "vg",
    "beste grüße",
    "beste grüsse",
    "liebe grüße",
    "liebe grüsse",
    "lg",
    "mit freundlichen grüßen",
    "mit freundlichen grüssen",
    "mfg",
    "freundliche grüße",
    "freundliche grüsse",
    "schöne grüße",
    "herzliche grüße",
    "gruß",
    "grüße",
    "grüsse",
    "cordialement",
    "bien cordialement",
    "bien à vous",
    "salutations",
    "meilleures salutations",
    "sincères salutations",
    "amicalement",
    "bonne journée",
    "saludos",
    "un saludo",
    "saludos cordiales",
    "atentamente",
    "cordialmente",
    "un abrazo",
];

/// Closings that thank: a name after them on the same line may be the one thanked ("Thanks
/// Thanmai"), so it is taken only from the next line.
const THANKS: &[&str] = &[
    "thanks",
    "thank you",
    "thanks again",
    "thanks so much",
    "thank you so much",
    "many thanks",
    "thanks in advance",
    "thanks a lot",
    "thx",
    "with thanks",
    "danke",
    "vielen dank",
    "danke schön",
    "danke sehr",
    "besten dank",
    "herzlichen dank",
    "merci",
    "merci beaucoup",
    "merci d'avance",
    "merci par avance",
    "gracias",
    "muchas gracias",
    "mil gracias",
];

/// Footers of mobile clients ("Sent from my iPhone") that end the customer's own words.
const FOOTERS: &[&str] = &[
    "sent from ",
    "get outlook",
    "gesendet von ",
    "von meinem ",
    "envoyé de ",
    "envoyé à partir de ",
    "enviado desde ",
    "enviado de ",
    "diese nachricht wurde ",
];

/// A line that ends the customer's own words: a signature separator (`-- `), a rule of
/// dashes, underscores or equals signs, or a mobile client's footer.
fn is_signature_start(line: &str) -> bool {
    let rule = line.chars().count() >= 2 && line.chars().all(|c| "-—–_=*~".contains(c));
    let lower = line.to_lowercase();
    rule || FOOTERS.iter().any(|f| lower.starts_with(f))
}

/// Whether `line` is a closing: `Some("")` for a closing alone ("Best regards,"),
/// `Some(name)` for a closing with what follows its comma ("Regards, Roman"), `None` for
/// anything else.
fn closing(line: &str) -> Option<&str> {
    let is_closing = |text: &str, thanks_too: bool| {
        let phrase = phrase(text);
        CLOSINGS.contains(&phrase.as_str()) || (thanks_too && THANKS.contains(&phrase.as_str()))
    };
    if is_closing(line, true) || line.split(" / ").any(|part| is_closing(part, true)) {
        return Some("");
    }
    let (head, rest) = line.split_once(',')?;
    (is_closing(head, false) && !rest.trim().is_empty()).then(|| rest.trim())
}

/// A closing as compared: lower case, typographic apostrophes made plain, without what
/// follows its last letter (punctuation, an emoji).
fn phrase(text: &str) -> String {
    text.to_lowercase()
        .replace('’', "'")
        .trim_end_matches(|c: char| !c.is_alphabetic())
        .trim()
        .to_string()
}

/// The name in a line that follows a closing, if the line reads like a name: short, without
/// digits, addresses or links, not a sentence, then read like a display name.
fn name_line(line: &str) -> Option<String> {
    let line = sanitize::header_text(line, 80);
    let line = line
        .trim_start_matches(|c: char| "/-–—~*_ ".contains(c))
        .trim();
    let lower = line.to_lowercase();
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.is_empty()
        || words.len() > 4
        || line.chars().count() > 40
        || line.ends_with(['.', '?', ':', ';', ','])
        || line.chars().any(|c| c.is_numeric() || c == '@')
        || lower.contains("http")
        || lower.contains("www")
        || closing(line).is_some()
        || words
            .iter()
            .any(|w| NOT_SIGNED.contains(&w.to_lowercase().as_str()))
    {
        return None;
    }
    // "Looking forward": a capitalised word and lower-case ones (no particles) is a sentence;
    // a name is capitalised throughout, or written all in lower case and short ("alice doe").
    let named: Vec<&str> = words
        .iter()
        .copied()
        .filter(|w| !PARTICLES.contains(w))
        .collect();
    let lower_words = named
        .iter()
        .filter(|w| w.chars().any(char::is_lowercase) && !w.chars().any(char::is_uppercase))
        .count();
    if (lower_words > 0 && lower_words < named.len()) || (lower_words > 2) {
        return None;
    }
    given_name(line)
}

/// Whether `c` is written in a script whose names start with the family name and are said in
/// full: Han, Hiragana, Katakana, Hangul.
fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{1100}'..='\u{11FF}' | '\u{3040}'..='\u{30FF}' | '\u{3130}'..='\u{318F}'
        | '\u{31F0}'..='\u{31FF}' | '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}'
        | '\u{AC00}'..='\u{D7AF}' | '\u{F900}'..='\u{FAFF}' | '\u{20000}'..='\u{2FA1F}')
}

/// A display name without what is not the person's name: quotes, anything in brackets, and
/// what follows a relay or company separator.
fn strip_affixes(name: &str) -> String {
    let mut kept = String::with_capacity(name.len());
    let mut depth = 0usize;
    for c in name.chars() {
        match c {
            '(' | '[' | '<' | '{' => depth += 1,
            ')' | ']' | '>' | '}' => depth = depth.saturating_sub(1),
            _ if depth == 0 => kept.push(c),
            _ => {}
        }
    }
    let mut cut = kept.len();
    for separator in AFFIX_SEPARATORS {
        if let Some(i) = kept.find(separator) {
            cut = cut.min(i);
        }
    }
    kept[..cut]
        .trim_matches(|c: char| QUOTES.contains(&c) || c.is_whitespace() || c == ',' || c == ';')
        .to_string()
}

/// Lower case without dots, for comparing with [`TITLES`] and [`SUFFIXES`].
fn bare(word: &str) -> String {
    word.replace('.', "").to_lowercase()
}

/// An initial: one letter, with or without a dot, or several ("J.R.").
fn is_initial(word: &str) -> bool {
    let letters: Vec<char> = word.chars().filter(|c| *c != '.').collect();
    letters.len() == 1 || (word.contains('.') && word.split('.').all(|p| p.chars().count() <= 1))
}

/// A word in capitals counted as a family name ("DOE Alice"): three letters or more.
fn is_capitalised(word: &str) -> bool {
    word.chars().filter(|c| c.is_alphabetic()).count() >= 3
        && word.chars().any(char::is_uppercase)
        && !word.chars().any(char::is_lowercase)
}

/// The given name in a person's name as written (see the module's rules), or `None` when it
/// is no person's name.
fn given_name(name: &str) -> Option<String> {
    let name = strip_affixes(name);
    if name.is_empty() || name.contains('@') || name.chars().any(char::is_numeric) {
        return None;
    }
    let words = name.split([' ', ',']).filter(|w| !w.is_empty());
    if words
        .clone()
        .any(|w| is_handle(w) || NOT_PEOPLE.contains(&bare(w).as_str()))
        || words
            .clone()
            .all(|w| ROLES_ALONE.contains(&bare(w).as_str()))
    {
        return None;
    }
    if name.chars().find(|c| c.is_alphabetic()).is_some_and(is_cjk) {
        let full: Vec<&str> = words.take_while(|w| w.chars().any(is_cjk)).collect();
        let written = full.iter().flat_map(|w| w.chars());
        let valid = written
            .clone()
            .all(|c| c.is_alphabetic() || is_mark(c) || "・·-".contains(c));
        return valid.then(|| full.join(" "));
    }
    // "Doe, Alice": the given names follow the comma; "Alice Doe, PhD": a suffix does.
    let parts: Vec<&str> = name
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let (head, rest) = parts.split_first()?;
    let given_part = rest.iter().find(|p| !is_suffix_part(p));
    let family_follows = given_part.is_none();
    let mut words: Vec<&str> = given_part.unwrap_or(head).split_whitespace().collect();
    let titled = words
        .first()
        .is_some_and(|w| TITLES.contains(&bare(w).as_str()));
    while words
        .first()
        .is_some_and(|w| TITLES.contains(&bare(w).as_str()))
    {
        words.remove(0);
    }
    if titled && family_follows && words.len() == 1 {
        return None; // "Dr. Doe", "Herr Müller": a family name.
    }
    while words.len() > 1
        && words
            .last()
            .is_some_and(|w| SUFFIXES.contains(&bare(w).as_str()))
    {
        words.pop();
    }
    let first_name = words.iter().position(|w| !is_initial(w))?;
    if family_follows && first_name > 0 && first_name + 1 == words.len() {
        return None; // "J. Doe": only the family name is written out.
    }
    let words = &words[first_name..];
    let mixed = words.iter().any(|w| !is_capitalised(w));
    let given = if family_follows && mixed {
        words.iter().find(|w| !is_capitalised(w))?
    } else {
        words.first()?
    };
    let valid = given.chars().count() >= 2
        && given.chars().next().is_some_and(char::is_alphabetic)
        && given
            .chars()
            .all(|c| c.is_alphabetic() || is_mark(c) || "-'’".contains(c));
    valid.then(|| recase(given))
}

/// A comma part that is a suffix ("PhD", "Jr.") rather than given names.
fn is_suffix_part(part: &str) -> bool {
    part.split_whitespace()
        .all(|w| SUFFIXES.contains(&bare(w).as_str()))
}

/// A handle rather than a name: a dot inside a word that is no initial (`alice.doe`), or an
/// underscore.
fn is_handle(word: &str) -> bool {
    let bare = bare(word);
    if TITLES.contains(&bare.as_str()) || SUFFIXES.contains(&bare.as_str()) {
        return false;
    }
    word.contains('_') || (word.trim_end_matches('.').contains('.') && !is_initial(word))
}

/// A combining mark (written after a letter in decomposed text, and in Indic and Arabic
/// scripts).
fn is_mark(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{0610}'..='\u{061A}' | '\u{064B}'..='\u{065F}'
        | '\u{0900}'..='\u{0903}' | '\u{093A}'..='\u{094F}' | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}' | '\u{20D0}'..='\u{20FF}' | '\u{FE20}'..='\u{FE2F}')
}

/// A word all in lower case, or in capitals from three letters on, recased with a capital
/// at the start of each part ("jean-luc", "JEAN-LUC" → Jean-Luc); anything else unchanged.
fn recase(word: &str) -> String {
    let all_lower = word.chars().any(char::is_lowercase) && !word.chars().any(char::is_uppercase);
    if !all_lower && !is_capitalised(word) {
        return word.to_string();
    }
    let mut out = String::with_capacity(word.len());
    let lower = word.to_lowercase();
    let mut start = true;
    for c in lower.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = "-'’".contains(c);
    }
    out
}

#[cfg(test)]
mod tests;
