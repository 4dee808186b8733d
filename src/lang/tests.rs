use jiff::Zoned;

use super::*;

/// The sets a desk with the shipped templates has.
fn shipped(lang: &str) -> bool {
    ["en", "de", "fr", "es"].contains(&lang)
}

const GERMAN: &str = "Hallo, mein Drucker druckt seit gestern nur noch leere Seiten. \
Können Sie mir bitte sagen, was ich tun soll?\n\nViele Grüße\nAnna";
const FRENCH: &str = "Bonjour, depuis hier mon imprimante n'imprime plus que des pages \
blanches. Pouvez-vous me dire ce que je dois faire ?\n\nCordialement\nAnne";
const ENGLISH_TEXT: &str = "Hello, since yesterday my printer only prints empty pages. \
Could you please tell me what I should do about it?\n\nThanks\nAnn";

fn clues<'a>(text: &'a str) -> LanguageClues<'a> {
    LanguageClues {
        earlier: None,
        content_language: None,
        text,
        inbox_default: "en",
    }
}

#[test]
fn an_earlier_ticket_language_comes_first() {
    let c = LanguageClues {
        earlier: Some("fr"),
        content_language: Some("de-DE"),
        ..clues(GERMAN)
    };
    assert_eq!(
        choose_language(&c, shipped),
        ("fr".to_string(), LanguageSource::EarlierTicket)
    );
}

#[test]
fn content_language_comes_before_detection() {
    let c = LanguageClues {
        content_language: Some("es-MX, en"),
        ..clues(GERMAN)
    };
    assert_eq!(
        choose_language(&c, shipped),
        ("es".to_string(), LanguageSource::ContentLanguage)
    );
}

#[test]
fn detection_comes_before_the_inbox_default() {
    let c = LanguageClues {
        inbox_default: "fr",
        ..clues(GERMAN)
    };
    assert_eq!(
        choose_language(&c, shipped),
        ("de".to_string(), LanguageSource::Detected)
    );
}

#[test]
fn the_inbox_default_when_nothing_else_tells() {
    let c = LanguageClues {
        inbox_default: "de",
        ..clues("ok, thx")
    };
    assert_eq!(
        choose_language(&c, shipped),
        ("de".to_string(), LanguageSource::InboxDefault)
    );
}

#[test]
fn languages_without_a_set_fall_through() {
    // Italian everywhere, but no Italian templates: each clue is passed over in turn.
    let c = LanguageClues {
        earlier: Some("it"),
        content_language: Some("it-IT"),
        text: "Buongiorno, da ieri la mia stampante stampa solo pagine bianche. \
               Potete dirmi cosa devo fare?",
        inbox_default: "it",
    };
    assert_eq!(
        choose_language(&c, shipped),
        ("en".to_string(), LanguageSource::Fallback)
    );
    // The same clues with an Italian set choose it from the earliest source.
    assert_eq!(
        choose_language(&c, |l| l == "it" || l == "en").1,
        LanguageSource::EarlierTicket
    );
    // A Content-Language without a set falls through to detection.
    let c = LanguageClues {
        content_language: Some("nl"),
        ..clues(FRENCH)
    };
    assert_eq!(
        choose_language(&c, shipped),
        ("fr".to_string(), LanguageSource::Detected)
    );
}

#[test]
fn content_language_reads_the_first_tag_primary_subtag() {
    assert_eq!(content_language("de-DE, en").as_deref(), Some("de"));
    assert_eq!(content_language(" FR ").as_deref(), Some("fr"));
    assert_eq!(content_language("").as_deref(), None);
    assert_eq!(content_language("x-klingon").as_deref(), None);
    assert_eq!(content_language("german").as_deref(), None);
    assert_eq!(content_language("d\u{e9}").as_deref(), None);
}

#[test]
fn detection_reads_the_customers_own_words_only() {
    assert_eq!(detect(GERMAN), Some("de"));
    assert_eq!(detect(FRENCH), Some("fr"));
    assert_eq!(detect(ENGLISH_TEXT), Some("en"));
    // An English reply above a quoted German mail is English.
    let reply = format!(
        "Hello, I tried that but the printer still prints only empty pages, sorry.\n\n\
         On Mon, 1 Dec 2026, Support wrote:\n> {}",
        GERMAN.replace('\n', "\n> ")
    );
    assert_eq!(detect(&reply), Some("en"));
    // A long German signature under a short English line says nothing.
    let signed = "Thanks!\n-- \nMit freundlichen Grüßen, Anna Schmidt, Geschäftsführerin der \
                  Musterfirma GmbH, Hauptstraße 1, Berlin";
    assert_eq!(detect(signed), None);
}

#[test]
fn detection_needs_enough_text() {
    assert_eq!(detect("Danke!"), None);
    assert_eq!(detect("Hallo, geht nicht"), None);
    assert_eq!(detect(""), None);
    assert_eq!(detect("1234 5678 9999 0000 1111 2222"), None);
}

fn zoned(s: &str) -> Zoned {
    s.parse().expect("zoned")
}

