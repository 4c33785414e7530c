//! Compile errors of `#[actor(remote)]`: a mistake in the impl block is one spanned error, and
//! the code that uses the remote handle and serves the actor adds none.

#[test]
fn ui() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
