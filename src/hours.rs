//! Working hours: when an agent is at work and when they are back, in their own time zone.
//! Pure: the clock is a parameter. The format is what ops write in the configuration:
//! `"Mon-Fri 09:00-17:00; Sat 10:00-14:00"` (spans separated by `;`, days as ranges or
//! comma lists, times as `HH:MM`, `24:00` allowed as an end). Closures (`[[closures]]`:
//! holidays, a team's offsite, an agent's leave) are whole days off on top of them, in the
//! same time zone: not at work, not "back" before they end, and no SLA time passes.

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned};

/// One span of working time on some weekdays.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Span {
    days: [bool; 7],
    start: Time,
    /// Exclusive end; `None` means midnight at the end of the day.
    end: Option<Time>,
}

/// Whole days off, `first` to `last` inclusive, as dates in the time zone of whoever takes
/// them (a holiday on 24 December is that day in Berlin for an agent in Berlin).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClosedDays {
    /// The first day off.
    pub first: Date,
    /// The last day off (the same as `first` for one day).
    pub last: Date,
}

impl ClosedDays {
    /// Whether `date` is one of these days.
    pub fn contains(&self, date: Date) -> bool {
        self.first <= date && date <= self.last
    }
}

/// The first day on or after `date` that none of `closed` covers: when a closure that
/// includes `date` ends, following closures that join on to it (Christmas, then the days
/// up to New Year). `date` itself when it is not closed. Looks at most 400 days ahead.
pub fn open_again(closed: &[ClosedDays], date: Date) -> Date {
    let mut day = date;
    for _ in 0..400 {
        if !closed.iter().any(|c| c.contains(day)) {
            break;
        }
        match day.tomorrow() {
            Ok(next) => day = next,
            Err(_) => break,
        }
    }
    day
}

/// An agent's working hours in their time zone. No spans means "always at work" (but on
/// closed days).
#[derive(Debug, Clone, PartialEq)]
pub struct WorkingHours {
    spans: Vec<Span>,
    tz: TimeZone,
    tz_name: String,
    closed: Vec<ClosedDays>,
}

/// The whole day, for hours without spans ("always at work").
const ALL_DAY: Span = Span {
    days: [true; 7],
    start: Time::midnight(),
    end: None,
};

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn day_index(s: &str) -> Option<usize> {
    const FULL: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let s = s.trim().to_ascii_lowercase();
    DAYS.iter()
        .position(|d| *d == s)
        .or_else(|| FULL.iter().position(|d| *d == s))
}

fn weekday_index(w: Weekday) -> usize {
    w.to_monday_zero_offset() as usize
}

fn parse_time(s: &str) -> Result<Option<Time>, String> {
    let s = s.trim();
    if s == "24:00" {
        return Ok(None);
    }
    let (h, m) = s
        .split_once(':')
        .ok_or_else(|| format!("{s:?} is not HH:MM"))?;
    let h: i8 = h.parse().map_err(|_| format!("{s:?} is not HH:MM"))?;
    let m: i8 = m.parse().map_err(|_| format!("{s:?} is not HH:MM"))?;
    Time::new(h, m, 0, 0)
        .map(Some)
        .map_err(|_| format!("{s:?} is not a time of day"))
}

impl WorkingHours {
    /// Always at work, in UTC.
    pub fn always() -> WorkingHours {
        WorkingHours {
            spans: Vec::new(),
            tz: TimeZone::UTC,
            tz_name: "UTC".into(),
            closed: Vec::new(),
        }
    }

