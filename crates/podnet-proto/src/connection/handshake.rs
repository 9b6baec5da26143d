//! The handshake: a podnet peer's hello (its version, connection type and resume
//! request), or a classic repod peer recognised by its first message or its silence.

use super::*;

impl<S: Side> Connection<S> {
    /// Why a hello with version `theirs` cannot be accepted, if it cannot.
    pub(super) fn version_mismatch(&self, theirs: Option<u32>) -> Option<String> {
        let (us, them) = match self.side.role() {
            RoleRef::Server(_) => ("this server", "the client"),
            RoleRef::Client(_) => ("this client", "the server"),
        };
        match theirs {
            Some(v) if v == PROTOCOL_VERSION => None,
            Some(v) => Some(format!(
                "podnet protocol mismatch: {us} speaks version {PROTOCOL_VERSION}, {them} \
                 version {v}; use podnet releases that speak the same protocol version"
            )),
            None => Some(format!(
                "{them}'s podnet:hello has no readable protocol version ({us} speaks version \
                 {PROTOCOL_VERSION})"
            )),
        }
    }

    pub(super) fn on_hello(
        &mut self,
        protocol: Option<u32>,
        conn_type: Option<String>,
        resume: HelloResume,
        now: Instant,
    ) {
        if self.state == State::Resuming {
            return self.on_resume_answer(resume, now);
        }
        if self.podnet.is_some() {
            trace!("a second hello: ignored");
            return;
        }
        if let Some(error) = self.version_mismatch(protocol) {
            return self.fail_handshake(error);
        }
        let protocol = protocol.unwrap_or(PROTOCOL_VERSION);
        match self.side.role() {
            RoleRef::Server(_) if resume.token.is_some() => {
                self.on_resume_request(protocol, resume, now);
            }
            RoleRef::Server(ServerSide { settings, id }) => {
                let name = conn_type.as_deref().unwrap_or(ConnectionType::CLASSIC);
                if name.len() > MAX_TYPE_NAME {
                    return self.fail_handshake(format!(
                        "the connection type asked for is {} bytes long; names are at most \
                         {MAX_TYPE_NAME}",
                        name.len()
                    ));
                }
                let Some(ty) = settings.types.get(name).cloned() else {
                    let known: Vec<&str> = settings.types.names().collect();
                    return self.fail_handshake(format!(
                        "this server has no connection type {name:?}; it accepts: {}",
                        known.join(", ")
                    ));
                };
                let hello = control::hello_frame(ty.name(), &settings.connection.framing);
                if self.state == State::Established {
                    // Late: nothing was heard within `hello_wait`, so the connection was
                    // settled as classic before this hello arrived.
                    let settled = self.handshake.as_ref().map(|h| h.connection_type.clone());
                    if settled.as_ref() != Some(&ty) {
                        return self.fail_handshake(format!(
                            "the client asked for connection type {name:?} after the handshake \
                             had settled on \"classic\" (its hello came after {:?} of silence); \
                             a client says hello first thing after connecting",
                            settings.hello_wait
                        ));
                    }
                    self.actions.push_back(Action::Send(hello));
                    self.become_podnet(protocol, now);
                    return;
                }
                let session = ty.kind() == ConnectionKind::Session;
                let greeting = session.then(|| settings.greeting.clone()).flatten();
                // A resumable session, if the client asks and this server grants them.
                let grant = settings
                    .resume
                    .clone()
                    .filter(|_| resume.resume && session)
                    .zip(*id)
                    .map(|(resume, id)| (resume, ResumeToken::mint(settings.instance, id)));
                let hello = match &grant {
                    None => hello,
                    Some((_, token)) => control::hello_frame_with(
                        ty.name(),
                        &HelloOut {
                            token: Some(&token.to_wire()),
                            ..HelloOut::default()
                        },
                        &settings.connection.framing,
                    ),
                };
                if let Some((resume, token)) = grant {
                    let mut receipts = Receipts::new(resume, ResumeRole::Agreed);
                    receipts.token = Some(token.clone());
                    self.receipts = Some(Box::new(receipts));
                    // Before anything counted goes out (the greeting is the first).
                    self.actions.push_back(Action::Resumable(token));
                }
                self.actions.push_back(Action::Send(hello));
                if let Some(greeting) = greeting {
                    self.actions.push_back(Action::SendMessage(greeting));
                }
                self.become_podnet(protocol, now);
                self.establish(Peer::Podnet { protocol }, ty);
            }
            RoleRef::Client(ClientSide {
                connection_type, ..
            }) => {
                let ty = connection_type.clone();
                self.become_podnet(protocol, now);
                if let Some(receipts) = self.receipts.as_mut() {
                    match resume.token.as_deref().and_then(ResumeToken::parse) {
                        Some(token) => {
                            receipts.role = ResumeRole::Agreed;
                            receipts.token = Some(token.clone());
                            self.actions.push_back(Action::Resumable(token));
                        }
                        None => self.not_resumable(),
                    }
                }
                if self.state == State::Handshaking {
                    self.establish(Peer::Podnet { protocol }, ty);
                }
            }
        }
    }

    pub(super) fn become_podnet(&mut self, protocol: u32, now: Instant) {
        self.podnet = Some(protocol);
        // The first ping goes out an interval from now.
        self.heartbeat.last_ping = now;
        self.actions.push_back(Action::PodnetPeer { protocol });
    }

    pub(super) fn establish(&mut self, peer: Peer, connection_type: ConnectionType) {
        let handshake = Handshake {
            peer,
            connection_type,
        };
        self.state = State::Established;
        self.deadline = None;
        self.handshake = Some(handshake.clone());
        self.actions.push_back(Action::Established(handshake));
    }

    /// The peer did not say hello before its first frame (or within `hello_wait`).
    pub(super) fn settle_without_hello(&mut self, _now: Instant) {
        match self.side.role() {
            RoleRef::Server(ServerSide { settings, .. }) => {
                if let Some(greeting) = settings.greeting.clone() {
                    self.actions.push_back(Action::SendMessage(greeting));
                }
                // The registry's own `classic` (a reference count, not an allocation).
                let classic = settings
                    .types
                    .get(ConnectionType::CLASSIC)
                    .cloned()
                    .unwrap_or_else(ConnectionType::classic);
                self.establish(Peer::Repod, classic);
            }
            RoleRef::Client(ClientSide {
                connection_type, ..
            }) => {
                let ty = connection_type.clone();
                self.not_resumable();
                self.establish(Peer::Repod, ty);
            }
        }
    }

    pub(super) fn fail_handshake(&mut self, error: String) {
        debug!(%error, "handshake failed");
        self.close(
            DisconnectReason::Handshake {
                error: error.clone(),
            },
            error,
        );
    }
}
