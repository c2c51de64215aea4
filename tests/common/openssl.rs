//! The `openssl` command line, for tests that cross-check with it or make
//! certificates and CRLs with it (CI installs it when absent).

use std::path::Path;
use std::process::Command;

/// Runs `openssl args…` in `dir`; panics with its output on failure, and
/// returns what it printed (stdout, then stderr).
pub(crate) fn openssl(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command line is needed for this test (CI installs it)");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "openssl {args:?}: {text}");
    text
}
