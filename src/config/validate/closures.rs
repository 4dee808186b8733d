//! The `[[closures]]` table: holidays and other days off, as dates or from a calendar file,
//! for everyone, a team or an agent. They become part of each agent's working hours, so
//! availability, the "back at" promise and the SLA clock all see them.

use std::path::Path;

use icalendar::{CalendarComponent, CalendarDateTime, Component, DatePerhapsTime};
use jiff::civil::Date;

use super::Collector;
use crate::config::raw::{RawClosure, RawTeam};
use crate::config::{Agent, Closure, ClosureScope};
use crate::domain::{AgentEmail, EmailAddress};
use crate::hours::ClosedDays;

/// A closure longer than this is a typo (a year off by one), not a holiday.
const MAX_DAYS: i32 = 366;

/// At most this many events are read from one calendar file.
const MAX_EVENTS: usize = 5000;

/// Checks every `[[closures]]` entry (reading calendar files relative to the configuration
/// file's directory `base`) and returns the closures.
pub(super) fn closures(
    c: &mut Collector,
    raw: &[RawClosure],
    agents: &[Agent],
    teams: &[RawTeam],
    base: &Path,
) -> Vec<Closure> {
    let mut out = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let key = format!("closures[{i}]");
        let Some(scope) = scope(c, &key, r, agents, teams) else {
            continue;
        };
        let name = r
            .name
            .as_deref()
            .map(|n| crate::mail::sanitize::header_text(n, 60))
            .filter(|n| !n.is_empty());
        if r.ics.is_some() && (r.from.is_some() || r.to.is_some()) {
            c.add(
                &key,
                "has both a calendar file (ics) and dates (from/to)",
                "give either ics = \"/etc/frontdesk/holidays.ics\" or from/to, in separate [[closures]] entries",
            );
            continue;
        }
        match (&r.ics, &r.from) {
            (Some(file), _) => {
                let path = base.join(file);
                let text = match std::fs::read_to_string(&path) {
                    Ok(t) => t,
                    Err(e) => {
                        c.add(
                            &format!("{key}.ics"),
                            format!("{} cannot be read: {e}", path.display()),
                            "point it at a readable iCalendar (.ics) file; a relative name is read next to the configuration file",
                        );
                        continue;
                    }
                };
                match ics_closures(&text) {
                    Ok(events) => out.extend(events.into_iter().map(|(summary, days)| Closure {
                        name: name.clone().or(summary),
                        days,
                        scope: scope.clone(),
                    })),
                    Err(e) => c.add(
                        &format!("{key}.ics"),
                        format!("{}: {e}", path.display()),
                        "export the calendar again as iCalendar with each day off as its own event",
                    ),
                }
            }
            (None, None) => c.add(
                &key,
                "names no days",
                "add from = \"2026-12-24\" (and to = \"2026-12-26\" for several days), or ics = \"/etc/frontdesk/holidays.ics\"",
            ),
            (None, Some(from)) => {
                let first = date(c, &format!("{key}.from"), from);
                let last = match &r.to {
                    Some(to) => date(c, &format!("{key}.to"), to),
                    None => first,
                };
                let (Some(first), Some(last)) = (first, last) else {
                    continue;
                };
                if let Some(problem) = span_problem(first, last) {
                    c.add(
                        &format!("{key}.to"),
                        problem,
                        "give the last day off, on or after from, within a year",
                    );
                    continue;
                }
                out.push(Closure {
                    name,
                    days: ClosedDays { first, last },
                    scope,
                });
            }
        }
    }
    out
}

