//! What a game's code gets from the compiler when a handler has the wrong shape: hints
//! that spell out the accepted forms (`#[diagnostic::on_unimplemented]`), checked against
//! the expected messages in `tests/ui/*.stderr`.
//!
//! The expected output is the compiler's, so a new Rust release can change its wording:
//! after checking the new text still says what to do, refresh it with
//! `TRYBUILD=overwrite cargo test -p podnet --test compile_fail`.

#[test]
fn wrong_handlers_get_hints() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
