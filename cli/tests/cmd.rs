//! Golden tests of the command line (`tests/cmd/*.toml`): help texts, usage errors and their
//! exit codes. Regenerate the expected output with `TRYCMD=overwrite cargo test -p hakanai-cli
//! --test cmd` and review the diff.

#[test]
fn cli_golden() {
    trycmd::TestCases::new().case("tests/cmd/*.toml");
}
