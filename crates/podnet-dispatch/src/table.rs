//! The table: one handler per action, and a fallback.

use std::fmt;

use podnet_framing::{Message, RawMessage, Value};
use serde::de::DeserializeOwned;

use crate::handler::{Context, Handler, Outcome, RawHandler};
use crate::key::{self, ActionMap};
use crate::panic::panicked;
use crate::{MessageError, PanicPolicy};

/// A handler as stored: decodes the message, calls the game's code, reports the outcome.
type Boxed<S, X> = Box<
    dyn for<'a, 'b> Fn(&mut S, &'b mut <X as Context>::Ctx<'a>, &RawMessage) -> Returned
        + Send
        + Sync,
>;

/// What a stored handler returns. The error is boxed so that every call returns one word
/// (null when all went well): the error path is the rare one.
type Returned = Result<(), Box<MessageError>>;

/// One registered handler, with its action and what kind of handler it is (for messages).
struct Entry<S, X: Context> {
    handler: Boxed<S, X>,
    action: Box<str>,
    what: &'static str,
}

/// The handler [`Handlers::dispatch_recent`] found last, for a run of messages.
pub struct Recent<'t, S, X: Context>(key::Recent<'t, Entry<S, X>>);

impl<S, X: Context> Default for Recent<'_, S, X> {
    fn default() -> Self {
        Self(key::Recent::default())
    }
}

impl<S, X: Context> fmt::Debug for Recent<'_, S, X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recent").finish_non_exhaustive()
    }
}

/// Who handled a message: see [`Handlers::dispatch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// The handler registered for its action.
    ByHandler,
    /// The [`fallback`](Handlers::fallback).
    ByFallback,
    /// Nobody: its action has no handler and there is no fallback.
    Unhandled,
}

/// The handlers of a state type `S`, one per action, and an optional fallback: what
/// repod's `Network_<action>` methods and `network_received` are.
///
/// Registering two handlers for one action, or one for a `podnet:` action, panics at
/// registration (when the server, client or lobby starts): both are mistakes in the
/// game's code, not in what a peer sent.
pub struct Handlers<S, X: Context> {
    table: ActionMap<Entry<S, X>>,
    fallback: Option<Boxed<S, X>>,
    panics: PanicPolicy,
}

impl<S: 'static, X: Context> Default for Handlers<S, X> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: 'static, X: Context> Handlers<S, X> {
    /// An empty table: every message is [`Handled::Unhandled`].
    pub fn new() -> Self {
        Self {
            table: ActionMap::default(),
            fallback: None,
            panics: PanicPolicy::default(),
        }
    }

    /// Handles messages of type `M` (action `M::ACTION`) with `f`: repod's
    /// `Network_<action>`. The message is decoded into `M` first; one that does not fit
    /// goes to `on_error` as [`MessageError::Decode`], naming the field.
    ///
    /// # Panics
    ///
    /// If `M::ACTION` already has a handler, or starts with `podnet:`.
    #[track_caller]
    pub fn on<M, R, F>(&mut self, f: F) -> &mut Self
    where
        M: Message + DeserializeOwned + 'static,
        R: Outcome,
        F: Handler<S, X, M, R>,
    {
        let boxed: Boxed<S, X> = Box::new(move |state, ctx, raw| {
            let msg = raw.decode::<M>().map_err(|source| {
                Box::new(MessageError::Decode {
                    action: raw.action().to_owned(),
                    message_type: std::any::type_name::<M>(),
                    source,
                })
            })?;
            report(raw, f(state, ctx, msg))
        });
        self.insert(M::ACTION, std::any::type_name::<M>(), boxed)
    }

    /// Handles the action `action` with `f`, which gets the message as a dynamic
    /// [`Value`] (the whole map, `"action"` included): for actions named at run time, or
    /// messages without a Rust type.
    ///
    /// # Panics
    ///
    /// As [`on`](Self::on).
    #[track_caller]
    pub fn on_value<R, F>(&mut self, action: &str, f: F) -> &mut Self
    where
        R: Outcome,
        F: Handler<S, X, Value, R>,
    {
        let boxed: Boxed<S, X> = Box::new(move |state, ctx, raw| {
            let value = to_value(raw)?;
            report(raw, f(state, ctx, value))
        });
        self.insert(action, "a value handler", boxed)
    }

