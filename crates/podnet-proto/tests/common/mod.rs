//! What the rule tests share.

use std::time::Instant;

use podnet_proto::{Action, Connection, DisconnectReason, Input, Side};

/// The peer ends its stream: the reason the connection ends (or drops) with.
pub(crate) fn end<S: Side>(conn: &mut Connection<S>, mid_frame: Option<usize>) -> DisconnectReason {
    conn.handle(Instant::now(), Input::End { mid_frame });
    std::iter::from_fn(|| conn.poll())
        .find_map(|a| match a {
            Action::Ended(reason) | Action::Dropped(reason) => Some(reason),
            _ => None,
        })
        .expect("the end of the stream ends the connection")
}