/// Whom entry `key` applies to; `None` (with a problem) when it names an unknown team or
/// agent, or both.
fn scope(
    c: &mut Collector,
    key: &str,
    r: &RawClosure,
    agents: &[Agent],
    teams: &[RawTeam],
) -> Option<ClosureScope> {
    match (&r.team, &r.agent) {
        (Some(_), Some(_)) => {
            c.add(
                key,
                "names both a team and an agent",
                "give one of them, or neither for a closure of the whole desk",
            );
            None
        }
        (Some(team), None) => {
            let known = teams.iter().any(|t| &t.name == team)
                || agents.iter().any(|a| a.teams.contains(team));
            if !known {
                c.add(
                    &format!("{key}.team"),
                    format!("no agent is in team {team:?}"),
                    "use a team named in an agent's teams, or leave team out for everyone",
                );
                return None;
            }
            Some(ClosureScope::Team(team.clone()))
        }
        (None, Some(agent)) => {
            let found = EmailAddress::parse(agent)
                .map(AgentEmail::new)
                .filter(|e| agents.iter().any(|a| &a.email == e));
            match found {
                Some(email) => Some(ClosureScope::Agent(email)),
                None => {
                    c.add(
                        &format!("{key}.agent"),
                        format!("{agent:?} is not a configured agent's address"),
                        "use the email of one of the [[agents]]",
                    );
                    None
                }
            }
        }
        (None, None) => Some(ClosureScope::Everyone),
    }
}

/// A `YYYY-MM-DD` date, or a problem under `key`.
fn date(c: &mut Collector, key: &str, text: &str) -> Option<Date> {
    match text.trim().parse::<Date>() {
        Ok(d) => Some(d),
        Err(_) => {
            c.add(
                key,
                format!("{text:?} is not a date"),
                "write it as YYYY-MM-DD, e.g. \"2026-12-24\"",
            );
            None
        }
    }
}

/// Why `first`..`last` is no closure, if it is not one.
fn span_problem(first: Date, last: Date) -> Option<String> {
    if last < first {
        return Some(format!("{last} is before {first}"));
    }
    match first.until(last).map(|s| s.get_days()) {
        Ok(days) if days < MAX_DAYS => None,
        _ => Some(format!("{first} to {last} is longer than a year")),
    }
}

/// The days off an iCalendar text lists: every VEVENT's days (a DATE end is exclusive, as
/// RFC 5545 §3.6.1 says; a DATE-TIME end at midnight ends the day before) with its SUMMARY.
/// Cancelled events are left out. Recurring events (RRULE, RDATE) are refused rather than
/// read as one day: a holiday that silently counted once would be worse than an error.
pub fn ics_closures(text: &str) -> Result<Vec<(Option<String>, ClosedDays)>, String> {
    if !text.trim_start().starts_with("BEGIN:VCALENDAR") {
        return Err("not an iCalendar file (it does not begin with BEGIN:VCALENDAR)".into());
    }
    let calendar: icalendar::Calendar = text
        .parse()
        .map_err(|e: String| format!("not valid iCalendar: {}", first_line(&e)))?;
    let mut out = Vec::new();
    for component in &calendar.components {
        let CalendarComponent::Event(event) = component else {
            continue;
        };
        let summary = event
            .get_summary()
            .map(|s| crate::mail::sanitize::header_text(s, 60))
            .filter(|s| !s.is_empty());
        let what = summary.clone().unwrap_or_else(|| "an event".into());
        if event
            .property_value("STATUS")
            .is_some_and(|s| s.eq_ignore_ascii_case("CANCELLED"))
        {
            continue;
        }
        if event.property_value("RRULE").is_some() || event.property_value("RDATE").is_some() {
            return Err(format!(
                "{what} repeats (RRULE/RDATE), which is not read; list each occurrence as an event"
            ));
        }
        let first = match event.get_start() {
            Some(start) => start_date(&start),
            None => None,
        }
        .ok_or_else(|| format!("{what} has no usable DTSTART"))?;
        let last = match event.get_end() {
            Some(end) => end_date(&end).unwrap_or(first),
            None => first,
        }
        .max(first);
        if let Some(problem) = span_problem(first, last) {
            return Err(format!("{what}: {problem}"));
        }
        out.push((summary, ClosedDays { first, last }));
        if out.len() > MAX_EVENTS {
            return Err(format!("more than {MAX_EVENTS} events"));
        }
    }
    Ok(out)
}

/// The first line of a parser's message (the nom errors quote the whole rest of the file).
fn first_line(message: &str) -> &str {
    let line = message.lines().next().unwrap_or("");
    match line.char_indices().nth(120) {
        Some((i, _)) => &line[..i],
        None => line,
    }
}

/// A civil date from chrono's.
fn civil(d: chrono::NaiveDate) -> Option<Date> {
    use chrono::Datelike;
    Date::new(
        i16::try_from(d.year()).ok()?,
        i8::try_from(d.month()).ok()?,
        i8::try_from(d.day()).ok()?,
    )
    .ok()
}

