//! The cursor rules, as pure functions: where fetching starts once a mailbox is selected,
//! and how far the cursor moves after each batch. The async code beside this file only
//! gathers the facts (the stored cursor, what SELECT and a few searches answered), asks
//! these functions, and carries out what they return, so every rule is tested below
//! without a server.
//!
//! The rules (ARCHITECTURE.md, "Invariants" and "Losing the store"):
//! - same UIDVALIDITY, cursor below UIDNEXT: fetch above `last_uid`;
//! - no cursor, nothing marked [`HANDLED`]: a first start; existing mail is history, the
//!   cursor starts at UIDNEXT − 1, or just before the `backfill_hours` window;
//! - no cursor, but mail marked [`HANDLED`], in the mailbox or moved to `processed_mailbox`:
//!   the store was lost; continue after the highest marked UID, and after the mail that
//!   arrived before the newest moved one;
//! - no cursor, and the mailbox knows the keyword but no mail carries it (handled mail went
//!   where we do not look): a lost store that cannot be told from history; a first start,
//!   flagged so that it is logged loudly;
//! - UIDVALIDITY changed, or the cursor at or beyond UIDNEXT (a restored mailbox): UIDs mean
//!   nothing; re-read mail since the day before the last stored one that is not marked
//!   [`HANDLED`], by content;
//! - a UID the server returns no body for holds the cursor back (unless a search shows it
//!   was expunged) for up to [`NO_BODY_ROUNDS`] rounds; then it is skipped and stays unread.

use std::collections::HashMap;
use std::time::Duration;

use jiff::Timestamp;

use super::HANDLED;
use crate::domain::{Cursor, UnixTime};

/// Rounds without a body after which a UID that still exists is skipped rather than
/// holding the whole mailbox back.
pub const NO_BODY_ROUNDS: u32 = 5;

/// What SELECT reported about the mailbox, as far as the cursor rules need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selected {
    /// Its UIDVALIDITY.
    pub uid_validity: u32,
    /// Its UIDNEXT, or one above the highest UID when the server reports none.
    pub uid_next: u32,
}

/// What to do about the stored cursor once the mailbox is selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// The cursor fits the mailbox: fetch above its `last_uid`, as every round does.
    Continue,
    /// No cursor, but mail marked [`HANDLED`] in the mailbox or in `processed_mailbox`: the
    /// store was lost (or replaced by an old backup). The cursor starts after the highest
    /// marked UID and after the mail that arrived before the newest moved one
    /// ([`recovered`]), so nothing is answered twice and nothing that arrived since is
    /// skipped.
    Recover {
        /// The highest UID marked [`HANDLED`] in the mailbox (0: none is).
        after_uid: u32,
        /// When the newest handled mail moved to `processed_mailbox` arrived: the mailbox's
        /// mail from before then was there while the store was. Its dates are read from
        /// SEARCH SINCE the window's day, for [`recovered`].
        moved: Option<Window>,
    },
    /// No cursor and nothing marked: old mail is history, not a queue.
    FirstStart {
        /// UIDNEXT − 1: the cursor without a backfill, and the highest it may be with one.
        last_uid: u32,
        /// `backfill_hours` asks for the mail of a recent window: see [`backfill_start`].
        backfill: Option<Window>,
        /// The mailbox knows the [`HANDLED`] keyword, but no mail here or in
        /// `processed_mailbox` carries it: an earlier store handled mail here and is gone,
        /// and nothing shows where it stopped, so what arrived meanwhile is left alone.
        /// Worth an error in the log, not an info line.
        store_lost: bool,
    },
    /// UIDs cannot be trusted (UIDVALIDITY changed, or the cursor is at or beyond UIDNEXT,
    /// which UIDs that only grow never allow): re-read mail SINCE `since`; the store keeps
    /// only content it has not stored before. Then [`after_resync`] settles the cursor.
    Resync {
        /// The stored cursor, now meaningless.
        old: Cursor,
        /// The day before the last stored mail.
        since: Timestamp,
    },
}

