//! `info` connections: the server's description asked for and answered, then the close.

use super::*;

impl<S: Side> Connection<S> {
    pub(super) fn on_info(&mut self, msg: &RawMessage, _now: Instant) {
        if !matches!(self.side.role(), RoleRef::Client(_)) {
            trace!("podnet:info from a client: ignored");
            return;
        }
        match ServerInfo::decode(msg) {
            Ok(info) => self.actions.push_back(Action::Info(info)),
            Err(err) => {
                let error = format!("the server's podnet:info could not be read: {err}");
                self.close(
                    DisconnectReason::Protocol {
                        error: error.clone(),
                    },
                    error,
                );
            }
        }
    }
}

impl Connection<ServerSide> {
    /// Answers an `info` connection with `info`, then closes it.
    pub fn answer_info(&mut self, info: &ServerInfo) {
        let framing = &self.settings().framing;
        let frame = info.encode(framing).or_else(|err| {
            debug!(%err, "the info does not fit in a frame: sent without the game's fields");
            ServerInfo {
                game: Default::default(),
                ..info.clone()
            }
            .encode(framing)
        });
        if let Ok(frame) = frame {
            self.actions.push_back(Action::Send(frame));
        }
        self.close(
            DisconnectReason::Closed {
                reason: "info sent".into(),
            },
            "info sent".into(),
        );
    }

    /// Refuses an `info` connection: the server answers too many already.
    pub fn refuse_info(&mut self) {
        let text = "too many info requests: try again in a second";
        self.close(
            DisconnectReason::Closed {
                reason: text.into(),
            },
            text.into(),
        );
    }
}
