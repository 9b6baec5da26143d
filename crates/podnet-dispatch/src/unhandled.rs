//! Messages nobody handled, reported once per action.

use std::collections::HashSet;

use crate::MessageError;

/// The most distinct actions reported as unhandled: past it, no more are (a peer sending
/// endless made-up actions costs no memory and floods no log).
pub const MAX_UNHANDLED_REPORTED: usize = 64;

/// Remembers which actions without a handler have been reported, so that each is
/// reported once: a typo such as `"mvoe"` is seen, and a repeated one is not a flood.
///
/// ```
/// use podnet_dispatch::{MessageError, UnhandledActions};
///
/// let mut unhandled = UnhandledActions::default();
/// assert!(matches!(unhandled.report("mvoe"), Some(MessageError::Unhandled { .. })));
/// assert!(unhandled.report("mvoe").is_none());
/// ```
#[derive(Debug, Default)]
pub struct UnhandledActions {
    seen: HashSet<Box<str>>,
}

impl UnhandledActions {
    /// A message of `action` found no handler and no fallback: the error to report, the
    /// first time for this action (and for the first [`MAX_UNHANDLED_REPORTED`] actions).
    pub fn report(&mut self, action: &str) -> Option<MessageError> {
        if self.seen.len() >= MAX_UNHANDLED_REPORTED || self.seen.contains(action) {
            return None;
        }
        self.seen.insert(action.into());
        Some(MessageError::Unhandled {
            action: action.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each action once; past the cap, none.
    #[test]
    fn once_each_and_bounded() {
        let mut unhandled = UnhandledActions::default();
        for n in 0..MAX_UNHANDLED_REPORTED {
            assert!(unhandled.report(&format!("a{n}")).is_some());
            assert!(unhandled.report(&format!("a{n}")).is_none());
        }
        assert!(unhandled.report("one_more").is_none());
        assert_eq!(unhandled.seen.len(), MAX_UNHANDLED_REPORTED);
    }
}