    /// Parses a specification in the named IANA time zone (e.g. `Europe/Berlin`).
    pub fn parse(spec: &str, tz_name: &str) -> Result<WorkingHours, String> {
        let tz =
            TimeZone::get(tz_name).map_err(|_| format!("{tz_name:?} is not a known time zone"))?;
        let mut spans = Vec::new();
        for part in spec.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (days_text, times) = part
                .split_once(char::is_whitespace)
                .ok_or_else(|| format!("{part:?}: expected e.g. \"Mon-Fri 09:00-17:00\""))?;
            let mut days = [false; 7];
            for item in days_text.split(',') {
                match item.split_once('-') {
                    Some((a, b)) => {
                        let (a, b) = (
                            day_index(a).ok_or_else(|| format!("{a:?} is not a weekday"))?,
                            day_index(b).ok_or_else(|| format!("{b:?} is not a weekday"))?,
                        );
                        let mut d = a;
                        loop {
                            days[d] = true;
                            if d == b {
                                break;
                            }
                            d = (d + 1) % 7;
                        }
                    }
                    None => {
                        days[day_index(item)
                            .ok_or_else(|| format!("{item:?} is not a weekday"))?] = true
                    }
                }
            }
            let (start, end) = times
                .trim()
                .split_once('-')
                .ok_or_else(|| format!("{times:?}: expected HH:MM-HH:MM"))?;
            let start =
                parse_time(start)?.ok_or_else(|| "a span cannot start at 24:00".to_string())?;
            let end = parse_time(end)?;
            if end.is_some_and(|e| e <= start) {
                return Err(format!("{part:?}: the end must be after the start"));
            }
            spans.push(Span { days, start, end });
        }
        Ok(WorkingHours {
            spans,
            tz,
            tz_name: tz_name.to_string(),
            closed: Vec::new(),
        })
    }

    /// These hours with `closed` days off as well.
    pub fn with_closed(mut self, closed: impl IntoIterator<Item = ClosedDays>) -> WorkingHours {
        self.closed.extend(closed);
        self
    }

    /// The days off these hours know.
    pub fn closed(&self) -> &[ClosedDays] {
        &self.closed
    }

    /// The time zone these hours are in.
    pub fn tz(&self) -> &TimeZone {
        &self.tz
    }

    /// The working spans on `date`: none on a closed day, the whole day for "always".
    fn spans_on(&self, date: Date) -> impl Iterator<Item = &Span> {
        let closed = self.closed.iter().any(|c| c.contains(date));
        let day = weekday_index(date.weekday());
        let spans: &[Span] = if self.spans.is_empty() {
            std::slice::from_ref(&ALL_DAY)
        } else {
            &self.spans
        };
        spans.iter().filter(move |s| !closed && s.days[day])
    }

    /// The time zone's name, as configured.
    pub fn tz_name(&self) -> &str {
        &self.tz_name
    }

    /// Whether `at` falls into working time.
    pub fn is_open(&self, at: Timestamp) -> bool {
        if self.spans.is_empty() && self.closed.is_empty() {
            return true;
        }
        let local = at.to_zoned(self.tz.clone());
        let t = local.time();
        self.spans_on(local.date())
            .any(|s| s.start <= t && s.end.is_none_or(|e| t < e))
    }

    /// When working time next begins at or after `at` (`at` itself when at work now);
    /// `None` if there is none within 400 days (no working days at all).
    pub fn next_open(&self, at: Timestamp) -> Option<Zoned> {
        let local = at.to_zoned(self.tz.clone());
        if self.is_open(at) {
            return Some(local);
        }
        let today = local.date();
        let mut best: Option<Zoned> = None;
        for offset in 0..=400i64 {
            let Ok(date) = today.checked_add(offset.days()) else {
                continue;
            };
            for s in self.spans_on(date) {
                let Ok(start) = date.to_datetime(s.start).to_zoned(self.tz.clone()) else {
                    continue;
                };
                if start.timestamp() > at
                    && best
                        .as_ref()
                        .is_none_or(|b| start.timestamp() < b.timestamp())
                {
                    best = Some(start);
                }
            }
            if best.is_some() {
                break;
            }
        }
        best
    }
}

impl WorkingHours {
    /// Seconds of working time between `from` and `to` (an SLA clock that stops outside
    /// working hours). Looks at most 400 days back.
    pub fn working_seconds_between(&self, from: Timestamp, to: Timestamp) -> i64 {
        if to <= from {
            return 0;
        }
        if self.spans.is_empty() && self.closed.is_empty() {
            return to.as_second() - from.as_second();
        }
        let start = from.to_zoned(self.tz.clone()).date();
        let end = to.to_zoned(self.tz.clone()).date();
        let mut total = 0i64;
        let mut date = start;
        for _ in 0..400 {
            if date > end {
                break;
            }
            for s in self.spans_on(date) {
                let open = date.to_datetime(s.start).to_zoned(self.tz.clone());
                let close = match s.end {
                    Some(e) => date.to_datetime(e).to_zoned(self.tz.clone()),
                    None => date
                        .tomorrow()
                        .and_then(|d| d.to_datetime(Time::midnight()).to_zoned(self.tz.clone())),
                };
                if let (Ok(open), Ok(close)) = (open, close) {
                    let a = open.timestamp().max(from);
                    let b = close.timestamp().min(to);
                    if b > a {
                        total += b.as_second() - a.as_second();
                    }
                }
            }
            match date.tomorrow() {
                Ok(d) => date = d,
                Err(_) => break,
            }
        }
        total
    }
}