/// What the server shows of mail an earlier store handled, gathered only when there is no
/// cursor: what tells a lost store from a first start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traces {
    /// The highest UID of the mailbox marked [`HANDLED`] (`UID SEARCH KEYWORD`, when
    /// [`needs_handled`] asks for it).
    pub highest_handled: Option<u32>,
    /// When the newest mail marked [`HANDLED`] in `processed_mailbox` arrived: a move keeps
    /// the INTERNALDATE, and the keyword, which is set before the move.
    pub newest_moved: Option<UnixTime>,
    /// The mailbox's FLAGS name the keyword: mail here was marked once, whether or not any
    /// still carries it.
    pub keyword_known: bool,
}

/// A window of arrival times: a first start's backfill, or the mail that arrived since the
/// newest moved handled mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Where the window starts, for SEARCH SINCE (which only knows days: it finds more).
    pub since: Timestamp,
    /// The same instant, compared with each found mail's INTERNALDATE.
    pub cutoff: UnixTime,
}

/// Whether [`plan`] needs the highest UID marked [`HANDLED`]: only with no cursor, and only
/// from a server that keeps keywords.
pub fn needs_handled(stored: Option<&Cursor>, keywords: bool) -> bool {
    stored.is_none() && keywords
}

/// The cursor rules after SELECT. `traces` is what the server shows of handled mail (only
/// gathered when there is no cursor); `now` places a backfill window.
pub fn plan(
    stored: Option<Cursor>,
    selected: Selected,
    traces: Traces,
    backfill: Duration,
    now: Timestamp,
) -> Plan {
    match stored {
        Some(c) if c.uid_validity == selected.uid_validity && c.last_uid < selected.uid_next => {
            Plan::Continue
        }
        Some(old) => Plan::Resync {
            old,
            since: at_second(old.last_stored_at - 86_400),
        },
        None => match (traces.highest_handled, traces.newest_moved) {
            (None, None) => Plan::FirstStart {
                last_uid: selected.uid_next.saturating_sub(1),
                backfill: (!backfill.is_zero()).then(|| Window {
                    since: at_second(now.as_second() - backfill.as_secs() as i64),
                    cutoff: now.as_second() - backfill.as_secs() as i64,
                }),
                store_lost: traces.keyword_known,
            },
            (after_uid, moved) => Plan::Recover {
                after_uid: after_uid.unwrap_or(0),
                moved: moved.map(|at| Window {
                    since: at_second(at),
                    cutoff: at,
                }),
            },
        },
    }
}

/// Where a recovery puts the cursor when handled mail was moved away: after the highest
/// handled UID still in the mailbox, and just before the first mail that arrived at or
/// after the newest moved one (`moved_at`; mail from before it was there while the store
/// was: decided then, or history). Never above `last_uid` (UIDNEXT − 1). `dates` as for
/// [`backfill_start`]: the UIDs SEARCH SINCE `moved_at`'s day found, with INTERNALDATEs.
pub fn recovered(
    after_uid: u32,
    last_uid: u32,
    moved_at: UnixTime,
    dates: &[(u32, Option<UnixTime>)],
) -> u32 {
    after_uid.max(backfill_start(last_uid, moved_at, dates))
}

/// Where a first start with a backfill puts the cursor: just before the lowest UID whose
/// INTERNALDATE is inside the window, never above `last_uid`. `dates` holds the UIDs that
/// SEARCH SINCE found, each with its INTERNALDATE if the server sent one.
pub fn backfill_start(last_uid: u32, cutoff: UnixTime, dates: &[(u32, Option<UnixTime>)]) -> u32 {
    let first_in_window = dates
        .iter()
        .filter(|(_, date)| date.is_some_and(|d| d >= cutoff))
        .map(|&(uid, _)| uid)
        .min();
    match first_in_window {
        Some(min) => last_uid.min(min.saturating_sub(1)),
        None => last_uid,
    }
}