    /// Handles the action `action` with `f`, which gets the message as received,
    /// undecoded: for relaying or echoing it unchanged, or decoding it lazily.
    ///
    /// # Panics
    ///
    /// As [`on`](Self::on).
    #[track_caller]
    pub fn on_raw<R, F>(&mut self, action: &str, f: F) -> &mut Self
    where
        R: Outcome,
        F: RawHandler<S, X, R>,
    {
        let boxed: Boxed<S, X> = Box::new(move |state, ctx, raw| report(raw, f(state, ctx, raw)));
        self.insert(action, "a raw handler", boxed)
    }

    /// Handles every message whose action has no handler with `f`, which gets it as a
    /// dynamic [`Value`] with its `"action"` (repod's `network_received`). Without a
    /// fallback such messages are ignored.
    ///
    /// # Panics
    ///
    /// If a fallback is already set.
    #[track_caller]
    pub fn fallback<R, F>(&mut self, f: F) -> &mut Self
    where
        R: Outcome,
        F: Handler<S, X, Value, R>,
    {
        assert!(
            self.fallback.is_none(),
            "podnet: two fallback handlers; a table has at most one"
        );
        self.fallback = Some(Box::new(move |state, ctx, raw| {
            let value = to_value(raw)?;
            report(raw, f(state, ctx, value))
        }));
        self
    }

    /// What a panicking handler does: caught (the default) or propagated. See
    /// [`PanicPolicy`].
    pub fn set_panic_policy(&mut self, policy: PanicPolicy) -> &mut Self {
        self.panics = policy;
        self
    }

    /// The [`PanicPolicy`] in force.
    pub fn panic_policy(&self) -> PanicPolicy {
        self.panics
    }

    /// How many actions have a handler (the fallback not counted).
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether no action has a handler.
    pub fn is_empty(&self) -> bool {
        self.table.len() == 0
    }

    /// Whether there is a fallback.
    pub fn has_fallback(&self) -> bool {
        self.fallback.is_some()
    }

    /// The actions with a handler, sorted: for telling a peer what it may send.
    pub fn actions(&self) -> Vec<&str> {
        let mut actions: Vec<&str> = self.table.values().map(|entry| &*entry.action).collect();
        actions.sort_unstable();
        actions
    }

    /// Runs the handler for `msg`'s action (or the fallback) on `state` with `ctx`, under
    /// the [`PanicPolicy`]; says who handled it.
    ///
    /// # Errors
    ///
    /// The message did not fit the handler's type, the handler returned an error, or it
    /// panicked and the policy is [`PanicPolicy::Catch`].
    #[inline]
    pub fn dispatch(
        &self,
        state: &mut S,
        ctx: &mut X::Ctx<'_>,
        msg: &RawMessage,
    ) -> Result<Handled, MessageError> {
        self.dispatch_recent(&mut Recent::default(), state, ctx, msg)
    }

