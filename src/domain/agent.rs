//! What routing needs to know about an agent at the moment of a decision.

/// What the store knows about an agent right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgentLoad {
    /// Open tickets assigned to them.
    pub open: usize,
    /// Marked away with `frontdesk agents away`.
    pub away: bool,
}

/// How many of an agent's most recent first responses the store keeps for
/// [`typical_wait`]: enough for a stable figure, small enough to read on every new ticket.
pub const FIRST_RESPONSES_KEPT: usize = 50;

/// One ticket's first response as its agent's sample: when it went out and how long the
/// customer had waited, counted in the answering agent's working time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FirstResponse {
    /// When the answer was queued.
    pub at: super::UnixTime,
    /// The customer's wait in the agent's working time, in seconds.
    pub working_seconds: u64,
}

/// The wait an agent's answer ended, measured when it was decided: recorded as the ticket's
/// first response if it is one (the store knows for certain only when it commits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerWait {
    /// The agent who answered: the sample is theirs.
    pub agent: super::AgentEmail,
    /// Seconds of that agent's working time since the ticket opened.
    pub working_seconds: u64,
}

/// What a customer can honestly be told they will usually wait: the wait that 80 % of the
/// first responses in `samples` newer than `since` stayed within (nearest rank), or `None`
/// with fewer than `min_sample` of them (or `min_sample` 0: the figure is off). Not the
/// median: "usually within" must hold for most customers, not half of them.
pub fn typical_wait(
    samples: &[FirstResponse],
    since: super::UnixTime,
    min_sample: usize,
) -> Option<std::time::Duration> {
    let mut waits: Vec<u64> = samples
        .iter()
        .filter(|s| s.at >= since)
        .map(|s| s.working_seconds)
        .collect();
    if min_sample == 0 || waits.len() < min_sample {
        return None;
    }
    waits.sort_unstable();
    // Nearest rank: the smallest wait with at least 80 % of the samples at or below it.
    let rank = (waits.len() * 4).div_ceil(5).max(1);
    Some(std::time::Duration::from_secs(waits[rank - 1]))
}

/// Keeps an agent's newest first responses: appends `new` and drops the oldest beyond
/// [`FIRST_RESPONSES_KEPT`].
pub fn remember_first_response(samples: &mut Vec<FirstResponse>, new: FirstResponse) {
    samples.push(new);
    let excess = samples.len().saturating_sub(FIRST_RESPONSES_KEPT);
    samples.drain(..excess);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(waits: &[u64]) -> Vec<FirstResponse> {
        waits
            .iter()
            .enumerate()
            .map(|(i, &w)| FirstResponse {
                at: 1_000 + i as i64,
                working_seconds: w,
            })
            .collect()
    }

    #[test]
    fn typical_wait_is_what_four_in_five_customers_waited_at_most() {
        // Ten answers: eight within 20 minutes, two slow ones.
        let s = samples(&[600, 60, 1200, 300, 900, 7200, 120, 1200, 480, 36_000]);
        assert_eq!(
            typical_wait(&s, 0, 5),
            Some(std::time::Duration::from_secs(1200))
        );
        // Five answers: the 4th smallest.
        let s = samples(&[100, 200, 300, 400, 500]);
        assert_eq!(
            typical_wait(&s, 0, 5),
            Some(std::time::Duration::from_secs(400))
        );
    }

    #[test]
    fn typical_wait_says_nothing_below_the_minimum_sample() {
        let s = samples(&[60, 60, 60, 60]);
        assert_eq!(typical_wait(&s, 0, 5), None);
        assert_eq!(typical_wait(&s, 0, 0), None, "0 turns the figure off");
        assert!(typical_wait(&s, 0, 4).is_some());
    }

    #[test]
    fn typical_wait_counts_only_recent_answers() {
        // Six samples at 1000..1005; only the last three are recent enough.
        let s = samples(&[10, 10, 10, 9000, 9000, 9000]);
        assert_eq!(typical_wait(&s, 1_003, 3).map(|d| d.as_secs()), Some(9000));
        assert_eq!(typical_wait(&s, 1_003, 4), None);
    }

    #[test]
    fn only_the_newest_first_responses_are_kept() {
        let mut s = Vec::new();
        for i in 0..(FIRST_RESPONSES_KEPT as i64 + 7) {
            remember_first_response(
                &mut s,
                FirstResponse {
                    at: i,
                    working_seconds: 1,
                },
            );
        }
        assert_eq!(s.len(), FIRST_RESPONSES_KEPT);
        assert_eq!(s[0].at, 7);
        assert_eq!(
            s.last().map(|f| f.at),
            Some(FIRST_RESPONSES_KEPT as i64 + 6)
        );
    }
}