/// The cursor to write after a re-sync (`None`: leave it as the re-sync stored it). Mail
/// below UIDNEXT that was not in the window is history, so the cursor moves up to
/// UIDNEXT − 1 under the new UIDVALIDITY; it never moves down.
pub fn after_resync(stored: Option<Cursor>, selected: Selected, now: UnixTime) -> Option<Cursor> {
    let top = selected.uid_next.saturating_sub(1);
    let mut c = stored.unwrap_or(Cursor {
        uid_validity: selected.uid_validity,
        last_uid: 0,
        last_stored_at: now,
    });
    if c.uid_validity != selected.uid_validity || c.last_uid < top {
        c.uid_validity = selected.uid_validity;
        c.last_uid = c.last_uid.max(top);
        return Some(c);
    }
    None
}

/// The search for new mail: every UID above the cursor, leaving out mail already marked
/// [`HANDLED`] when the server keeps keywords (after a restore from an older backup the
/// cursor is behind, but nobody is answered twice).
pub fn new_mail_query(last_uid: u32, keywords: bool) -> String {
    let unhandled = if keywords {
        format!(" UNKEYWORD {HANDLED}")
    } else {
        String::new()
    };
    format!("UID {}:*{unhandled}", last_uid.saturating_add(1))
}

/// The search for the mail a day-based window holds (SEARCH SINCE knows only days). For a
/// re-sync, `keywords` leaves out mail already marked [`HANDLED`]: its UIDs were reset, and
/// its bytes may not be among the stored digests (a store restored from an older backup)
/// or may differ (a migration that rewrote a header), so only the keyword shows it was
/// answered. A backfill reads every mail's date (`keywords` false).
pub fn since_query(since: Timestamp, keywords: bool) -> String {
    let unhandled = if keywords {
        format!(" UNKEYWORD {HANDLED}")
    } else {
        String::new()
    };
    format!("SINCE {}{unhandled}", imap_date(since))
}

/// The UIDs to fetch, ascending. `UID n:*` always matches the highest UID even below n
/// (RFC 3501 §6.4.8), so whatever is not above the cursor is dropped.
pub fn new_mail(last_uid: u32, found: impl IntoIterator<Item = u32>) -> Vec<u32> {
    let mut uids: Vec<u32> = found.into_iter().filter(|&u| u > last_uid).collect();
    uids.sort_unstable();
    uids
}

/// How far a fetched chunk takes the cursor: to just below the UID held back, or else to
/// the chunk's last UID (`last_uid`, the cursor before, if the chunk is empty).
pub fn reached(chunk: &[u32], held_back: Option<u32>, last_uid: u32) -> u32 {
    match held_back {
        Some(b) => b.saturating_sub(1),
        None => chunk.last().copied().unwrap_or(last_uid),
    }
}

/// The cursor to write after a chunk (`None`: it is there already). `stored` is the cursor
/// as storing the chunk left it; a missing one starts at 0 under `uid_validity`. The
/// cursor only ever moves up.
pub fn advance(
    stored: Option<Cursor>,
    uid_validity: u32,
    reached: u32,
    now: UnixTime,
) -> Option<Cursor> {
    let mut c = stored.unwrap_or(Cursor {
        uid_validity,
        last_uid: 0,
        last_stored_at: now,
    });
    (c.last_uid < reached).then(|| {
        c.last_uid = reached;
        c
    })
}

/// How many rounds the server has returned no body for each UID that still exists. The
/// count lives as long as the loop (across reconnects, not restarts).
#[derive(Debug, Default)]
pub struct BodyFailures {
    rounds: HashMap<u32, u32>,
}

/// What becomes of one UID the server returned no body for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoBody {
    /// Held back: the cursor stops before it and a later round tries again.
    Retry {
        /// The rounds without a body so far, this one included.
        attempt: u32,
    },
    /// No body for [`NO_BODY_ROUNDS`] rounds: skipped; it stays unread on the server.
    Skip,
}

