//! Declarations that must compile, and ones that must fail with an error spanned to the
//! offending argument that says what is valid.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass_*.rs");
    t.compile_fail("tests/ui/fail_*.rs");
}