fn ts(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

#[test]
fn return_in_each_language_in_the_agents_zone() {
    // Friday evening in Berlin; back Monday morning.
    let back = zoned("2026-12-07T09:00[Europe/Berlin]");
    let now = ts("2026-12-04T18:00:00Z");
    assert_eq!(
        describe_return(&back, now, "en", None),
        "Monday at 09:00 CET"
    );
    assert_eq!(
        describe_return(&back, now, "de", None),
        "am Montag um 09:00 Uhr CET"
    );
    assert_eq!(
        describe_return(&back, now, "fr", None),
        "lundi à 9\u{a0}h\u{a0}00 CET"
    );
    assert_eq!(
        describe_return(&back, now, "es", None),
        "el lunes a las 9:00 CET"
    );
    // A language without a table reads English names.
    assert_eq!(
        describe_return(&back, now, "it", None),
        "Monday at 09:00 CET"
    );
}

#[test]
fn today_tomorrow_and_far_ahead() {
    let now = ts("2026-12-04T10:00:00Z");
    let today = zoned("2026-12-04T14:00[Europe/Berlin]");
    let tomorrow = zoned("2026-12-05T09:30[Europe/Berlin]");
    let far = zoned("2026-12-14T09:00[Europe/Berlin]");
    assert_eq!(
        describe_return(&today, now, "de", None),
        "heute um 14:00 Uhr CET"
    );
    assert_eq!(
        describe_return(&tomorrow, now, "fr", None),
        "demain à 9\u{a0}h\u{a0}30 CET"
    );
    assert_eq!(
        describe_return(&far, now, "en", None),
        "Monday, 14 December at 09:00 CET"
    );
    assert_eq!(
        describe_return(&far, now, "de", None),
        "am Montag, 14. Dezember, um 09:00 Uhr CET"
    );
    assert_eq!(
        describe_return(&far, now, "es", None),
        "el lunes 14 de diciembre a las 9:00 CET"
    );
    assert_eq!(
        describe_return(&far, now, "fr", None),
        "le lundi 14 décembre à 9\u{a0}h\u{a0}00 CET"
    );
    let first = zoned("2027-01-01T13:00[Europe/Berlin]");
    assert_eq!(
        describe_return(&first, now, "es", None),
        "el viernes 1 de enero a las 13:00 CET"
    );
}

#[test]
fn the_customers_offset_moves_the_time_and_names_it() {
    // Back Monday 09:00 in Berlin; the customer wrote from New York (-0500).
    let back = zoned("2026-12-07T09:00[Europe/Berlin]");
    let now = ts("2026-12-04T18:00:00Z");
    assert_eq!(
        describe_return(&back, now, "en", Some(-5 * 3600)),
        "Monday at 03:00 UTC-5"
    );
    // India, half hours.
    assert_eq!(
        describe_return(&back, now, "en", Some(5 * 3600 + 1800)),
        "Monday at 13:30 UTC+5:30"
    );
    // The same offset as the agent's zone keeps the zone's name.
    assert_eq!(
        describe_return(&back, now, "de", Some(3600)),
        "am Montag um 09:00 Uhr CET"
    );
    // Tokyo (+0900): 09:00 in Berlin is 17:00 there.
    assert_eq!(
        describe_return(&back, now, "es", Some(9 * 3600)),
        "el lunes a las 17:00 UTC+9"
    );
    // Across midnight the day is the customer's: 01:00 Monday in Berlin is Sunday in
    // California.
    let late = zoned("2026-12-07T01:00[Europe/Berlin]");
    assert_eq!(
        describe_return(&late, now, "fr", Some(-8 * 3600)),
        "dimanche à 16\u{a0}h\u{a0}00 UTC-8"
    );
    assert_eq!(
        describe_return(&late, now, "en", Some(0)),
        "Monday at 00:00 UTC"
    );
    // One o'clock in Spanish takes the singular.
    let one = zoned("2026-12-07T01:00[Europe/Berlin]");
    assert_eq!(
        describe_return(&one, now, "es", None),
        "el lunes a la 1:00 CET"
    );
}

#[test]
fn waits_and_days_in_each_language() {
    let h = |s: u64| std::time::Duration::from_secs(s);
    assert_eq!(describe_wait(h(2 * 3600), "de"), "2 Stunden");
    assert_eq!(describe_wait(h(3600), "de"), "1 Stunde");
    assert_eq!(describe_wait(h(600), "de"), "10 Minuten");
    assert_eq!(describe_wait(h(3 * 3600), "fr"), "3 heures");
    assert_eq!(describe_wait(h(60), "fr"), "5 minutes");
    assert_eq!(describe_wait(h(3600), "es"), "1 hora");
    assert_eq!(describe_wait(h(900), "es"), "15 minutos");
    assert_eq!(describe_wait(h(3601), "en"), "2 hours");
    let day = jiff::civil::date(2026, 12, 28);
    assert_eq!(describe_day(day, "en"), "Monday 28 December");
    assert_eq!(describe_day(day, "de"), "Montag, 28. Dezember");
    assert_eq!(describe_day(day, "fr"), "lundi 28 décembre");
    assert_eq!(describe_day(day, "es"), "lunes 28 de diciembre");
    assert_eq!(
        describe_day(jiff::civil::date(2027, 1, 1), "fr"),
        "vendredi 1er janvier"
    );
}

/// Detection reads the start of a long mail only: its cost does not grow with the mail, and
/// the words the customer wrote first decide.
#[test]
fn detection_reads_only_the_start_of_a_long_mail() {
    // A German start longer than what is read, then far more English.
    let german = GERMAN.replace("\nAnna", "").repeat(20);
    assert!(german.chars().count() > DETECT_CHARS);
    let long = format!(
        "{german}\n\n{}",
        ENGLISH_TEXT.replace("\nAnn", "").repeat(2000)
    );
    assert!(long.len() > 100 * DETECT_CHARS);
    assert_eq!(detect(&long), Some("de"));
}