/// The verdict on the UIDs of one chunk that came without a body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeldBack {
    /// Each of them that still exists, in the chunk's order, with what becomes of it.
    /// Expunged UIDs are not listed: they are simply gone.
    pub verdicts: Vec<(u32, NoBody)>,
    /// The lowest UID held back: only mail below it is stored now, and the cursor stops
    /// just before it.
    pub first: Option<u32>,
}

impl HeldBack {
    /// Whether the fetched body of `uid` is stored in this round.
    pub fn keeps(&self, uid: u32) -> bool {
        self.first.is_none_or(|b| uid < b)
    }
}

impl BodyFailures {
    /// Counts a round for each UID in `missing` (fetched without a body) that `still_there`
    /// (a UID SEARCH for them) shows was not expunged, and judges it.
    pub fn judge(&mut self, missing: &[u32], still_there: &[u32]) -> HeldBack {
        let mut held = HeldBack::default();
        for uid in missing.iter().copied().filter(|u| still_there.contains(u)) {
            let n = self.rounds.entry(uid).or_insert(0);
            *n += 1;
            if *n >= NO_BODY_ROUNDS {
                held.verdicts.push((uid, NoBody::Skip));
                continue;
            }
            held.verdicts.push((uid, NoBody::Retry { attempt: *n }));
            held.first = Some(held.first.map_or(uid, |b| b.min(uid)));
        }
        held
    }
}

/// The instant `second` seconds after the epoch (the epoch itself for one out of range).
fn at_second(second: i64) -> Timestamp {
    Timestamp::from_second(second).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// RFC 3501 date for SEARCH SINCE, in UTC: `25-Nov-2026`.
pub fn imap_date(t: Timestamp) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let d = t.to_zoned(jiff::tz::TimeZone::UTC).date();
    let month = usize::try_from(d.month() - 1).unwrap_or(0);
    format!("{}-{}-{}", d.day(), MONTHS[month], d.year())
}

#[cfg(test)]
mod tests {
    use super::*;
    /// A UTC instant written `2026-11-05 10:00` (or with seconds).
    fn datetime(s: &str) -> Timestamp {
        let s = if s.len() == 16 {
            format!("{s}:00")
        } else {
            s.to_string()
        };
        format!("{}Z", s.replace(' ', "T"))
            .parse()
            .expect("timestamp")
    }

    /// The test's now: 2026-11-05 10:00 UTC.
    fn now_at() -> Timestamp {
        datetime("2026-11-05 10:00")
    }
    const NO_BACKFILL: Duration = Duration::ZERO;
    const DAY: i64 = 86_400;

    /// A cursor whose last mail was stored at 2026-11-04 18:30 UTC.
    fn cursor(uid_validity: u32, last_uid: u32) -> Cursor {
        Cursor {
            uid_validity,
            last_uid,
            last_stored_at: datetime("2026-11-04 18:30").as_second(),
        }
    }

    fn selected(uid_validity: u32, uid_next: u32) -> Selected {
        Selected {
            uid_validity,
            uid_next,
        }
    }

    fn hours(n: u64) -> Duration {
        Duration::from_secs(n * 3600)
    }

    /// The server shows `uid` as the highest handled UID of the mailbox, and nothing else.
    fn in_mailbox(uid: u32) -> Traces {
        Traces {
            highest_handled: Some(uid),
            ..Traces::default()
        }
    }

    /// Every trace a lost store can leave.
    fn everything() -> Traces {
        Traces {
            highest_handled: Some(90),
            newest_moved: Some(now_at().as_second() - DAY),
            keyword_known: true,
        }
    }

    #[test]
    fn a_cursor_below_uidnext_under_the_same_validity_continues_above_last_uid() {
        for (last_uid, uid_next) in [(0, 1), (41, 42), (10, 500), (0, u32::MAX)] {
            let stored = Some(cursor(7, last_uid));
            assert_eq!(
                plan(
                    stored,
                    selected(7, uid_next),
                    Traces::default(),
                    NO_BACKFILL,
                    now_at()
                ),
                Plan::Continue,
                "last_uid {last_uid}, UIDNEXT {uid_next}"
            );
        }
    }

