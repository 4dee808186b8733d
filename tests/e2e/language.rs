//! Issue 14, point 1: a German customer who writes German (no Content-Language) gets a German
//! acknowledgement whose promise of the agent's return reads in German, at the customer's
//! UTC offset from their Date header; the ticket records the language.

use jiff::ToSpan;
use jiff::tz::{Offset, TimeZone};

use crate::common::*;

const WOCHENTAGE: [&str; 7] = [
    "Montag",
    "Dienstag",
    "Mittwoch",
    "Donnerstag",
    "Freitag",
    "Samstag",
    "Sonntag",
];

/// A German mail from `from`, dated at UTC offset `offset` (e.g. `+0100`).
fn german_mail(from: &str, to: &str, offset: &str) -> String {
    let mid = format!("<{}@customer.test>", unique("m"));
    format!(
        "From: \"Anna Schmidt\" <{from}>\r\nTo: {to}\r\nSubject: Drucker druckt nicht\r\n\
Message-ID: {mid}\r\nDate: Wed, 25 Nov 2026 10:00:00 {offset}\r\nMIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
Hallo,\r\n\r\nmein Drucker druckt seit gestern nur noch leere Seiten. Können Sie mir bitte \
sagen, was ich tun soll?\r\n\r\nViele Grüße\r\nAnna\r\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the local mail stack: run scripts/test"]
async fn a_german_customer_is_acknowledged_in_german_with_the_return_in_german() {
    let stack = Stack::get();
    // Jason works in Berlin, only on the day three days from now: never today or tomorrow,
    // even if the test runs across midnight, so the promise names that weekday.
    let day = jiff::Zoned::now()
        .with_time_zone(TimeZone::get("Europe/Berlin").expect("zone"))
        .date()
        .checked_add(3.days())
        .expect("date");
    let back = day
        .at(9, 0, 0, 0)
        .in_tz("Europe/Berlin")
        .expect("Monday 09:00 in Berlin");
    let short = day.strftime("%a").to_string();
    let wochentag =
        WOCHENTAGE[usize::try_from(day.weekday().to_monday_zero_offset()).expect("day")];
    let mut d = Daemon::configure(
        &stack,
        Options {
            agent_extra: format!(
                "working_hours = \"{short} 09:00-17:00\"\ntimezone = \"Europe/Berlin\""
            ),
            ..Options::default()
        },
    );
    d.launch().await;

    // Anna writes from Berlin: her Date header has Berlin's offset, so the time is Berlin's,
    // named as the zone is.
    let berlin = back.offset().seconds();
    let anna = format!("{}@customer.test", unique("anna"));
    send_raw(
        &stack,
        Some(&anna),
        &d.support,
        german_mail(&anna, &d.support, &hhmm(berlin)),
    )
    .await;
    let ack = wait_for_mail(&stack, &anna, 1).await;
    let text = ack[0].text().replace("\r\n", " ").replace('\n', " ");
    let zone = back.strftime("%Z").to_string();
    assert!(text.starts_with("Hallo Anna,"), "{text}");
    assert!(
        text.contains(&format!(
            "Jason ist am {wochentag} um 09:00 Uhr {zone} wieder für Sie da und antwortet Ihnen dann."
        )),
        "{text}"
    );
    assert!(text.contains("Freundliche Grüße"), "{text}");
    let html = String::from_utf8_lossy(&ack[0].raw).to_string();
    assert!(
        html.contains("lang=3D\"de\"") || html.contains("lang=\"de\""),
        "{html}"
    );

    // Bruno writes German from New York (-0500): the same return at his offset, named.
    let bruno = format!("{}@customer.test", unique("bruno"));
    send_raw(
        &stack,
        Some(&bruno),
        &d.support,
        german_mail(&bruno, &d.support, "-0500"),
    )
    .await;
    let ack = wait_for_mail(&stack, &bruno, 1).await;
    let text = ack[0].text().replace("\r\n", " ").replace('\n', " ");
    let there = back.timestamp().to_zoned(TimeZone::fixed(
        Offset::from_seconds(-5 * 3600).expect("offset"),
    ));
    let wochentag =
        WOCHENTAGE[usize::try_from(there.weekday().to_monday_zero_offset()).expect("day")];
    assert!(
        text.contains(&format!(
            "Jason ist am {wochentag} um {:02}:00 Uhr UTC-5 wieder für Sie da",
            there.hour()
        )),
        "{text}"
    );

    wait_quiet(&stack, &d).await;
    d.stop().await;
    let tickets = d.cli_json(&["tickets", "list"]);
    let id = tickets
        .as_array()
        .expect("array")
        .iter()
        .find(|t| t["customer"] == anna)
        .expect("anna's ticket")["id"]
        .to_string();
    let shown = d.cli_json(&["tickets", "show", &id]);
    assert_eq!(shown["language"], "de", "{shown}");
    let text = d.cli(&["tickets", "show", &id]);
    assert!(text.contains("language  de"), "{text}");
}

/// `+0100` for 3600 seconds.
fn hhmm(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let s = seconds.abs();
    format!("{sign}{:02}{:02}", s / 3600, s % 3600 / 60)
}
