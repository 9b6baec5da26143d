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
            if resume.silent {
                return self.resumed_too_late();
            }
            return self.on_resume_answer(resume, now);
        }
        if self.podnet.is_some() {
            return self.on_second_hello(resume);
        }
        if let Some(error) = self.version_mismatch(protocol) {
            return self.fail_handshake(error);
        }
        let protocol = protocol.unwrap_or(PROTOCOL_VERSION);
        match self.side.role() {
            RoleRef::Server(_) if self.state == State::Established => {
                self.on_late_hello(protocol, conn_type, resume, now);
            }
            RoleRef::Server(_) if resume.token.is_some() => {
                self.on_resume_request(protocol, resume, now);
            }
            RoleRef::Server(ServerSide { settings, .. }) => {
                let name = conn_type.as_deref().unwrap_or(ConnectionType::CLASSIC);
                let ty = match Self::asked_type(settings, name) {
                    Ok(ty) => ty,
                    Err(error) => return self.fail_handshake(error),
                };
                let session = ty.kind() == ConnectionKind::Session;
                let greeting = session.then(|| settings.greeting.clone()).flatten();
                self.answer_hello(&ty, resume.resume && session);
                if let Some(greeting) = greeting {
                    self.actions.push_back(Action::SendMessage(greeting));
                }
                self.become_podnet(protocol, now);
                self.establish(Peer::Podnet { protocol }, ty);
            }
            RoleRef::Client(ClientSide {
                settings,
                connection_type,
            }) => {
                if resume.silent && !settings.hello {
                    // This side behaves as a repod client, which takes no notice.
                    trace!("told it was silent: ignored");
                    return;
                }
                let ty = connection_type.clone();
                if resume.silent && ty.name() != ConnectionType::CLASSIC {
                    // The server took this connection for a repod player before the hello
                    // reached it; it cannot become another type now.
                    return self.fail_handshake(format!(
                        "the server settled this connection as \"classic\" before its hello \
                         (asking for {:?}) arrived: the hello came later than the server's \
                         ServerConfig::hello_wait; connect again",
                        ty.name()
                    ));
                }
                self.become_podnet(protocol, now);
                if !resume.silent {
                    // A silent server's answer to this side's own hello is still to come.
                    self.on_resume_grant(&resume);
                }
                if self.state == State::Handshaking {
                    self.establish(Peer::Podnet { protocol }, ty);
                }
            }
        }
    }

    /// (Server.) The type called `name`, or why a client cannot have it.
    fn asked_type(settings: &ServerSettings, name: &str) -> Result<ConnectionType, String> {
        if name.len() > MAX_TYPE_NAME {
            return Err(format!(
                "the connection type asked for is {} bytes long; names are at most \
                 {MAX_TYPE_NAME}",
                name.len()
            ));
        }
        settings.types.get(name).cloned().ok_or_else(|| {
            let known: Vec<&str> = settings.types.names().collect();
            format!(
                "this server has no connection type {name:?}; it accepts: {}",
                known.join(", ")
            )
        })
    }

    /// (Server.) Answers a client's hello for a connection of type `ty` with this
    /// server's, granting a resumable session if `resumable` and this server grants them.
    fn answer_hello(&mut self, ty: &ConnectionType, resumable: bool) {
        let RoleRef::Server(ServerSide { settings, id }) = self.side.role() else {
            return;
        };
        let framing = &settings.connection.framing;
        let grant = settings
            .resume
            .clone()
            .filter(|_| resumable)
            .zip(*id)
            .map(|(resume, id)| (resume, ResumeToken::mint(settings.instance, id)));
        let Some((resume, token)) = grant else {
            let hello = control::hello_frame(ty.name(), framing);
            self.actions.push_back(Action::Send(hello));
            return;
        };
        let hello = control::hello_frame_with(
            ty.name(),
            &HelloOut {
                token: Some(&token.to_wire()),
                ..HelloOut::default()
            },
            framing,
        );
        let mut receipts = Receipts::new(resume, ResumeRole::Agreed);
        receipts.token = Some(token.clone());
        self.receipts = Some(Box::new(receipts));
        // Counting starts after the hello (on a new session the greeting is the first).
        self.actions.push_back(Action::Grant { token, hello });
    }

    /// (Server.) A hello that came after the connection was settled as `classic` for its
    /// silence. It makes the peer a podnet one, and a resumable session can still be
    /// granted (both sides count from the granting hello); another type cannot, nor can
    /// a resume: the client, told of the settling, dials again.
    fn on_late_hello(
        &mut self,
        protocol: u32,
        conn_type: Option<String>,
        resume: HelloResume,
        now: Instant,
    ) {
        let RoleRef::Server(ServerSide { settings, .. }) = self.side.role() else {
            return;
        };
        let wait = settings.hello_wait;
        if resume.token.is_some() {
            debug!(
                ?wait,
                "a resume's hello came after its connection was settled"
            );
            return self.close(
                DisconnectReason::Handshake {
                    error: format!(
                        "a resume's hello came after the connection was settled as a new \
                         player ({wait:?} of silence)"
                    ),
                },
                crate::RESUME_BUSY.to_owned(),
            );
        }
        let name = conn_type.as_deref().unwrap_or(ConnectionType::CLASSIC);
        let settled = self.handshake.as_ref().map(|h| h.connection_type.clone());
        let ty = match Self::asked_type(settings, name) {
            Ok(ty) if settled.as_ref() == Some(&ty) => ty,
            _ => {
                return self.fail_handshake(format!(
                    "the client asked for connection type {name:?} after the handshake had \
                     settled on \"classic\" (its hello came after {wait:?} of silence); \
                     a client says hello first thing after connecting"
                ));
            }
        };
        self.answer_hello(&ty, resume.resume && ty.kind() == ConnectionKind::Session);
        self.become_podnet(protocol, now);
    }

    /// (Client.) The server's hello after one that said it had settled this connection
    /// for its silence: the answer to this side's own hello, which may grant the resumable
    /// session it asked for. Any other second hello is ignored.
    fn on_second_hello(&mut self, resume: HelloResume) {
        let asked = self
            .receipts
            .as_ref()
            .is_some_and(|r| r.role == ResumeRole::Asked);
        if matches!(self.side.role(), RoleRef::Client(_)) && asked && !resume.silent {
            self.on_resume_grant(&resume);
        } else {
            trace!("a second hello: ignored");
        }
    }

    /// (Client.) The resume fields of the server's answer to this side's hello: the
    /// session is resumable if they carry a token.
    fn on_resume_grant(&mut self, resume: &HelloResume) {
        let Some(receipts) = self.receipts.as_mut() else {
            return;
        };
        match resume.token.as_deref().and_then(ResumeToken::parse) {
            Some(token) => {
                receipts.role = ResumeRole::Agreed;
                receipts.token = Some(token.clone());
                self.actions.push_back(Action::Resumable(token));
            }
            None => self.not_resumable(),
        }
    }

    /// (Client, resuming.) The server settled the new connection as a new player before
    /// the resume's hello reached it: this connection is dropped, and the session tries
    /// again on another.
    fn resumed_too_late(&mut self) {
        debug!("the server settled the resume's connection before its hello arrived");
        self.link_ended(
            DisconnectReason::Handshake {
                error: "the server settled the connection before the resume's hello arrived"
                    .to_owned(),
            },
            Action::Cut,
        );
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

    /// The peer did not say hello before its first frame, or (`silent`) within
    /// `hello_wait`. A silent peer is told first, in a hello repod ignores: a podnet
    /// client whose hello is on its way then knows what to expect.
    pub(super) fn settle_without_hello(&mut self, _now: Instant, silent: bool) {
        match self.side.role() {
            RoleRef::Server(ServerSide { settings, .. }) => {
                if silent {
                    let hello = control::hello_frame_with(
                        ConnectionType::CLASSIC,
                        &HelloOut {
                            silent: true,
                            ..HelloOut::default()
                        },
                        &settings.connection.framing,
                    );
                    self.actions.push_back(Action::Send(hello));
                }
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