    #[test]
    fn a_changed_uidvalidity_resyncs_from_the_last_stored_day() {
        let old = cursor(7, 41);
        for uid_next in [1, 42, 500] {
            assert_eq!(
                plan(
                    Some(old),
                    selected(8, uid_next),
                    Traces::default(),
                    NO_BACKFILL,
                    now_at()
                ),
                Plan::Resync {
                    old,
                    since: datetime("2026-11-03 18:30"),
                },
                "UIDNEXT {uid_next}"
            );
        }
    }

    #[test]
    fn a_cursor_at_or_beyond_uidnext_resyncs_although_the_validity_is_the_same() {
        for (last_uid, uid_next) in [(42, 42), (500, 42), (1, 0), (0, 0)] {
            let old = cursor(7, last_uid);
            assert_eq!(
                plan(
                    Some(old),
                    selected(7, uid_next),
                    Traces::default(),
                    NO_BACKFILL,
                    now_at()
                ),
                Plan::Resync {
                    old,
                    since: datetime("2026-11-03 18:30"),
                },
                "last_uid {last_uid}, UIDNEXT {uid_next}"
            );
        }
    }

    #[test]
    fn a_resync_goes_back_one_day_before_the_last_stored_mail_even_before_1970() {
        for (last_stored_at, since) in [
            (DAY, Timestamp::UNIX_EPOCH),
            (0, datetime("1969-12-31 00:00")),
            (i64::MIN / 2, Timestamp::UNIX_EPOCH),
        ] {
            let old = Cursor {
                uid_validity: 7,
                last_uid: 3,
                last_stored_at,
            };
            assert_eq!(
                plan(
                    Some(old),
                    selected(8, 10),
                    Traces::default(),
                    NO_BACKFILL,
                    now_at()
                ),
                Plan::Resync { old, since },
                "last stored at {last_stored_at}"
            );
        }
    }

    #[test]
    fn a_stored_cursor_wins_over_handled_mail_on_the_server() {
        let old = cursor(7, 41);
        assert_eq!(
            plan(
                Some(old),
                selected(7, 42),
                everything(),
                hours(24),
                now_at()
            ),
            Plan::Continue
        );
        assert!(matches!(
            plan(
                Some(old),
                selected(8, 42),
                everything(),
                hours(24),
                now_at()
            ),
            Plan::Resync { .. }
        ));
    }

    #[test]
    fn a_first_start_leaves_existing_mail_up_to_uidnext_alone() {
        for (uid_next, last_uid) in [(42, 41), (1, 0), (0, 0), (u32::MAX, u32::MAX - 1)] {
            assert_eq!(
                plan(
                    None,
                    selected(7, uid_next),
                    Traces::default(),
                    NO_BACKFILL,
                    now_at()
                ),
                Plan::FirstStart {
                    last_uid,
                    backfill: None,
                    store_lost: false,
                },
                "UIDNEXT {uid_next}"
            );
        }
    }

    #[test]
    fn a_first_start_with_a_backfill_searches_the_window_back_from_now() {
        for (backfill, since) in [
            (hours(1), datetime("2026-11-05 09:00")),
            (hours(48), datetime("2026-11-03 10:00")),
        ] {
            assert_eq!(
                plan(None, selected(7, 42), Traces::default(), backfill, now_at()),
                Plan::FirstStart {
                    last_uid: 41,
                    backfill: Some(Window {
                        since,
                        cutoff: since.as_second(),
                    }),
                    store_lost: false,
                },
                "backfill {backfill:?}"
            );
        }
    }

    #[test]
    fn a_lost_store_continues_after_the_highest_handled_uid() {
        for (handled, backfill) in [(40, NO_BACKFILL), (40, hours(24)), (1, NO_BACKFILL)] {
            assert_eq!(
                plan(
                    None,
                    selected(7, 42),
                    in_mailbox(handled),
                    backfill,
                    now_at()
                ),
                Plan::Recover {
                    after_uid: handled,
                    moved: None,
                },
                "highest handled {handled}, backfill {backfill:?}"
            );
        }
    }

