//! What the players count, whichever kind they are.

use std::sync::atomic::{AtomicU64, Ordering};

/// What the players count, by name (the repod and WebSocket players print the same
/// names).
pub(crate) const FIELDS: [&str; 13] = [
    "games_done",
    "lines_checked",
    "lost",
    "repeated",
    "stalled",
    "ended_node_gone",
    "ended_left",
    "ended_other",
    "resumed",
    "home_lost",
    "classic_cut",
    "logins",
    "refused_logins",
];

/// Indices into [`FIELDS`].
#[derive(Clone, Copy)]
pub(crate) enum F {
    GamesDone,
    LinesChecked,
    Lost,
    Repeated,
    Stalled,
    EndedNodeGone,
    EndedLeft,
    EndedOther,
    Resumed,
    HomeLost,
    ClassicCut,
    Logins,
    RefusedLogins,
}

#[derive(Default)]
pub(crate) struct Tally([AtomicU64; FIELDS.len()]);

impl Tally {
    pub(crate) fn add(&self, field: F, n: u64) {
        self.0[field as usize].fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn values(&self) -> [u64; FIELDS.len()] {
        std::array::from_fn(|i| self.0[i].load(Ordering::Relaxed))
    }
}

/// What a row's total must be for its guarantee to hold (`None`: only counted).
pub(crate) type Verdict = Option<fn(u64) -> bool>;

/// Reads a `TALLY name=value ...` line.
pub(crate) fn parse_tally(line: &str) -> Option<[u64; FIELDS.len()]> {
    let mut values = [0; FIELDS.len()];
    for pair in line.strip_prefix("TALLY ")?.split_whitespace() {
        let (name, value) = pair.split_once('=')?;
        let at = FIELDS.iter().position(|f| *f == name)?;
        values[at] = value.parse().ok()?;
    }
    Some(values)
}
