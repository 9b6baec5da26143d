//! The forms a handler can take.

use podnet_framing::RawMessage;

/// Names the context a table's handlers get besides the message: a server channel's
/// `ChannelCtx`, a client's `ClientCtx`, a lobby session's `SessionCtx`. Implemented by
/// a marker type per side; a game never implements it.
pub trait Context: 'static {
    /// The context, borrowed for one handler call.
    type Ctx<'a>;
}

/// What a handler may return: `()`, or a `Result<(), E>` whose error goes to the side's
/// `on_error` hook (as [`MessageError::Handler`](crate::MessageError::Handler)) with the
/// action named. Any error type that converts into `Box<dyn Error + Send + Sync>` works:
/// podnet's own, `std::io::Error`, `String`, `&str`, `anyhow::Error` with its `std` feature.
#[diagnostic::on_unimplemented(
    message = "a handler returns `()` or `Result<(), E>`, not `{Self}`",
    label = "this handler returns `{Self}`",
    note = "end the handler with `;` to return `()`, or return `Ok(())`: an error `E` goes to \
            `on_error` with the action named, so `?` works inside handlers"
)]
pub trait Outcome {
    /// The error to report, if any.
    fn into_result(self) -> Result<(), Box<dyn std::error::Error + Send + Sync>>;
}

impl Outcome for () {
    #[inline]
    fn into_result(self) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Ok(())
    }
}

impl<E: Into<Box<dyn std::error::Error + Send + Sync>>> Outcome for Result<(), E> {
    #[inline]
    fn into_result(self) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.map_err(Into::into)
    }
}

/// A handler for messages of type `M`: any `Fn(&mut S, &mut Ctx, M) -> R` with `R` an
/// [`Outcome`], `Send + Sync + 'static` (functions, methods such as `Player::on_move`, and
/// closures that capture nothing or only shareable values).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a handler for `{M}` messages",
    label = "not a handler",
    note = "a handler is a function or closure `(&mut state, &mut ctx, msg: {M})` returning `()` \
            or `Result<(), E>`; for example `fn on_move(&mut self, ctx: &mut ChannelCtx<'_, Self>, \
            msg: Move)` registered as `h.on(Self::on_move)`",
    note = "`on_value` and `fallback` handlers take a `Value` as `msg`; `on_raw` handlers take \
            a `&RawMessage`"
)]
pub trait Handler<S, X: crate::Context, M, R>:
    for<'a, 'b> Fn(&mut S, &'b mut X::Ctx<'a>, M) -> R + Send + Sync + 'static
{
}

impl<S, X: crate::Context, M, R, F> Handler<S, X, M, R> for F where
    F: for<'a, 'b> Fn(&mut S, &'b mut X::Ctx<'a>, M) -> R + Send + Sync + 'static
{
}

/// A handler for undecoded messages: `Fn(&mut S, &mut Ctx, &RawMessage) -> R`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a raw handler",
    label = "not a raw handler",
    note = "a raw handler is a function or closure `(&mut state, &mut ctx, msg: &RawMessage)` \
            returning `()` or `Result<(), E>`"
)]
pub trait RawHandler<S, X: crate::Context, R>:
    for<'a, 'b, 'c> Fn(&mut S, &'b mut X::Ctx<'a>, &'c RawMessage) -> R + Send + Sync + 'static
{
}

impl<S, X: crate::Context, R, F> RawHandler<S, X, R> for F where
    F: for<'a, 'b, 'c> Fn(&mut S, &'b mut X::Ctx<'a>, &'c RawMessage) -> R + Send + Sync + 'static
{
}