    #[test]
    fn handled_mail_moved_away_shows_a_lost_store_and_when_it_stopped() {
        let moved_at = datetime("2026-11-04 18:30");
        for highest_handled in [None, Some(12)] {
            let traces = Traces {
                highest_handled,
                newest_moved: Some(moved_at.as_second()),
                keyword_known: true,
            };
            assert_eq!(
                plan(None, selected(7, 42), traces, hours(24), now_at()),
                Plan::Recover {
                    after_uid: highest_handled.unwrap_or(0),
                    moved: Some(Window {
                        since: moved_at,
                        cutoff: moved_at.as_second(),
                    }),
                },
                "highest handled in the mailbox {highest_handled:?}"
            );
        }
    }

    #[test]
    fn a_known_keyword_that_no_mail_carries_is_a_lost_store_without_a_trace() {
        let traces = Traces {
            keyword_known: true,
            ..Traces::default()
        };
        for (backfill, window) in [(NO_BACKFILL, false), (hours(1), true)] {
            let Plan::FirstStart {
                last_uid,
                backfill,
                store_lost,
            } = plan(None, selected(7, 42), traces, backfill, now_at())
            else {
                panic!("nothing shows where the store stopped: a first start");
            };
            assert_eq!(
                (last_uid, backfill.is_some(), store_lost),
                (41, window, true)
            );
        }
    }

    #[test]
    fn a_recovery_skips_what_arrived_before_the_newest_moved_mail() {
        let moved_at = 1_000;
        // UIDs 20..=22 arrived before the last handled mail moved away; 23 in the same
        // second (not known to be older), 24 after it.
        let dates = [
            (20, Some(900)),
            (21, Some(999)),
            (22, Some(999)),
            (23, Some(1_000)),
            (24, Some(5_000)),
        ];
        assert_eq!(recovered(0, 41, moved_at, &dates), 22);
        assert_eq!(
            recovered(30, 41, moved_at, &dates),
            30,
            "a handled UID above"
        );
        assert_eq!(
            recovered(0, 41, moved_at, &dates[..3]),
            41,
            "nothing since: all old"
        );
        assert_eq!(recovered(0, 41, moved_at, &[]), 41);
        assert_eq!(
            recovered(0, 41, moved_at, &[(1, Some(2_000))]),
            0,
            "all new"
        );
    }

    #[test]
    fn only_a_missing_cursor_on_a_server_with_keywords_asks_for_handled_mail() {
        let stored = cursor(7, 41);
        for (stored, keywords, asks) in [
            (None, true, true),
            (None, false, false),
            (Some(&stored), true, false),
            (Some(&stored), false, false),
        ] {
            assert_eq!(
                needs_handled(stored, keywords),
                asks,
                "cursor {stored:?}, keywords {keywords}"
            );
        }
    }

    #[test]
    fn a_backfill_starts_just_before_the_first_mail_inside_the_window() {
        let cutoff = 1_000;
        let dates = [(20, Some(999)), (25, Some(1_000)), (30, Some(5_000))];
        assert_eq!(backfill_start(41, cutoff, &dates), 24);
        let unsorted = [(30, Some(5_000)), (26, Some(2_000)), (20, Some(999))];
        assert_eq!(backfill_start(41, cutoff, &unsorted), 25);
    }

    #[test]
    fn mail_found_by_day_but_older_than_the_window_stays_history() {
        for dates in [
            vec![],
            vec![(20, Some(999)), (21, Some(0))],
            vec![(20, None), (21, None)],
        ] {
            assert_eq!(backfill_start(41, 1_000, &dates), 41, "dates {dates:?}");
        }
    }

