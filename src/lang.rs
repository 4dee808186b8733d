//! The customer's language: which template set a ticket's mail to the customer is written
//! in, and how a date reads in it. Pure: the clues (earlier tickets, `Content-Language`, the
//! customer's own words, the inbox's default) are handed in, the template sets available are
//! a predicate, and the clock is a parameter.
//!
//! The order is the issue's: what the customer's earlier tickets were answered in (they read
//! it before), the mail's `Content-Language` (their client says so), detection on their own
//! words (whatlang, offline, only a reliable result on enough text), the inbox's default.
//! A clue naming a language without a template set falls through to the next one.

use jiff::tz::{Offset, TimeZone};
use jiff::{Timestamp, Zoned};

use crate::mail::relay::text_before_quote;

/// The language every desk has: the templates at the top of the templates directory.
pub const ENGLISH: &str = "en";

/// Where a ticket's language came from (logged with the choice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LanguageSource {
    /// The language the customer's most recent earlier ticket was answered in.
    EarlierTicket,
    /// The mail's `Content-Language` header.
    ContentLanguage,
    /// Detected in the customer's own words.
    Detected,
    /// The inbox's `language` (or `service.language`).
    InboxDefault,
    /// None of the above has a template set: English.
    Fallback,
}

/// What a new ticket's language is chosen from.
#[derive(Debug, Clone, Copy, Default)]
pub struct LanguageClues<'a> {
    /// The language stored on the customer's most recent earlier ticket that has one.
    pub earlier: Option<&'a str>,
    /// The raw `Content-Language` header of the mail.
    pub content_language: Option<&'a str>,
    /// The mail's text (quote and signature are cut here).
    pub text: &'a str,
    /// The inbox's default language.
    pub inbox_default: &'a str,
}

/// Chooses the language of a new ticket: the first clue, in the order of [`LanguageClues`],
/// that names a language `has_set` accepts; English when none does.
pub fn choose_language(
    clues: &LanguageClues<'_>,
    has_set: impl Fn(&str) -> bool,
) -> (String, LanguageSource) {
    // In order, and lazily: detection (the only costly clue) runs only when neither an
    // earlier ticket nor the mail's own header named a language we have.
    let pick = |lang: Option<String>| lang.filter(|l| has_set(l));
    if let Some(l) = pick(clues.earlier.and_then(normalize)) {
        return (l, LanguageSource::EarlierTicket);
    }
    if let Some(l) = pick(clues.content_language.and_then(content_language)) {
        return (l, LanguageSource::ContentLanguage);
    }
    if let Some(l) = pick(detect(clues.text).map(str::to_string)) {
        return (l, LanguageSource::Detected);
    }
    if let Some(l) = pick(normalize(clues.inbox_default)) {
        return (l, LanguageSource::InboxDefault);
    }
    (ENGLISH.to_string(), LanguageSource::Fallback)
}

/// A language tag's primary subtag in lower case (`de-AT` → `de`), if it is one: two or
/// three ASCII letters.
pub fn normalize(tag: &str) -> Option<String> {
    let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
    ((2..=3).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_lowercase()))
        .then_some(primary)
}

/// The primary subtag of the first tag of a `Content-Language` value (RFC 3282:
/// `de-DE, en` → `de`).
pub fn content_language(value: &str) -> Option<String> {
    normalize(value.split(',').next()?)
}

/// Fewer words than this are too few to tell a language by.
const MIN_WORDS: usize = 5;
/// Fewer letters than this, likewise.
const MIN_LETTERS: usize = 25;

/// Detection reads at most this many characters of the customer's own words: enough to tell
/// a language, and a mail of megabytes costs no more than a short one.
const DETECT_CHARS: usize = 2000;

/// The language of the customer's own words (above any quote, without the signature), as an
/// ISO 639-1 code, when whatlang is sure of it (its "reliable" confidence) and the text is
/// long enough to tell; `None` otherwise.
pub fn detect(text: &str) -> Option<&'static str> {
    let own: String = text_before_quote(text)
        .lines()
        .take_while(|line| *line != "-- " && line.trim() != "--")
        .collect::<Vec<_>>()
        .join("\n")
        .chars()
        .take(DETECT_CHARS)
        .collect();
    let words = own
        .split_whitespace()
        .filter(|w| w.chars().any(char::is_alphabetic))
        .count();
    let letters = own.chars().filter(|c| c.is_alphabetic()).count();
    if words < MIN_WORDS || letters < MIN_LETTERS {
        return None;
    }
    let info = whatlang::detect(&own)?;
    if !info.is_reliable() {
        return None;
    }
    iso639_1(info.lang().code())
}

