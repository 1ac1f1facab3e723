//! Helpers for end-to-end tests that drive the REAL binaries, `trellisd` and `trellis`, as a
//! user would: locating the built binaries, running `trellis` commands against a home,
//! starting daemons on loopback port 0 with a guard that kills them even when a test panics,
//! waiting on conditions with a timeout (never fixed sleeps), and printing the daemons' logs
//! only when a test fails.
//!
//! The binaries are not built by the tests (a test cannot safely run cargo while cargo runs
//! it): the README's test command, `cargo build --workspace && cargo test --workspace`, builds
//! them first. [`Bins::locate`] fails when a binary is missing and warns (in the test's
//! output, shown on failure) when one is older than the sources: on a shared development
//! tree the sources change under a running test, so staleness is a hint, not a verdict.

pub mod netns;
pub mod webdriver;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};

/// How often conditions are polled.
pub const POLL: Duration = Duration::from_millis(200);

/// Where the binaries are: `TRELLIS_BIN_DIR`, else `$CARGO_TARGET_DIR/debug`, else the
/// workspace's `target/debug`.
pub fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("TRELLIS_BIN_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(d).join("debug");
    }
    workspace_root().join("target").join("debug")
}

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(".."))
}

/// Newest modification time of any file under `dir`.
fn newest_mtime(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    let entries = std::fs::read_dir(dir).ok()?;
    for e in entries.flatten() {
        let path = e.path();
        let t = if path.is_dir() { newest_mtime(&path) } else { e.metadata().and_then(|m| m.modified()).ok() };
        newest = newest.max(t);
    }
    newest
}

/// Paths of the two binaries.
#[derive(Clone, Debug)]
pub struct Bins {
    pub trellis: PathBuf,
    pub trellisd: PathBuf,
}

impl Bins {
    /// Find the built binaries; warn if one is older than the sources it is built from.
    pub fn locate() -> anyhow::Result<Bins> {
        let dir = bin_dir();
        let bins = Bins { trellis: dir.join("trellis"), trellisd: dir.join("trellisd") };
        let root = workspace_root();
        let sources = ["proto/src", "daemon/src", "cli/src"].iter().filter_map(|d| newest_mtime(&root.join(d))).max();
        for bin in [&bins.trellis, &bins.trellisd] {
            let built = std::fs::metadata(bin).and_then(|m| m.modified()).with_context(|| {
                format!(
                    "{} not found: build the binaries first with `cargo build --workspace` \
                         (or set TRELLIS_BIN_DIR)",
                    bin.display()
                )
            })?;
            if std::env::var_os("TRELLIS_BIN_DIR").is_none() && sources.is_some_and(|s| s > built) {
                eprintln!(
                    "warning: {} is older than the sources; run `cargo build --workspace` before the tests",
                    bin.display()
                );
            }
        }
        Ok(bins)
    }

    /// Run `trellis --home HOME ARGS…` to completion (stdin closed: the CLI never prompts).
    pub fn trellis(&self, home: &Path, args: &[&str]) -> CliOutput {
        let out = Command::new(&self.trellis)
            .arg("--home")
            .arg(home)
            .args(args)
            .stdin(Stdio::null())
            .env_remove("TRELLIS_HOME")
            .output();
        let command = format!("trellis --home {} {}", home.display(), args.join(" "));
        match out {
            Ok(o) => CliOutput {
                command,
                code: o.status.code(),
                stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            },
            Err(e) => CliOutput {
                command,
                code: None,
                stdout: String::new(),
                stderr: format!("cannot run {}: {e}", self.trellis.display()),
            },
        }
    }

    /// Run `trellis --home HOME --json ARGS…`, require success and parse the one JSON value.
    pub fn json(&self, home: &Path, args: &[&str]) -> anyhow::Result<serde_json::Value> {
        let mut full = vec!["--json"];
        full.extend_from_slice(args);
        self.trellis(home, &full).ok()?.parse()
    }
}

/// A running `trellis --json watch`: its stdout lines arrive on a channel. Dropping it kills
/// the process.
pub struct Watcher {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Bins {
    /// Start `trellis --home HOME --json watch ARGS…` and wait until it says on stderr that the
    /// stream is open (events published after that are not missed).
    pub fn watch(&self, home: &Path, args: &[&str]) -> anyhow::Result<Watcher> {
        let mut child = Command::new(&self.trellis)
            .arg("--home")
            .arg(home)
            .args(["--json", "watch"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env_remove("TRELLIS_HOME")
            .spawn()
            .with_context(|| format!("cannot run {}", self.trellis.display()))?;
        let (line_tx, lines) = mpsc::channel();
        let (err_tx, err_rx) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    let _ = line_tx.send(line);
                }
            });
        }
        if let Some(err) = child.stderr.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    let _ = err_tx.send(line);
                }
            });
        }
        let mut watcher = Watcher { child, lines };
        match err_rx.recv_timeout(Duration::from_secs(20)) {
            Ok(l) if l.starts_with("watching events") => Ok(watcher),
            Ok(l) => bail!("`trellis watch` said: {l}"),
            Err(_) => {
                let status = watcher.child.try_wait()?;
                bail!("`trellis watch` did not open its stream within 20 s (exit: {status:?})")
            }
        }
    }
}