    #[test]
    fn a_backfill_never_puts_the_cursor_above_uidnext() {
        assert_eq!(backfill_start(41, 1_000, &[(60, Some(2_000))]), 41);
        assert_eq!(backfill_start(41, 1_000, &[(42, Some(2_000))]), 41);
        assert_eq!(backfill_start(41, 1_000, &[(1, Some(2_000))]), 0);
        assert_eq!(backfill_start(0, 1_000, &[(0, Some(2_000))]), 0);
    }

    #[test]
    fn after_a_resync_the_cursor_reaches_uidnext_under_the_new_validity() {
        let now = now_at().as_second();
        let stored_in_resync = Cursor {
            uid_validity: 8,
            last_uid: 12,
            last_stored_at: now,
        };
        assert_eq!(
            after_resync(Some(stored_in_resync), selected(8, 42), now),
            Some(Cursor {
                last_uid: 41,
                ..stored_in_resync
            })
        );
        let untouched_old = cursor(7, 5);
        assert_eq!(
            after_resync(Some(untouched_old), selected(8, 42), now),
            Some(Cursor {
                uid_validity: 8,
                last_uid: 41,
                ..untouched_old
            })
        );
    }

    #[test]
    fn after_a_resync_a_cursor_already_at_uidnext_is_left_as_it_is() {
        let now = now_at().as_second();
        for last_uid in [41, 42, 900] {
            assert_eq!(
                after_resync(Some(cursor(8, last_uid)), selected(8, 42), now),
                None,
                "last_uid {last_uid}"
            );
        }
    }

    #[test]
    fn after_a_resync_that_stored_nothing_the_old_last_uid_carries_over_to_the_new_validity() {
        // Kept as it was: a higher last_uid from the old numbering survives the change, so
        // the cursor can stay at or beyond UIDNEXT and the next session re-syncs again.
        let old = cursor(7, 900);
        assert_eq!(
            after_resync(Some(old), selected(8, 42), now_at().as_second()),
            Some(Cursor {
                uid_validity: 8,
                ..old
            })
        );
    }

    #[test]
    fn after_a_resync_without_a_cursor_one_is_written_below_uidnext() {
        let now = now_at().as_second();
        assert_eq!(
            after_resync(None, selected(8, 42), now),
            Some(Cursor {
                uid_validity: 8,
                last_uid: 41,
                last_stored_at: now,
            })
        );
        assert_eq!(after_resync(None, selected(8, 1), now), None);
    }

    #[test]
    fn new_mail_is_searched_above_the_cursor_and_without_handled_mail() {
        for (last_uid, keywords, query) in [
            (0, false, "UID 1:*"),
            (41, false, "UID 42:*"),
            (41, true, "UID 42:* UNKEYWORD $Frontdesk"),
            (u32::MAX, false, "UID 4294967295:*"),
        ] {
            assert_eq!(new_mail_query(last_uid, keywords), query);
        }
    }

    #[test]
    fn a_resync_searches_the_window_without_handled_mail() {
        let since = datetime("2026-11-03 18:30");
        assert_eq!(since_query(since, false), "SINCE 3-Nov-2026");
        assert_eq!(
            since_query(since, true),
            "SINCE 3-Nov-2026 UNKEYWORD $Frontdesk"
        );
    }

    #[test]
    fn the_highest_uid_that_a_star_range_always_matches_is_not_new_mail() {
        assert_eq!(new_mail(41, [41]), Vec::<u32>::new());
        assert_eq!(new_mail(41, [12, 41]), Vec::<u32>::new());
        assert_eq!(new_mail(41, [50, 42, 7, 44]), vec![42, 44, 50]);
        assert_eq!(new_mail(0, []), Vec::<u32>::new());
    }

    #[test]
    fn a_chunk_moves_the_cursor_to_its_end_or_just_below_the_uid_held_back() {
        for (chunk, held_back, last_uid, expected) in [
            (&[42, 43, 44][..], None, 41, 44),
            (&[42, 43, 44][..], Some(43), 41, 42),
            (&[42, 43, 44][..], Some(42), 41, 41),
            (&[1][..], Some(1), 0, 0),
            (&[][..], None, 41, 41),
        ] {
            assert_eq!(
                reached(chunk, held_back, last_uid),
                expected,
                "chunk {chunk:?}, held back {held_back:?}"
            );
        }
    }

