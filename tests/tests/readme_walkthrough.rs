//! The README's walk-through is run exactly as written (the block between the
//! `walkthrough:start` and `walkthrough:end` markers), so the README cannot drift from what the
//! code does. The one line changed is `cargo build --workspace`, which the README's test command
//! has already done (running cargo inside `cargo test` would wait on its own lock).

use std::process::Command;

use trellis_tests::{Bins, workspace_root};

#[test]
fn readme_walkthrough_runs_as_written() {
    let bins = Bins::locate().expect("binaries built");
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).expect("README.md");
    let start = readme.find("<!-- walkthrough:start -->").expect("start marker");
    let end = readme.find("<!-- walkthrough:end -->").expect("end marker");
    let block = &readme[start..end];
    let script: String = block
        .lines()
        .skip_while(|l| !l.starts_with("```sh"))
        .skip(1)
        .take_while(|l| !l.starts_with("```"))
        .map(|l| if l.trim() == "cargo build --workspace" { ": built by the test command" } else { l })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(script.contains("advisory publish"), "walk-through block not found:\n{block}");
    let bin_dir = bins.trellis.parent().expect("bin dir").to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("bash")
        .arg("-euo")
        .arg("pipefail")
        .arg("-c")
        .arg(&script)
        .current_dir(workspace_root())
        .env("PATH", path)
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Whatever happened, no daemon of the walk-through is left running.
    let _ = Command::new("pkill").args(["-f", "trellisd --home /tmp/trellis-(alpha|beta)"]).status();
    assert!(out.status.success(), "walk-through failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status);
    assert!(stdout.contains("Log4Shell in pump controller firmware"), "Beta does not list the advisory:\n{stdout}");
    assert!(stdout.contains("Beta Pumps"), "the members table does not show Beta:\n{stdout}");
    assert!(
        stdout.contains("Credential phishing at our help desk"),
        "the customer does not list the supplier's notice:\n{stdout}"
    );
}