/// ISO 639-3 (whatlang's codes) to ISO 639-1 (template directories), for the languages a
/// desk is likely to write templates for.
fn iso639_1(code: &str) -> Option<&'static str> {
    const TABLE: &[(&str, &str)] = &[
        ("eng", "en"),
        ("deu", "de"),
        ("fra", "fr"),
        ("spa", "es"),
        ("ita", "it"),
        ("por", "pt"),
        ("nld", "nl"),
        ("dan", "da"),
        ("swe", "sv"),
        ("nob", "nb"),
        ("fin", "fi"),
        ("pol", "pl"),
        ("ces", "cs"),
        ("slk", "sk"),
        ("hun", "hu"),
        ("ron", "ro"),
        ("tur", "tr"),
        ("rus", "ru"),
        ("ukr", "uk"),
        ("ell", "el"),
        ("jpn", "ja"),
        ("cmn", "zh"),
        ("kor", "ko"),
        ("ara", "ar"),
        ("heb", "he"),
    ];
    TABLE.iter().find(|(c, _)| *c == code).map(|(_, l)| *l)
}

/// Weekday names, Monday first, and month names, January first, per language we have a
/// table for; other languages read English ones.
struct Names {
    weekdays: [&'static str; 7],
    months: [&'static str; 12],
}

const EN: Names = Names {
    weekdays: [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ],
    months: [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
};

const DE: Names = Names {
    weekdays: [
        "Montag",
        "Dienstag",
        "Mittwoch",
        "Donnerstag",
        "Freitag",
        "Samstag",
        "Sonntag",
    ],
    months: [
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ],
};

const FR: Names = Names {
    weekdays: [
        "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
    ],
    months: [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ],
};

const ES: Names = Names {
    weekdays: [
        "lunes",
        "martes",
        "miércoles",
        "jueves",
        "viernes",
        "sábado",
        "domingo",
    ],
    months: [
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ],
};

/// A return more than this many days ahead is described with its date, not the weekday
/// alone ("Monday" would be the wrong Monday).
const WEEKDAY_ONLY_DAYS: i32 = 6;

/// When someone is back, as a customer reads it in `lang` ("Monday at 09:00 CET", "am
/// Montag um 09:00 Uhr CET", "lundi à 9 h 00 CET", "el lunes a las 9:00 CET"): at the
/// customer's UTC offset when their mail's Date header gave one (`customer_offset`, in
/// seconds), else in the agent's zone, and the zone always named.
pub fn describe_return(
    back: &Zoned,
    now: Timestamp,
    lang: &str,
    customer_offset: Option<i32>,
) -> String {
    let (at, zone) = match customer_offset.and_then(|s| Offset::from_seconds(s).ok()) {
        Some(offset) if offset != back.offset() => (
            back.timestamp().to_zoned(TimeZone::fixed(offset)),
            offset_name(offset),
        ),
        _ => (back.clone(), back.strftime("%Z").to_string()),
    };
    let today = now.to_zoned(at.time_zone().clone()).date();
    // Days are counted in the zone shown: "tomorrow" is the customer's tomorrow.
    let days = today
        .until(at.date())
        .map_or(i32::MAX, |span| span.get_days().max(0));
    let (hour, minute) = (at.hour(), at.minute());
    let weekday = usize::try_from(at.weekday().to_monday_zero_offset()).unwrap_or(0);
    let month = usize::try_from(at.month() - 1).unwrap_or(0);
    let day = at.day();
    match lang {
        "de" => {
            let when = match days {
                0 => "heute".to_string(),
                1 => "morgen".to_string(),
                d if d <= WEEKDAY_ONLY_DAYS => format!("am {}", DE.weekdays[weekday]),
                _ => format!("am {}, {day}. {},", DE.weekdays[weekday], DE.months[month]),
            };
            format!("{when} um {hour:02}:{minute:02} Uhr {zone}")
        }
        "fr" => {
            let when = match days {
                0 => "aujourd'hui".to_string(),
                1 => "demain".to_string(),
                d if d <= WEEKDAY_ONLY_DAYS => FR.weekdays[weekday].to_string(),
                _ => {
                    let day = if day == 1 {
                        "1er".to_string()
                    } else {
                        day.to_string()
                    };
                    format!("le {} {day} {}", FR.weekdays[weekday], FR.months[month])
                }
            };
            format!("{when} à {hour}\u{a0}h\u{a0}{minute:02} {zone}")
        }
        "es" => {
            let when = match days {
                0 => "hoy".to_string(),
                1 => "mañana".to_string(),
                d if d <= WEEKDAY_ONLY_DAYS => format!("el {}", ES.weekdays[weekday]),
                _ => format!("el {} {day} de {}", ES.weekdays[weekday], ES.months[month]),
            };
            let article = if hour == 1 { "a la" } else { "a las" };
            format!("{when} {article} {hour}:{minute:02} {zone}")
        }
        _ => {
            let when = match days {
                0 => "today".to_string(),
                1 => "tomorrow".to_string(),
                d if d <= WEEKDAY_ONLY_DAYS => EN.weekdays[weekday].to_string(),
                _ => format!("{}, {day} {}", EN.weekdays[weekday], EN.months[month]),
            };
            format!("{when} at {hour:02}:{minute:02} {zone}")
        }
    }
}

/// A wait in words for a customer in `lang`, rounded up so the promise holds: "15 minutes",
/// "1 hour", "3 hours" ("3 Stunden", "3 heures", "3 horas"). Minutes in fives up to 50, then
/// whole hours.
pub fn describe_wait(wait: std::time::Duration, lang: &str) -> String {
    let minutes = wait.as_secs().div_ceil(60).max(1);
    let (count, one, many) = if minutes <= 50 {
        let (one, many) = match lang {
            "de" => ("Minute", "Minuten"),
            "es" => ("minuto", "minutos"),
            _ => ("minute", "minutes"),
        };
        (minutes.div_ceil(5) * 5, one, many)
    } else {
        let (one, many) = match lang {
            "de" => ("Stunde", "Stunden"),
            "fr" => ("heure", "heures"),
            "es" => ("hora", "horas"),
            _ => ("hour", "hours"),
        };
        (minutes.div_ceil(60), one, many)
    };
    format!("{count} {}", if count == 1 { one } else { many })
}

/// A day as a customer reads it in `lang`: "Monday 28 December", "Montag, 28. Dezember",
/// "lundi 28 décembre", "lunes 28 de diciembre".
pub fn describe_day(date: jiff::civil::Date, lang: &str) -> String {
    let weekday = usize::try_from(date.weekday().to_monday_zero_offset()).unwrap_or(0);
    let month = usize::try_from(date.month() - 1).unwrap_or(0);
    let day = date.day();
    match lang {
        "de" => format!("{}, {day}. {}", DE.weekdays[weekday], DE.months[month]),
        "fr" => {
            let day = if day == 1 {
                "1er".to_string()
            } else {
                day.to_string()
            };
            format!("{} {day} {}", FR.weekdays[weekday], FR.months[month])
        }
        "es" => format!("{} {day} de {}", ES.weekdays[weekday], ES.months[month]),
        _ => format!("{} {day} {}", EN.weekdays[weekday], EN.months[month]),
    }
}

/// A fixed offset as a customer recognises it: `UTC`, `UTC+1`, `UTC-5`, `UTC+5:30`.
fn offset_name(offset: Offset) -> String {
    let secs = offset.seconds();
    if secs == 0 {
        return "UTC".into();
    }
    let sign = if secs < 0 { '-' } else { '+' };
    let (h, m) = (secs.abs() / 3600, secs.abs() % 3600 / 60);
    if m == 0 {
        format!("UTC{sign}{h}")
    } else {
        format!("UTC{sign}{h}:{m:02}")
    }
}

#[cfg(test)]
mod tests;
