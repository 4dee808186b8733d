//! What routing needs to know about an agent at the moment of a decision.

/// What the store knows about an agent right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgentLoad {
    /// Open tickets assigned to them.
    pub open: usize,
    /// Marked away with `frontdesk agents away`.
    pub away: bool,
}