    #[test]
    fn the_cursor_only_moves_up_after_a_chunk() {
        let now = now_at().as_second();
        let stored = cursor(7, 44);
        assert_eq!(
            advance(Some(stored), 7, 50, now),
            Some(Cursor {
                last_uid: 50,
                ..stored
            })
        );
        for reached in [44, 43, 0] {
            assert_eq!(advance(Some(stored), 7, reached, now), None, "{reached}");
        }
    }

    #[test]
    fn a_chunk_that_moves_a_missing_cursor_creates_it() {
        let now = now_at().as_second();
        assert_eq!(
            advance(None, 7, 3, now),
            Some(Cursor {
                uid_validity: 7,
                last_uid: 3,
                last_stored_at: now,
            })
        );
        assert_eq!(advance(None, 7, 0, now), None);
    }

    #[test]
    fn an_expunged_uid_without_a_body_holds_nothing_back() {
        let mut failures = BodyFailures::default();
        for (missing, still_there) in [
            (&[][..], &[][..]),
            (&[43][..], &[][..]),
            (&[43][..], &[44][..]),
        ] {
            assert_eq!(failures.judge(missing, still_there), HeldBack::default());
        }
        assert!(failures.rounds.is_empty());
    }

    #[test]
    fn a_uid_without_a_body_holds_the_cursor_back_and_counts_its_rounds() {
        let mut failures = BodyFailures::default();
        for attempt in 1..NO_BODY_ROUNDS {
            let held = failures.judge(&[43], &[43]);
            assert_eq!(
                held,
                HeldBack {
                    verdicts: vec![(43, NoBody::Retry { attempt })],
                    first: Some(43),
                }
            );
            assert!(held.keeps(42) && !held.keeps(43) && !held.keeps(44));
        }
    }

    #[test]
    fn the_fifth_round_without_a_body_skips_the_uid() {
        let mut failures = BodyFailures::default();
        for _ in 1..NO_BODY_ROUNDS {
            failures.judge(&[43], &[43]);
        }
        for _ in 0..2 {
            let held = failures.judge(&[43], &[43]);
            assert_eq!(
                held,
                HeldBack {
                    verdicts: vec![(43, NoBody::Skip)],
                    first: None,
                }
            );
            assert!(held.keeps(43) && held.keeps(u32::MAX));
        }
    }

    #[test]
    fn the_lowest_uid_held_back_is_where_the_cursor_stops_and_every_one_counts_a_round() {
        let mut failures = BodyFailures::default();
        let held = failures.judge(&[43, 45, 47], &[47, 45]);
        assert_eq!(
            held,
            HeldBack {
                verdicts: vec![
                    (45, NoBody::Retry { attempt: 1 }),
                    (47, NoBody::Retry { attempt: 1 }),
                ],
                first: Some(45),
            }
        );
        assert_eq!(failures.rounds, HashMap::from([(45, 1), (47, 1)]));
    }

    #[test]
    fn a_skipped_uid_does_not_hold_back_the_ones_after_it() {
        let mut failures = BodyFailures::default();
        for _ in 1..NO_BODY_ROUNDS {
            failures.judge(&[43], &[43]);
        }
        assert_eq!(
            failures.judge(&[43, 44], &[43, 44]),
            HeldBack {
                verdicts: vec![(43, NoBody::Skip), (44, NoBody::Retry { attempt: 1 })],
                first: Some(44),
            }
        );
    }

    #[test]
    fn imap_dates_are_rfc3501() {
        let t = datetime("2026-11-05 10:00");
        assert_eq!(imap_date(t), "5-Nov-2026");
        assert_eq!(imap_date(datetime("1969-12-31 00:00")), "31-Dec-1969");
    }
}
