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
    let _ = Command::new("pkill").args(["-f", "trellisd --home /tmp/trellis-(alpha|beta|gamma)"]).status();
    assert!(out.status.success(), "walk-through failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status);
    assert!(stdout.contains("Log4Shell in pump controller firmware"), "Beta does not list the advisory:\n{stdout}");
    assert!(stdout.contains("Beta Pumps"), "the members table does not show Beta:\n{stdout}");
    assert!(
        stdout.contains("Credential phishing at our help desk"),
        "the customer does not list the supplier's notice:\n{stdout}"
    );
    // The supplier who joined with an invite link lists the customer's advisory, and the
    // customer sees the link's use.
    assert!(
        stdout.contains("Pump controller patch window moves to Sundays"),
        "the supplier who joined with a link does not list the advisory:\n{stdout}"
    );
    assert!(stdout.contains("Gamma Valves"), "the link's use does not show Gamma:\n{stdout}");
}

/// The README's supplier section is exactly two commands, and the walk-through runs both, as
/// written, on a fresh home.
#[test]
fn readme_supplier_section_is_two_commands_the_walkthrough_runs() {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).expect("README.md");
    let section = |start: &str, end: &str| -> Vec<String> {
        let s = readme.find(start).unwrap_or_else(|| panic!("{start} marker"));
        let e = readme.find(end).unwrap_or_else(|| panic!("{end} marker"));
        readme[s..e]
            .lines()
            .skip_while(|l| !l.starts_with("```sh"))
            .skip(1)
            .take_while(|l| !l.starts_with("```"))
            .map(|l| l.split(" #").next().unwrap_or("").trim().to_string())
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    };
    let supplier = section("<!-- supplier:start -->", "<!-- supplier:end -->");
    assert_eq!(supplier, ["trellis up \"$LINK\"", "trellis advisory list"], "the supplier section changed");
    let walk = section("<!-- walkthrough:start -->", "<!-- walkthrough:end -->");
    let at = walk.iter().position(|l| *l == supplier[0]).expect("the walk-through runs `trellis up \"$LINK\"`");
    assert_eq!(walk.get(at + 1), Some(&supplier[1]), "the walk-through runs the two commands in a row");
    // On a home of its own that nothing set up before.
    assert!(walk.iter().any(|l| l.starts_with("rm -rf") && l.contains("/tmp/trellis-gamma")));
    assert!(walk[..at].iter().any(|l| l.contains("TRELLIS_HOME=/tmp/trellis-gamma")));
    assert!(
        !walk[..at]
            .iter()
            .any(|l| l.contains("trellis-gamma") && !l.contains("TRELLIS_HOME=") && !l.starts_with("rm -rf"))
    );
}
