//! The README's section for small suppliers is run exactly as written (the block between the
//! `small-suppliers:start` and `small-suppliers:end` markers): resources shared and fetched,
//! a request for help answered and resolved, the key protected, backed up and restored on a
//! fresh home that catches up its history. The test adds one line before the block, a trap
//! that stops the block's background daemons however the script ends.

use std::process::Command;

use trellis_tests::{Bins, workspace_root};

#[test]
fn readme_small_suppliers_runs_as_written() {
    let bins = Bins::locate().expect("binaries built");
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).expect("README.md");
    let start = readme.find("<!-- small-suppliers:start -->").expect("start marker");
    let end = readme.find("<!-- small-suppliers:end -->").expect("end marker");
    let block = &readme[start..end];
    let body: String = block
        .lines()
        .skip_while(|l| !l.starts_with("```sh"))
        .skip(1)
        .take_while(|l| !l.starts_with("```"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(body.contains("resource publish") && body.contains("keys import"), "block not found:\n{block}");
    let script = format!("trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n{body}");
    let bin_dir = bins.trellis.parent().expect("bin dir").to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("bash")
        .arg("-euo")
        .arg("pipefail")
        .arg("-c")
        .arg(&script)
        .current_dir(workspace_root())
        .env("PATH", path)
        .env_remove("TRELLIS_HOME")
        .env_remove("TRELLIS_PASSPHRASE_FILE")
        .env_remove("CREDENTIALS_DIRECTORY")
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the section failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status);
    assert!(stdout.contains("Monthly restore test"), "the supplier does not list the resource:\n{stdout}");
    assert!(stdout.contains("One named account each, with MFA"), "the answer did not reach the supplier:\n{stdout}");
    let restored = stdout.lines().last().unwrap_or_default();
    assert!(
        restored.contains("resolved") && restored.contains("identity-and-access"),
        "the restored node does not list its resolved request: {restored:?}\nstdout:\n{stdout}"
    );
}