    /// As [`dispatch`](Self::dispatch), for one of a run of messages (the messages of one
    /// read, say): `recent` remembers the handler last found, so that messages with the
    /// same action as the one before find theirs without a hash lookup.
    ///
    /// # Errors
    ///
    /// As [`dispatch`](Self::dispatch).
    ///
    /// ```
    /// use podnet_dispatch::{Handlers, Recent};
    /// # use podnet_framing::{FramingConfig, RawMessage};
    /// # struct Plain;
    /// # impl podnet_dispatch::Context for Plain { type Ctx<'a> = (); }
    /// let mut handlers: Handlers<u32, Plain> = Handlers::new();
    /// handlers.on_raw("move", |moves: &mut u32, _: &mut (), _: &RawMessage| *moves += 1);
    ///
    /// let msg = RawMessage::parse(b"\x81\xa6action\xa4move".to_vec().into(), &FramingConfig::default())?;
    /// let (mut moves, mut recent) = (0, Recent::default());
    /// for _ in 0..3 {
    ///     handlers.dispatch_recent(&mut recent, &mut moves, &mut (), &msg)?;
    /// }
    /// assert_eq!(moves, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn dispatch_recent<'t>(
        &'t self,
        recent: &mut Recent<'t, S, X>,
        state: &mut S,
        ctx: &mut X::Ctx<'_>,
        msg: &RawMessage,
    ) -> Result<Handled, MessageError> {
        let (handler, handled) = match self.table.get_recent(msg.action_bytes(), &mut recent.0) {
            Some(entry) => (&entry.handler, Handled::ByHandler),
            None => match &self.fallback {
                Some(fallback) => (fallback, Handled::ByFallback),
                None => return Ok(Handled::Unhandled),
            },
        };
        let outcome = match self.panics {
            PanicPolicy::Propagate => handler(state, ctx, msg),
            PanicPolicy::Catch => {
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    handler(state, ctx, msg)
                })) {
                    Ok(outcome) => outcome,
                    Err(payload) => return Err(panicked(msg.action(), payload)),
                }
            }
        };
        match outcome {
            Ok(()) => Ok(handled),
            Err(error) => Err(*error),
        }
    }

    #[track_caller]
    fn insert(&mut self, action: &str, what: &'static str, handler: Boxed<S, X>) -> &mut Self {
        assert!(
            !podnet_proto::is_reserved(action),
            "podnet: cannot register a handler for {action:?} ({what}): actions starting with \
             `podnet:` are podnet's own control messages"
        );
        if let Some(existing) = self.table.get(action.as_bytes()) {
            panic!(
                "podnet: two handlers for the action {action:?} ({} and {what}); each action \
                 has exactly one handler",
                existing.what
            );
        }
        let entry = Entry {
            handler,
            action: action.into(),
            what,
        };
        self.table.insert(action.as_bytes(), entry);
        self
    }
}

impl<S, X: Context> fmt::Debug for Handlers<S, X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handlers")
            .field("actions", &self.table.len())
            .field("fallback", &self.fallback.is_some())
            .field("panics", &self.panics)
            .finish()
    }
}

/// A handler's outcome as the table reports it.
#[inline]
fn report<R: Outcome>(raw: &RawMessage, outcome: R) -> Returned {
    outcome.into_result().map_err(|source| {
        Box::new(MessageError::Handler {
            action: raw.action().to_owned(),
            source,
        })
    })
}

/// Reads `raw` as a dynamic value, for value handlers and the fallback.
fn to_value(raw: &RawMessage) -> Result<Value, Box<MessageError>> {
    raw.to_value().map_err(|source| {
        Box::new(MessageError::Unreadable {
            action: raw.action().to_owned(),
            source,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use podnet_framing::FramingConfig;

    struct Plain;
    impl Context for Plain {
        type Ctx<'a> = ();
    }

    /// `{"action": action}` as msgpack (actions under 256 bytes).
    fn message(action: &str) -> RawMessage {
        let mut payload = b"\x81\xa6action".to_vec();
        match u8::try_from(action.len()).unwrap() {
            len @ 0..=31 => payload.push(0xa0 | len),
            len => payload.extend_from_slice(&[0xd9, len]),
        }
        payload.extend_from_slice(action.as_bytes());
        RawMessage::parse(payload.into(), &FramingConfig::default()).unwrap()
    }

    /// Remembering the last handler never sends a message to another action's handler:
    /// runs of one action, alternations, long actions and unknown ones, in one sequence.
    #[test]
    fn a_run_of_messages_reaches_each_actions_own_handler() {
        let long = "an-action-longer-than-sixteen-bytes";
        let mut handlers: Handlers<Vec<String>, Plain> = Handlers::new();
        for action in ["move", "chat", "movf", long] {
            handlers.on_raw(
                action,
                move |seen: &mut Vec<String>, _: &mut (), _: &RawMessage| {
                    seen.push(action.to_owned());
                },
            );
        }
        let sequence = [
            "move", "move", "chat", "move", long, long, "movf", "nope", "move", "chat", "chat",
        ];
        let mut seen = Vec::new();
        let mut recent = Recent::default();
        for action in sequence {
            let handled = handlers
                .dispatch_recent(&mut recent, &mut seen, &mut (), &message(action))
                .unwrap();
            let expected = if action == "nope" {
                Handled::Unhandled
            } else {
                Handled::ByHandler
            };
            assert_eq!(handled, expected, "{action}");
        }
        let expected: Vec<&str> = sequence.into_iter().filter(|a| *a != "nope").collect();
        assert_eq!(seen, expected);
    }
}