/// The date of a DATE-TIME value as written (UTC, floating or with its TZID: whole days
/// off are meant in the local calendar, so the written date is the day).
fn naive(dt: &CalendarDateTime) -> chrono::NaiveDateTime {
    match dt {
        CalendarDateTime::Floating(n) => *n,
        CalendarDateTime::Utc(u) => u.naive_utc(),
        CalendarDateTime::WithTimezone { date_time, .. } => *date_time,
    }
}

/// The first day of an event.
fn start_date(v: &DatePerhapsTime) -> Option<Date> {
    match v {
        DatePerhapsTime::Date(d) => civil(*d),
        DatePerhapsTime::DateTime(dt) => civil(naive(dt).date()),
    }
}

/// The last day of an event from its DTEND.
fn end_date(v: &DatePerhapsTime) -> Option<Date> {
    use chrono::Timelike;
    match v {
        DatePerhapsTime::Date(d) => civil(*d)?.yesterday().ok(),
        DatePerhapsTime::DateTime(dt) => {
            let n = naive(dt);
            let day = civil(n.date())?;
            if n.num_seconds_from_midnight() == 0 {
                day.yesterday().ok()
            } else {
                Some(day)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        s.parse().expect("date")
    }

    #[test]
    fn all_day_events_end_the_day_before_their_dtend() {
        let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n\
BEGIN:VEVENT\r\nUID:1@test\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Christmas\r\n\
DTSTART;VALUE=DATE:20261224\r\nDTEND;VALUE=DATE:20261227\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:2@test\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:New Year\\, too\r\n\
DTSTART;VALUE=DATE:20270101\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:3@test\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Offsite\r\n\
DTSTART:20261005T080000Z\r\nDTEND:20261006T000000Z\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:4@test\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Called off\r\nSTATUS:CANCELLED\r\n\
DTSTART;VALUE=DATE:20261111\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let got = ics_closures(ics).expect("parses");
        let days: Vec<(Option<&str>, Date, Date)> = got
            .iter()
            .map(|(n, c)| (n.as_deref(), c.first, c.last))
            .collect();
        assert_eq!(
            days,
            vec![
                (Some("Christmas"), d("2026-12-24"), d("2026-12-26")),
                (Some("New Year, too"), d("2027-01-01"), d("2027-01-01")),
                (Some("Offsite"), d("2026-10-05"), d("2026-10-05")),
            ]
        );
    }

    /// A real published calendar (tests/fixtures/ics/README.md): every bank holiday, one day
    /// each, with its name as GOV.UK writes it.
    #[test]
    fn gov_uks_bank_holiday_calendar_is_read_day_by_day() {
        let ics = include_str!("../../../tests/fixtures/ics/gov-uk-scotland.ics");
        let got = ics_closures(ics).expect("parses");
        assert_eq!(got.len(), 75);
        assert!(got.iter().all(|(_, c)| c.first == c.last), "one day each");
        let on = |day: &str| {
            got.iter()
                .find(|(_, c)| c.contains(d(day)))
                .and_then(|(name, _)| name.clone())
        };
        assert_eq!(on("2025-12-25").as_deref(), Some("Christmas Day"));
        assert_eq!(on("2024-12-02").as_deref(), Some("St Andrew\u{2019}s Day"));
        assert_eq!(
            on("2020-12-28").as_deref(),
            Some("Boxing Day"),
            "substitute day"
        );
        assert_eq!(
            on("2020-12-26"),
            None,
            "the Saturday itself is no bank holiday"
        );
        assert_eq!(on("2025-12-27"), None);
    }

    #[test]
    fn a_calendar_that_cannot_be_read_right_is_refused() {
        assert!(ics_closures("hello").is_err());
        let repeating = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:1@test\r\n\
SUMMARY:Christmas\r\nDTSTART;VALUE=DATE:20261225\r\nRRULE:FREQ=YEARLY\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let err = ics_closures(repeating).expect_err("refused");
        assert!(err.contains("Christmas repeats"), "{err}");
        let long = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:1@test\r\n\
DTSTART;VALUE=DATE:20261225\r\nDTEND;VALUE=DATE:20281225\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        assert!(ics_closures(long).is_err());
    }
}