impl Watcher {
    /// The first line that is a JSON object matching `pred`, waiting at most `timeout`. Every
    /// line must be one JSON object (the `--json watch` contract).
    pub fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> anyhow::Result<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .map_err(|_| anyhow::anyhow!("timed out after {timeout:?} waiting for {what} from `trellis watch`"))?;
            let v: serde_json::Value = serde_json::from_str(&line)
                .with_context(|| format!("`trellis --json watch` printed a line that is not JSON: {line:?}"))?;
            if !v.is_object() {
                bail!("`trellis --json watch` printed a non-object: {line}");
            }
            if pred(&v) {
                return Ok(v);
            }
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one `trellis` run printed.
#[derive(Debug)]
pub struct CliOutput {
    pub command: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    /// The output if the command exited 0, else an error showing everything it printed.
    pub fn ok(self) -> anyhow::Result<CliOutput> {
        if self.code == Some(0) {
            return Ok(self);
        }
        bail!("`{}` exited with {:?}\nstdout: {}\nstderr: {}", self.command, self.code, self.stdout, self.stderr)
    }

    /// Stdout as one JSON value.
    pub fn parse(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_str(&self.stdout)
            .with_context(|| format!("`{}` did not print one JSON value: {:?}", self.command, self.stdout))
    }
}

/// Poll `check` every [`POLL`] until it returns `Some`, or fail after `timeout` naming `what`.
pub fn wait_until<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(POLL);
    }
}

/// A running `trellisd`. Dropping it kills the process (also while a test unwinds), and if
/// the thread is panicking, prints the daemon's log first.
pub struct Daemon {
    pub name: String,
    pub home: PathBuf,
    bootstrap: Vec<String>,
    /// Further `trellisd` arguments (e.g. `--passphrase-file FILE`), kept across restarts.
    extra_args: Vec<String>,
    child: Option<Child>,
    log: PathBuf,
    /// Logs of this daemon's earlier runs (before a restart), printed with the current one.
    earlier_logs: Vec<PathBuf>,
    bins: Bins,
}

impl Daemon {
    /// Start `trellisd --home HOME --listen /ip4/127.0.0.1/tcp/0 [--bootstrap ADDR]…` and wait
    /// until `trellis status` answers. Its stderr (the log) goes to a file beside the home.
    pub fn start(bins: &Bins, name: &str, home: &Path, bootstrap: &[String]) -> anyhow::Result<Daemon> {
        Self::start_with_args(bins, name, home, bootstrap, &[])
    }

    /// [`Daemon::start`] with further `trellisd` arguments.
    pub fn start_with_args(
        bins: &Bins,
        name: &str,
        home: &Path,
        bootstrap: &[String],
        extra_args: &[&str],
    ) -> anyhow::Result<Daemon> {
        let mut d = Daemon {
            name: name.to_string(),
            home: home.to_path_buf(),
            bootstrap: bootstrap.to_vec(),
            extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
            child: None,
            log: PathBuf::new(),
            earlier_logs: Vec::new(),
            bins: bins.clone(),
        };
        d.spawn()?;
        Ok(d)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let run = self.earlier_logs.len() + usize::from(!self.log.as_os_str().is_empty());
        let parent = self.home.parent().unwrap_or(Path::new("/tmp"));
        let log = parent.join(format!("{}-{run}.log", self.name));
        let out = parent.join(format!("{}-{run}.stdout", self.name));
        if !self.log.as_os_str().is_empty() {
            self.earlier_logs.push(std::mem::take(&mut self.log));
        }
        self.log = log.clone();
        let mut cmd = Command::new(&self.bins.trellisd);
        cmd.arg("--home").arg(&self.home).args(["--listen", "/ip4/127.0.0.1/tcp/0"]);
        for b in &self.bootstrap {
            cmd.args(["--bootstrap", b]);
        }
        cmd.args(&self.extra_args);
        let child = cmd
            .stdin(Stdio::null())
            .stdout(File::create(&out).with_context(|| format!("create {}", out.display()))?)
            .stderr(File::create(&log).with_context(|| format!("create {}", log.display()))?)
            .env_remove("TRELLIS_HOME")
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
            .spawn()
            .with_context(|| format!("cannot start {}", self.bins.trellisd.display()))?;
        self.child = Some(child);
        let bins = self.bins.clone();
        let home = self.home.clone();
        let mut exited = None;
        let ready =
            wait_until(&format!("trellisd {} to answer `trellis status`", self.name), Duration::from_secs(60), || {
                if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                    exited = Some(status);
                    return Some(false);
                }
                (bins.trellis(&home, &["--json", "status"]).code == Some(0)).then_some(true)
            })?;
        if !ready {
            bail!(
                "trellisd {} exited at start ({exited:?}); log:\n{}",
                self.name,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
        Ok(())
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stop with SIGTERM (as an operator or systemd would) and wait for the exit; SIGKILL if
    /// it has not exited after 20 s.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait()? {
                if !status.success() {
                    eprintln!("note: trellisd {} exited with {status} after SIGTERM", self.name);
                }
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("trellisd {} did not exit within 20 s of SIGTERM", self.name);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stop and start again with the same home and flags.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop()?;
        self.spawn()
    }

    /// Everything this daemon logged (all runs).
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for path in self.earlier_logs.iter().chain(std::iter::once(&self.log)) {
            s.push_str(&format!("----- {} ({}) -----\n", self.name, path.display()));
            s.push_str(&std::fs::read_to_string(path).unwrap_or_default());
        }
        s
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Every regular file under `dir` that contains `needle`, as paths.
pub fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return hits;
    };
    for e in entries.flatten() {
        let path = e.path();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            hits.extend(files_containing(&path, needle));
        } else if ft.is_file()
            && let Ok(bytes) = std::fs::read(&path)
            && bytes.windows(needle.len()).any(|w| w == needle)
        {
            hits.push(path);
        }
    }
    hits
}

/// Every regular file under `dir` (to show that a scan looked at something).
pub fn regular_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            match e.file_type() {
                Ok(ft) if ft.is_dir() => out.extend(regular_files(&e.path())),
                Ok(ft) if ft.is_file() => out.push(e.path()),
                _ => {}
            }
        }
    }
    out
}