/// "today at 14:00 CET", "tomorrow at 09:00 CET", "Monday at 09:00 CET": when someone is
/// back, as a customer reads it (in the agent's zone, which is named).
pub fn describe_return(back: &Zoned, now: Timestamp) -> String {
    let today = now.to_zoned(back.time_zone().clone()).date();
    let when = if back.date() == today {
        "today".to_string()
    } else if today.tomorrow().is_ok_and(|t| t == back.date()) {
        "tomorrow".to_string()
    } else {
        back.strftime("%A").to_string()
    };
    format!("{when} at {}", back.strftime("%H:%M %Z"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn office_hours_in_berlin() {
        let h = WorkingHours::parse("Mon-Fri 09:00-17:00; Sat 10:00-12:00", "Europe/Berlin")
            .expect("valid");
        // Wednesday 25 Nov 2026, 10:00 UTC = 11:00 CET.
        assert!(h.is_open(ts("2026-11-25T10:00:00Z")));
        // 16:30 UTC = 17:30 CET: closed; back Thursday 09:00 CET.
        let evening = ts("2026-11-25T16:30:00Z");
        assert!(!h.is_open(evening));
        let back = h.next_open(evening).expect("back");
        assert_eq!(
            back.strftime("%Y-%m-%d %H:%M %Z").to_string(),
            "2026-11-26 09:00 CET"
        );
        assert_eq!(describe_return(&back, evening), "tomorrow at 09:00 CET");
        // Saturday 12:30 CET: back Monday.
        let saturday = ts("2026-11-28T11:30:00Z");
        let back = h.next_open(saturday).expect("back");
        assert_eq!(describe_return(&back, saturday), "Monday at 09:00 CET");
        // Early Friday: back today.
        let early = ts("2026-11-27T06:00:00Z");
        assert_eq!(
            describe_return(&h.next_open(early).expect("back"), early),
            "today at 09:00 CET"
        );
    }

    #[test]
    fn the_sla_clock_stops_outside_working_hours() {
        let h = WorkingHours::parse("Mon-Fri 09:00-17:00", "UTC").expect("valid");
        // Friday 16:00 to Monday 10:00: one hour on Friday, one on Monday.
        let secs =
            h.working_seconds_between(ts("2026-11-27T16:00:00Z"), ts("2026-11-30T10:00:00Z"));
        assert_eq!(secs, 2 * 3600);
        assert_eq!(
            WorkingHours::always()
                .working_seconds_between(ts("2026-11-27T16:00:00Z"), ts("2026-11-27T16:30:00Z")),
            1800
        );
        assert_eq!(
            h.working_seconds_between(ts("2026-11-28T10:00:00Z"), ts("2026-11-28T12:00:00Z")),
            0,
            "Saturday"
        );
    }

    #[test]
    fn daylight_saving_change_moves_the_utc_hours() {
        // Berlin leaves summer time on Sunday 25 October 2026: 09:00 is 07:00 UTC on the
        // Friday before and 08:00 UTC on the Monday after.
        let h = WorkingHours::parse("Mon-Fri 09:00-17:00", "Europe/Berlin").expect("valid");
        assert!(h.is_open(ts("2026-10-23T07:30:00Z")), "Friday 09:30 CEST");
        assert!(!h.is_open(ts("2026-10-26T07:30:00Z")), "Monday 08:30 CET");
        assert!(h.is_open(ts("2026-10-26T08:30:00Z")), "Monday 09:30 CET");
        let saturday = ts("2026-10-24T10:00:00Z");
        let back = h.next_open(saturday).expect("back");
        assert_eq!(back.timestamp(), ts("2026-10-26T08:00:00Z"));
        assert_eq!(describe_return(&back, saturday), "Monday at 09:00 CET");
        // Friday 16:00 CEST to Monday 10:00 CET: one working hour on each side.
        assert_eq!(
            h.working_seconds_between(ts("2026-10-23T14:00:00Z"), ts("2026-10-26T09:00:00Z")),
            7200
        );
    }

    #[test]
    fn agents_in_different_time_zones() {
        let berlin = WorkingHours::parse("Mon-Fri 09:00-17:00", "Europe/Berlin").expect("valid");
        let new_york =
            WorkingHours::parse("Mon-Fri 09:00-17:00", "America/New_York").expect("valid");
        let afternoon_utc = ts("2026-11-25T15:00:00Z");
        assert!(
            berlin.is_open(afternoon_utc) && new_york.is_open(afternoon_utc),
            "16:00 and 10:00 local"
        );
        let evening_utc = ts("2026-11-25T18:00:00Z");
        assert!(
            !berlin.is_open(evening_utc) && new_york.is_open(evening_utc),
            "19:00 and 13:00 local"
        );
        let back = berlin.next_open(evening_utc).expect("back");
        assert_eq!(describe_return(&back, evening_utc), "tomorrow at 09:00 CET");
    }

    #[test]
    fn ranges_wrap_and_lists_work() {
        let h = WorkingHours::parse("Fri-Mon 00:00-24:00", "UTC").expect("valid");
        assert!(h.is_open(ts("2026-11-29T23:59:00Z")), "Sunday");
        assert!(!h.is_open(ts("2026-11-25T12:00:00Z")), "Wednesday");
        let h = WorkingHours::parse("Tue,Thu 08:00-12:00", "UTC").expect("valid");
        assert!(h.is_open(ts("2026-11-26T09:00:00Z")), "Thursday");
        assert!(!h.is_open(ts("2026-11-25T09:00:00Z")), "Wednesday");
    }

    #[test]
    fn always_and_errors() {
        assert!(WorkingHours::always().is_open(ts("2026-11-25T03:00:00Z")));
        assert!(WorkingHours::parse("Mon-Fri 09:00-17:00", "Mars/Olympus").is_err());
        assert!(WorkingHours::parse("Someday 09:00-17:00", "UTC").is_err());
        assert!(WorkingHours::parse("Monkey 09:00-17:00", "UTC").is_err());
        assert!(WorkingHours::parse("Monday-Friday 09:00-17:00", "UTC").is_ok());
        assert!(WorkingHours::parse("Mon 17:00-09:00", "UTC").is_err());
        assert!(WorkingHours::parse("Mon 9-5", "UTC").is_err());
    }

    fn days(first: &str, last: &str) -> ClosedDays {
        ClosedDays {
            first: first.parse().expect("date"),
            last: last.parse().expect("date"),
        }
    }

    #[test]
    fn closed_days_are_not_working_time_and_push_back_the_return() {
        // Christmas in Berlin: Thursday 24 to Saturday 26 December 2026.
        let h = WorkingHours::parse("Mon-Fri 09:00-17:00", "Europe/Berlin")
            .expect("valid")
            .with_closed([days("2026-12-24", "2026-12-26")]);
        let thursday_morning = ts("2026-12-24T09:00:00Z");
        assert!(!h.is_open(thursday_morning), "10:00 CET on a holiday");
        assert!(h.is_open(ts("2026-12-23T09:00:00Z")), "the day before");
        let back = h.next_open(thursday_morning).expect("back");
        assert_eq!(
            back.strftime("%Y-%m-%d %H:%M %Z").to_string(),
            "2026-12-28 09:00 CET",
            "Monday: Friday is closed and the weekend is no working time"
        );
        assert_eq!(
            describe_return(&back, thursday_morning),
            "Monday at 09:00 CET"
        );
        // The evening before: back only after the closure too.
        let wednesday_evening = ts("2026-12-23T17:30:00Z");
        assert_eq!(
            h.next_open(wednesday_evening).map(|b| b.timestamp()),
            Some(ts("2026-12-28T08:00:00Z"))
        );
    }

    #[test]
    fn the_sla_clock_pauses_during_a_closure() {
        let h = WorkingHours::parse("Mon-Fri 09:00-17:00", "UTC")
            .expect("valid")
            .with_closed([days("2026-12-24", "2026-12-25")]);
        // Wednesday 23rd 16:00 to Monday 28th 10:00: one hour each side, nothing in between.
        assert_eq!(
            h.working_seconds_between(ts("2026-12-23T16:00:00Z"), ts("2026-12-28T10:00:00Z")),
            2 * 3600
        );
        // "Always at work" stops on closed days too.
        let always = WorkingHours::always().with_closed([days("2026-12-25", "2026-12-25")]);
        assert!(!always.is_open(ts("2026-12-25T12:00:00Z")));
        assert_eq!(
            always
                .next_open(ts("2026-12-25T12:00:00Z"))
                .map(|b| b.timestamp()),
            Some(ts("2026-12-26T00:00:00Z"))
        );
        assert_eq!(
            always.working_seconds_between(ts("2026-12-24T12:00:00Z"), ts("2026-12-26T12:00:00Z")),
            24 * 3600,
            "half of the 24th and half of the 26th"
        );
    }

    #[test]
    fn closures_that_join_on_reopen_after_the_last() {
        let closed = [
            days("2026-12-24", "2026-12-26"),
            days("2026-12-27", "2027-01-01"),
        ];
        let d = |s: &str| -> Date { s.parse().expect("date") };
        assert_eq!(open_again(&closed, d("2026-12-25")), d("2027-01-02"));
        assert_eq!(open_again(&closed, d("2026-12-23")), d("2026-12-23"));
    }
}
