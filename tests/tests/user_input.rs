//! What a user types and what a member sends, through the real binaries (issue 23): group names
//! that cannot capture another group's id, remote text that cannot attack a terminal, one
//! daemon per home, ops the group rules would void refused before they are published, bounded
//! file reads, idempotent publishing with counts of what happened, severities that agree with
//! their vectors, package URLs and ranges checked, and the messages around them.
//!
//! Needs the binaries built first (`cargo build --workspace`). Daemon logs are printed only
//! when a test fails.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use serde_json::Value;
use trellis_tests::{Bins, CliOutput, Daemon, wait_until};

const NET: Duration = Duration::from_secs(30);

fn str_field<'a>(v: &'a Value, key: &str) -> anyhow::Result<&'a str> {
    v.get(key).and_then(Value::as_str).with_context(|| format!("no string {key:?} in {v}"))
}

fn array(v: Value) -> anyhow::Result<Vec<Value>> {
    match v {
        Value::Array(a) => Ok(a),
        other => bail!("expected a JSON array, got {other}"),
    }
}

fn tempdir() -> tempfile::TempDir {
    // Short base path: the API socket lives in the home and unix socket paths are limited.
    tempfile::Builder::new().prefix("trellis-in").tempdir_in("/tmp").unwrap_or_else(|e| panic!("temp dir: {e}"))
}

fn init(bins: &Bins, home: &Path, name: &str) -> anyhow::Result<String> {
    let v = bins.json(home, &["init", "--name", name])?;
    Ok(str_field(&v, "org")?.to_string())
}

fn fingerprint(bins: &Bins, home: &Path) -> anyhow::Result<String> {
    Ok(str_field(&bins.json(home, &["status"])?, "fingerprint")?.to_string())
}

fn dial_addr(bins: &Bins, home: &Path) -> anyhow::Result<String> {
    let status = bins.json(home, &["status"])?;
    let addrs = status.get("listen_addrs").and_then(Value::as_array).context("no listen_addrs")?;
    addrs
        .iter()
        .filter_map(Value::as_str)
        .find(|a| a.starts_with("/ip4/127.0.0.1/tcp/"))
        .map(String::from)
        .with_context(|| format!("no loopback address in {status}"))
}

/// A refused command: exit 1 and `needle` in its error.
fn refused(out: CliOutput, needle: &str) -> anyhow::Result<CliOutput> {
    ensure!(
        out.code == Some(1),
        "`{}` should fail, got {:?}\nstdout: {}\nstderr: {}",
        out.command,
        out.code,
        out.stdout,
        out.stderr
    );
    ensure!(out.stderr.contains(needle), "`{}`: expected {needle:?} in stderr: {}", out.command, out.stderr);
    Ok(out)
}

/// Create `group` in `admin_home` and bring `member_home`'s org in; waits until the member
/// lists itself as a member.
fn invite_and_join(bins: &Bins, admin_home: &Path, member_home: &Path, group: &str) -> anyhow::Result<()> {
    let card = str_field(&bins.json(member_home, &["id"])?, "card")?.to_string();
    let token = str_field(&bins.json(admin_home, &["group", "invite", group, &card])?, "token")?.to_string();
    let joined = bins.json(member_home, &["group", "join", &token])?;
    let gid = str_field(&joined, "id")?.to_string();
    wait_until(&format!("membership in {group}"), NET, || {
        let list = bins.json(member_home, &["group", "members", &gid]).ok()?;
        list.as_array()?.iter().any(|m| m.get("is_self") == Some(&Value::Bool(true))).then_some(())
    })
}

fn advisory_count(bins: &Bins, home: &Path) -> anyhow::Result<usize> {
    Ok(array(bins.json(home, &["advisory", "list"])?)?.len())
}

/// Two daemons, A ("Alpha Water") and B ("Beta Pumps"), connected.
struct Pair {
    _dir: tempfile::TempDir,
    bins: Bins,
    a: Daemon,
    b: Daemon,
}

fn pair() -> anyhow::Result<Pair> {
    let bins = Bins::locate()?;
    let dir = tempdir();
    let (ha, hb) = (dir.path().join("a"), dir.path().join("b"));
    init(&bins, &ha, "Alpha Water")?;
    init(&bins, &hb, "Beta Pumps")?;
    let a = Daemon::start(&bins, "A", &ha, &[])?;
    let addr = dial_addr(&bins, &ha)?;
    let b = Daemon::start(&bins, "B", &hb, &[addr])?;
    Ok(Pair { _dir: dir, bins, a, b })
}

/// 23.1: a name that reads as an id is refused; a second group of a name already used is not
/// joined; `group list` names each group's founder; AMBER shows the resolved group first.
#[test]
fn group_names_cannot_capture_ids_and_publishing_amber_names_the_group() {
    let run = || -> anyhow::Result<()> {
        let p = pair()?;
        let (bins, ha, hb) = (&p.bins, &p.a.home, &p.b.home);
        let dir = ha.parent().context("no parent")?;
        let hg = dir.join("g");
        init(bins, &hg, "Gamma Suppliers")?;
        let g = Daemon::start(bins, "G", &hg, &[dial_addr(bins, ha)?])?;

        let created = bins.json(ha, &["group", "create", "alpha-suppliers", "--kind", "supply-chain"])?;
        let alpha_gid = str_field(&created, "id")?.to_string();
        invite_and_join(bins, ha, hb, "alpha-suppliers")?;

        // Gamma cannot name a group after Alpha's channel's short id (or any id-like text).
        let short: String = alpha_gid.chars().take(12).collect();
        refused(bins.trellis(&hg, &["group", "create", &short, "--kind", "supply-chain"]), "reads as a group id")?;
        refused(
            bins.trellis(&hg, &["group", "create", &short.to_uppercase(), "--kind", "sector"]),
            "reads as a group id",
        )?;
        ensure!(array(bins.json(&hg, &["group", "list"])?)?.is_empty());

        // A Gamma running a modified binary can name its group after Alpha's channel's id; Beta
        // refuses to join it.
        let card_b = str_field(&bins.json(hb, &["id"])?, "card")?.to_string();
        let forged = invite_from_a_modified_binary(&short, &card_b)?;
        refused(bins.trellis(hb, &["group", "join", &forged]), "reads as a group id")?;
        ensure!(array(bins.json(hb, &["group", "list"])?)?.len() == 1);

        // Gamma's group of the same name is not joined by Beta: names are unique on a node.
        bins.json(&hg, &["group", "create", "alpha-suppliers", "--kind", "supply-chain"])?;
        let card = str_field(&bins.json(hb, &["id"])?, "card")?.to_string();
        let token = str_field(&bins.json(&hg, &["group", "invite", "alpha-suppliers", &card])?, "token")?.to_string();
        let out =
            refused(bins.trellis(hb, &["group", "join", &token]), "already in a group named \"alpha-suppliers\"")?;
        ensure!(out.stderr.contains("Alpha Water"), "the refusal names the existing group's founder: {}", out.stderr);
        // Nor one whose name only reads the same (case, spaces, a zero-width character).
        for look_alike in ["Alpha-Suppliers ", "alpha\u{200b}-suppliers"] {
            let forged = invite_from_a_modified_binary(look_alike, &card_b)?;
            refused(bins.trellis(hb, &["group", "join", &forged]), "already in a group named")?;
        }
        let groups = array(bins.json(hb, &["group", "list"])?)?;
        ensure!(groups.len() == 1, "{groups:?}");
        let fp_a = fingerprint(bins, ha)?;
        ensure!(str_field(&groups[0], "founder_fingerprint")? == fp_a, "{groups:?}");

        // `group list` shows the founder by name.
        let text = bins.trellis(hb, &["group", "list"]).ok()?;
        let header = text.stdout.lines().next().unwrap_or("");
        ensure!(header.contains("FOUNDER"), "{}", text.stdout);
        ensure!(text.stdout.contains(&format!("Alpha Water ({fp_a})")), "{}", text.stdout);

        // AMBER: the resolved group (name, founder, members, full id) is shown before sending.
        let out = bins
            .trellis(hb, &["advisory", "publish", &short, "--tlp", "amber", "--title", "t", "--summary", "s"])
            .ok()?;
        ensure!(
            out.stderr.contains(&format!(
                "TLP:AMBER to group alpha-suppliers founded by Alpha Water ({fp_a}), 2 members (id {alpha_gid})"
            )),
            "{}",
            out.stderr
        );
        // The same for a posture attestation (AMBER to the customer by default).
        let answers = dir.join("answers.txt");
        std::fs::write(&answers, "security@example.com\n\n")?;
        let posture = dir.join("posture.json");
        let (answers_arg, posture_arg) = (answers.display().to_string(), posture.display().to_string());
        bins.trellis(hb, &["posture", "init", "--out", &posture_arg, "--answers", &answers_arg]).ok()?;
        let out = bins.trellis(hb, &["posture", "publish", &short, "--file", &posture_arg]).ok()?;
        ensure!(out.stderr.contains("TLP:AMBER to group alpha-suppliers founded by Alpha Water"), "{}", out.stderr);
        drop(g);
        Ok(())
    };
    if let Err(e) = run() {
        panic!("{e:#}");
    }
}

/// An invite token from a founder running a modified binary, which skips the checks `group
/// create` makes on names: a signed genesis named `name` and the `Add` op admitting `card`.
fn invite_from_a_modified_binary(name: &str, card: &str) -> anyhow::Result<String> {
    use trellis_proto::envelope::{EnvelopeRandomness, PublishRequest, Recipients};
    use trellis_proto::group::{GroupKind, GroupOp, OpAction, Role, SignedGenesis};
    use trellis_proto::invite::Invite;
    use trellis_proto::{ContactCard, Envelope, OrgKeys, Payload, Tlp};
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as u64;
    let founder = OrgKeys::from_seeds([7; 32], [9; 32]);
    let genesis = SignedGenesis::create(&founder, name, GroupKind::Sector, now, [1; 16], &[3; 32], [4; 32])?;
    let card = ContactCard::parse(card, now)?;
    let op = GroupOp {
        parents: vec![],
        action: OpAction::Add { member: card.bundle.clone(), role: Role::Member, share: None },
    };
    let payload = Payload::GroupOp(op);
    let env = Envelope::build(
        &founder,
        &PublishRequest {
            group: genesis.group_id(),
            epoch: 0,
            seq: 1,
            timestamp_ms: now,
            tlp: Tlp::Clear,
            payload: &payload,
            recipients: Recipients::Clear,
        },
        &EnvelopeRandomness { nonce: [5; 24], content_key: [6; 32], hpke_seed: [8; 32] },
    )?;
    Ok(Invite { genesis, add_op: env.bytes, addrs: vec![] }.to_text())
}

/// Bytes a terminal acts on or that hide or reorder text: C0 (but newline), DEL, C1, bidi
/// controls and zero-width characters.
fn raw_control(text: &str) -> Option<char> {
    text.chars().find(|c| {
        (c.is_control() && *c != '\n')
            || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{2028}' | '\u{2029}')
    })
}

/// The adversarial corpus, each entry one string a member might put in a text field.
fn corpus() -> Vec<String> {
    let mut v: Vec<String> = vec![
        "\u{1b}]0;pwned window title\u{7}".into(),
        "\u{1b}[2J\u{1b}[H cleared".into(),
        "\u{1b}]8;;https://evil.example/\u{1b}\\link\u{1b}]8;;\u{1b}\\".into(),
        "\u{9b}31mC1 CSI\u{9c}".into(),
        "row one\nforged row\rcarriage".into(),
        "nul\u{0}bell\u{7}backspace\u{8}vt\u{b}ff\u{c}del\u{7f}".into(),
        "\u{85}next line\u{8d}reverse".into(),
        "bidi \u{202e}desrever\u{202c} \u{2066}iso\u{2069}".into(),
        "zero\u{200b}width\u{200d}join\u{feff}bom\u{2060}".into(),
        "line\u{2028}separator\u{2029}para".into(),
    ];
    v.push(format!("{}\u{1b}[5m", "A".repeat(200)));
    v
}

/// 23.2 and the corpus: every text field of advisories from a remote member, in the other
/// node's `advisory list`, `advisory show` and `watch` text output, holds no raw control byte
/// and keeps one row per item; `--json` keeps the exact text.
#[test]
fn remote_text_cannot_attack_the_terminal() {
    let run = || -> anyhow::Result<()> {
        let p = pair()?;
        let (bins, ha, hb) = (&p.bins, &p.a.home, &p.b.home);
        bins.json(ha, &["group", "create", "water", "--kind", "sector"])?;
        invite_and_join(bins, ha, hb, "water")?;

        // B watches in text mode.
        let mut watch = Command::new(&bins.trellis)
            .args(["--home"])
            .arg(hb)
            .args(["watch", "--group", "water"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        std::thread::sleep(Duration::from_secs(1));

        // 1 MiB strings: refused with the limit in bytes, and nothing is published — in a file
        // (past the CLI's read limit) and in a field (past the protocol's limit for a summary).
        let huge = "\u{1b}".repeat(1024 * 1024);
        let file = ha.parent().context("no parent")?.join("huge.json");
        let file_arg = file.display().to_string();
        let publish_file = ["advisory", "publish", "water", "--tlp", "green", "--file", file_arg.as_str()];
        std::fs::write(&file, serde_json::to_vec(&serde_json::json!({"title": "t", "summary": huge}))?)?;
        refused(bins.trellis(ha, &publish_file), "the limit is 1048576 bytes (1 MiB)")?;
        let big = "\u{9b}2J".repeat(100_000);
        std::fs::write(&file, serde_json::to_vec(&serde_json::json!({"title": "t", "summary": big}))?)?;
        refused(
            bins.trellis(ha, &publish_file),
            "the summary is 400000 bytes as UTF-8 (300000 characters); the limit is 65536 bytes",
        )?;
        ensure!(advisory_count(bins, ha)? == 0);
        // A summary at the protocol's limit, made of escape sequences and newlines.
        let long = "\u{1b}[31m\n".repeat(64 * 1024 / 6);
        std::fs::write(&file, serde_json::to_vec(&serde_json::json!({"title": "long summary", "summary": long}))?)?;
        let mut json_publish = vec!["--json"];
        json_publish.extend_from_slice(&publish_file);
        let long_id = str_field(&bins.trellis(ha, &json_publish).ok()?.parse()?, "id")?.to_string();

        let corpus = corpus();
        let mut ids = Vec::new();
        for (i, text) in corpus.iter().enumerate() {
            let file = ha.parent().context("no parent")?.join(format!("adv{i}.json"));
            let doc = serde_json::json!({"title": text, "summary": text, "remediation": text});
            std::fs::write(&file, serde_json::to_vec(&doc)?)?;
            let out = bins
                .trellis(
                    ha,
                    &[
                        "--json",
                        "advisory",
                        "publish",
                        "water",
                        "--tlp",
                        "green",
                        "--file",
                        &file.display().to_string(),
                    ],
                )
                .ok()?;
            ids.push(str_field(&out.parse()?, "id")?.to_string());
        }
        let mut ids_all = ids.clone();
        ids_all.push(long_id.clone());
        wait_until("B to hold every advisory", NET, || {
            (advisory_count(bins, hb).ok()? == ids_all.len()).then_some(())
        })?;
        let show = bins.trellis(hb, &["advisory", "show", &long_id]).ok()?;
        ensure!(raw_control(&show.stdout).is_none(), "raw control in the long summary");
        ensure!(show.stdout.lines().filter(|l| l.starts_with("  \\e[31m")).count() == 64 * 1024 / 6, "one line each");

        // --json keeps the exact bytes.
        for a in array(bins.json(hb, &["advisory", "list"])?)? {
            let title = str_field(&a, "title")?;
            let summary = str_field(&a, "summary")?;
            if a.get("id").and_then(Value::as_str) == Some(long_id.as_str()) {
                ensure!(summary == long.trim(), "the long summary changed in JSON");
                continue;
            }
            ensure!(corpus.iter().any(|c| c.trim() == title && c.trim() == summary), "text changed in JSON: {title:?}");
        }

        // Text: one row per item, no raw control byte.
        let list = bins.trellis(hb, &["advisory", "list"]).ok()?;
        ensure!(
            raw_control(&list.stdout).is_none(),
            "raw control {:?} in list: {:?}",
            raw_control(&list.stdout),
            list.stdout
        );
        ensure!(list.stdout.lines().count() == ids_all.len() + 1, "one row per item, got:\n{}", list.stdout);
        for (id, text) in ids.iter().zip(&corpus) {
            let show = bins.trellis(hb, &["advisory", "show", id]).ok()?;
            ensure!(raw_control(&show.stdout).is_none(), "raw control in show: {:?}", show.stdout);
            if text.contains('\u{1b}') {
                ensure!(show.stdout.contains("\\e"), "escapes are visible: {}", show.stdout);
            }
            if text.contains('\u{202e}') {
                ensure!(show.stdout.contains("<U+202E>"), "bidi override made visible: {}", show.stdout);
            }
            // The title is one line: a newline in it does not forge a field.
            ensure!(show.stdout.lines().filter(|l| l.starts_with("title:")).count() == 1, "{}", show.stdout);
        }

        // watch: one line per advisory, no raw control byte.
        let deadline = Instant::now() + NET;
        let mut buf = Vec::new();
        let mut out = watch.stdout.take().context("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = out.read(&mut chunk) {
                if n == 0 || tx.send(chunk[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        while Instant::now() < deadline {
            if let Ok(c) = rx.recv_timeout(Duration::from_millis(200)) {
                buf.extend(c);
            }
            if String::from_utf8_lossy(&buf).lines().filter(|l| l.contains("  advisory  ")).count() >= ids_all.len() {
                break;
            }
        }
        let _ = watch.kill();
        let _ = watch.wait();
        let text = String::from_utf8(buf)?;
        ensure!(raw_control(&text).is_none(), "raw control in watch: {text:?}");
        let events = text.lines().filter(|l| l.contains("  advisory  ")).count();
        ensure!(events == ids_all.len() && text.lines().count() == ids_all.len(), "one line per event:\n{text}");
        Ok(())
    };
    if let Err(e) = run() {
        panic!("{e:#}");
    }
}

/// 23.8: a second trellisd on a home is refused before it touches anything, naming the first
/// one's pid; the first keeps running. Also: store.redb is 0600, and the CLI says which
/// socket problem it met.
#[test]
fn one_daemon_per_home_and_socket_errors_say_which() {
    let run = || -> anyhow::Result<()> {
        let bins = Bins::locate()?;
        let dir = tempdir();
        let home = dir.path().join("a");
        init(&bins, &home, "Alpha Water")?;
        let a = Daemon::start(&bins, "A", &home, &[])?;
        let pid = a.pid().context("no pid")?;
        let out = Command::new(&bins.trellisd)
            .arg("--home")
            .arg(&home)
            .args(["--listen", "/ip4/127.0.0.1/tcp/0"])
            .stdin(Stdio::null())
            .output()?;
        let err = String::from_utf8_lossy(&out.stderr);
        ensure!(!out.status.success(), "second daemon must exit: {err}");
        ensure!(err.contains(&format!("another trellisd (pid {pid}) is running on this home")), "{err}");
        ensure!(!err.contains("damaged") && !err.contains("move it aside"), "{err}");
        bins.json(&home, &["status"])?;

        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.join("store.redb"))?.permissions().mode() & 0o777;
        ensure!(mode == 0o600, "store.redb mode {mode:o}");
        drop(a);

        // Killed with SIGKILL, the first leaves its lock file (with its pid) behind; that does
        // not block the next start, which writes its own pid.
        let lock = home.join("trellisd.lock");
        ensure!(std::fs::read_to_string(&lock)?.trim() == pid.to_string());
        let again = Daemon::start(&bins, "A again", &home, &[])?;
        let pid_again = again.pid().context("no pid")?;
        ensure!(pid_again != pid && std::fs::read_to_string(&lock)?.trim() == pid_again.to_string());
        bins.json(&home, &["status"])?;
        drop(again);

        // A socket left by a daemon that died: said so, not "no socket".
        let listener = std::os::unix::net::UnixListener::bind(home.join("trellisd.sock"));
        drop(listener);
        refused(bins.trellis(&home, &["status"]), "left by a daemon that stopped")?;
        // A mistyped home: not a Trellis home, with how to create one (never silently).
        refused(bins.trellis(&dir.path().join("typo"), &["status"]), "is not a Trellis home")?;
        // init without --name and no terminal to ask on.
        refused(bins.trellis(&dir.path().join("new"), &["init"]), "give the organization's name")?;
        ensure!(!dir.path().join("new/identity.key").exists());
        Ok(())
    };
    if let Err(e) = run() {
        panic!("{e:#}");
    }
}

/// 23.5, 23.6, 23.7, 23.3, 23.4 and the messages, on one node with a peer.
#[test]
fn refusals_before_publishing_bounded_reads_and_idempotent_publishing() {
    let run = || -> anyhow::Result<()> {
        let p = pair()?;
        let (bins, ha, hb) = (&p.bins, &p.a.home, &p.b.home);
        let dir = ha.parent().context("no parent")?.to_path_buf();
        bins.json(ha, &["group", "create", "water", "--kind", "sector"])?;

        // 23.5: the last admin demoting itself is refused with the rule; nothing changes.
        let fp_a = fingerprint(bins, ha)?;
        refused(bins.trellis(ha, &["group", "role", "water", &fp_a, "member"]), "without an admin")?;
        let members = array(bins.json(ha, &["group", "members", "water"])?)?;
        ensure!(members.iter().all(|m| str_field(m, "role").ok() == Some("admin")), "{members:?}");

        // 23.6: /dev/zero and a file past the limit are refused without being read whole.
        let started = Instant::now();
        refused(
            bins.trellis(ha, &["advisory", "publish", "water", "--tlp", "green", "--file", "/dev/zero"]),
            "longer than the limit of 1048576 bytes (1 MiB)",
        )?;
        ensure!(started.elapsed() < Duration::from_secs(20));
        let big = dir.join("big.json");
        std::fs::write(&big, vec![b' '; 3 * 1024 * 1024])?;
        refused(
            bins.trellis(ha, &["advisory", "publish", "water", "--tlp", "green", "--file", &big.display().to_string()]),
            "is 3145728 bytes (3 MiB) long; the limit is 1048576 bytes (1 MiB)",
        )?;

        // No member connected: the publish says so.
        let out = bins
            .trellis(ha, &["advisory", "publish", "water", "--tlp", "GREEN", "--title", "alone", "--summary", "s"])
            .ok()?;
        ensure!(out.stderr.contains("no member of water is connected now"), "{}", out.stderr);

        invite_and_join(bins, ha, hb, "water")?;

        // 23.7: the same advisory twice is one item; the second run says so.
        let args = ["advisory", "publish", "water", "--tlp", "TLP:green", "--title", "twice", "--summary", "same"];
        let first = bins.trellis(ha, &args).ok()?;
        let second = bins.trellis(ha, &args).ok()?;
        ensure!(first.stdout == second.stdout, "{} vs {}", first.stdout, second.stdout);
        ensure!(second.stderr.contains("already published"), "{}", second.stderr);
        let mut json_args = vec!["--json"];
        json_args.extend_from_slice(&args);
        let v = bins.trellis(ha, &json_args).ok()?.parse()?;
        ensure!(v.get("existing") == Some(&Value::Bool(true)), "{v}");
        // Identical publishes at the same moment make one item too.
        let at_once = ["advisory", "publish", "water", "--tlp", "green", "--title", "at once", "--summary", "s"];
        let ids: Vec<String> = std::thread::scope(|s| {
            let runs: Vec<_> = (0..4).map(|_| s.spawn(|| bins.trellis(ha, &at_once))).collect();
            runs.into_iter().filter_map(|r| r.join().ok()).map(|o| o.stdout.trim().to_string()).collect()
        });
        ensure!(ids.len() == 4 && ids.iter().all(|i| !i.is_empty() && *i == ids[0]), "{ids:?}");
        let listed = array(bins.json(ha, &["advisory", "list"])?)?;
        let n = listed.iter().filter(|a| a.get("title").and_then(Value::as_str) == Some("at once")).count();
        ensure!(n == 1, "{n} items for identical publishes at once");
        // --file can name a pipe: it is read once.
        let mut piped = Command::new(&bins.trellis)
            .arg("--home")
            .arg(ha)
            .args(["advisory", "publish", "water", "--tlp", "green", "--file", "/dev/stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        std::io::Write::write_all(&mut piped.stdin.take().context("no stdin")?, br#"{"title":"piped","summary":"s"}"#)?;
        let out = piped.wait_with_output()?;
        ensure!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        // The same text at another label or in another group is another item: a retry never
        // answers with an item of a different label or group.
        let fp_b = fingerprint(bins, hb)?;
        let amber =
            ["advisory", "publish", "water", "--tlp", "amber", "--to", &fp_b, "--title", "twice", "--summary", "same"];
        let other_label = bins.trellis(ha, &amber).ok()?;
        ensure!(other_label.stdout != first.stdout && !other_label.stderr.contains("already published"));
        bins.json(ha, &["group", "create", "water-two", "--kind", "sector"])?;
        let other_group =
            ["advisory", "publish", "water-two", "--tlp", "green", "--title", "twice", "--summary", "same"];
        let other_group = bins.trellis(ha, &other_group).ok()?;
        ensure!(other_group.stdout != first.stdout && !other_group.stderr.contains("already published"));
        let listed = array(bins.json(ha, &["advisory", "list"])?)?;
        let twice: Vec<(&str, &str)> = listed
            .iter()
            .filter(|a| a.get("title").and_then(Value::as_str) == Some("twice"))
            .filter_map(|a| Some((a.get("tlp")?.as_str()?, a.get("group_name")?.as_str()?)))
            .collect();
        ensure!(twice.len() == 3, "{twice:?}");
        for want in [("green", "water"), ("amber", "water"), ("green", "water-two")] {
            ensure!(twice.contains(&want), "{want:?} missing from {twice:?}");
        }

        // The same OSV document twice is one item, and export counts the files it wrote.
        let osv = trellis_tests::workspace_root().join("proto/tests/fixtures/osv-synthetic-npm.json");
        let osv = osv.display().to_string();
        let one = bins.json(ha, &["advisory", "publish", "water", "--tlp", "white", "--file", &osv])?;
        let two = bins.trellis(ha, &["advisory", "publish", "water", "--tlp", "clear", "--file", &osv]).ok()?;
        ensure!(str_field(&one, "id")? == two.stdout.trim(), "{one} vs {}", two.stdout);
        let note = bins.trellis(ha, &["advisory", "publish", "water", "--tlp", "white", "--file", &osv]).ok()?;
        ensure!(note.stderr.contains("TLP:WHITE is TLP 1.0's name for TLP:CLEAR"), "{}", note.stderr);
        bins.json(
            ha,
            &["advisory", "publish", "water", "--tlp", "clear", "--title", "second clear", "--summary", "s"],
        )?;
        let out_dir = dir.join("export");
        let ex = bins.json(ha, &["export", "--format", "osv", "--out", &out_dir.display().to_string()])?;
        let written = std::fs::read_dir(&out_dir)?.count();
        let files = ex.get("files").and_then(Value::as_array).context("no files")?.len();
        ensure!(files == written && written == 2, "export said {ex} but wrote {written}");

        // 23.3: a stated score must agree with its vector; broken vectors are refused; v4 scored.
        let before = advisory_count(bins, ha)?;
        let publish_sev = |sev: &str| {
            bins.trellis(
                ha,
                &[
                    "advisory",
                    "publish",
                    "water",
                    "--tlp",
                    "green",
                    "--title",
                    sev,
                    "--summary",
                    "s",
                    "--severity",
                    sev,
                ],
            )
        };
        refused(
            publish_sev("2.0 CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
            "contradicts the vector, which gives 9.8",
        )?;
        refused(publish_sev("9.0 CVSS:4.0/AV:X/AC:Q"), "not a valid CVSS vector")?;
        refused(publish_sev("9.8 CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"), "duplicate")?;
        let v4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N";
        let id = str_field(
            &bins
                .trellis(
                    ha,
                    &[
                        "--json",
                        "advisory",
                        "publish",
                        "water",
                        "--tlp",
                        "green",
                        "--title",
                        "v4",
                        "--summary",
                        "s",
                        "--severity",
                        v4,
                    ],
                )
                .ok()?
                .parse()?,
            "id",
        )?
        .to_string();
        let shown = bins.json(ha, &["advisory", "show", &id])?;
        ensure!(shown.get("score").and_then(Value::as_f64).is_some_and(|s| (s - 9.3).abs() < 1e-6), "{shown}");

        // 23.4: junk package URLs and empty or impossible ranges are refused with the reason.
        for (affects, why) in [
            ("pkg:/@<1", "not a package URL"),
            ("pkg:npm/x@banana", "no digit"),
            ("pkg:npm/x@>=5,<1", "is empty"),
            ("pkg:npm/a%zz@<1", "malformed % escape"),
            ("pkg:npm/my package@<1", "no spaces"),
            ("pkg:npm/x@<<1", "cannot appear"),
            ("pkg:npm/lodash@", "empty"),
        ] {
            refused(
                bins.trellis(
                    ha,
                    &[
                        "advisory",
                        "publish",
                        "water",
                        "--tlp",
                        "green",
                        "--title",
                        "a",
                        "--summary",
                        "s",
                        "--affects",
                        affects,
                    ],
                ),
                why,
            )?;
        }
        // References and aliases: http(s) URLs and identifiers only.
        refused(
            bins.trellis(
                ha,
                &[
                    "advisory",
                    "publish",
                    "water",
                    "--tlp",
                    "clear",
                    "--title",
                    "r",
                    "--summary",
                    "s",
                    "--reference",
                    "javascript:alert(1)",
                ],
            ),
            "not an http(s) URL",
        )?;
        refused(
            bins.trellis(
                ha,
                &[
                    "advisory",
                    "publish",
                    "water",
                    "--tlp",
                    "clear",
                    "--title",
                    "r",
                    "--summary",
                    "s",
                    "--alias",
                    "javascript:alert(1)",
                ],
            ),
            "not an advisory identifier",
        )?;
        ensure!(advisory_count(bins, ha)? == before + 1, "only the v4 advisory was added");

        // Messages: --json errors are one JSON object; bad labels and confidences are refused.
        let out = bins.trellis(ha, &["--json", "group", "members", "nosuchgroup"]);
        ensure!(out.code == Some(1), "{out:?}");
        let v: Value = serde_json::from_str(&out.stdout).with_context(|| format!("not JSON: {:?}", out.stdout))?;
        ensure!(v.pointer("/error/message").and_then(Value::as_str).is_some_and(|m| m.contains("no group")), "{v}");
        let out =
            bins.trellis(ha, &["advisory", "publish", "water", "--tlp", "purple", "--title", "t", "--summary", "s"]);
        ensure!(out.code == Some(2) && out.stderr.contains("any case, TLP: prefix allowed"), "{out:?}");
        // A command line that does not parse is a JSON error too under --json.
        let out = bins.trellis(
            ha,
            &["--json", "advisory", "publish", "water", "--tlp", "purple", "--title", "t", "--summary", "s"],
        );
        ensure!(out.code == Some(2), "{out:?}");
        let v: Value = serde_json::from_str(&out.stdout).with_context(|| format!("not JSON: {:?}", out.stdout))?;
        ensure!(v.pointer("/error/message").and_then(Value::as_str).is_some_and(|m| m.contains("purple")), "{v}");
        for bad in ["2", "NaN", "1.5"] {
            let out = bins.trellis(ha, &["advisory", "list", "--min-confidence", bad]);
            ensure!(out.code == Some(2) && out.stderr.contains("from 0.0 to 1.0"), "{out:?}");
        }
        let page = bins.trellis(ha, &["advisory", "list", "--limit", "1"]).ok()?;
        ensure!(page.stdout.lines().count() == 2, "{}", page.stdout);
        ensure!(page.stderr.contains("next page: --offset 1"), "{}", page.stderr);

        // Files that are not advisories say what they are and which command takes them.
        let bom = dir.join("bom.json");
        std::fs::write(&bom, r#"{"bomFormat":"CycloneDX","specVersion":"1.5","components":[]}"#)?;
        refused(
            bins.trellis(ha, &["advisory", "publish", "water", "--tlp", "green", "--file", &bom.display().to_string()]),
            "a CycloneDX SBOM: add it with `trellis sbom add FILE`",
        )?;
        let stix = dir.join("stix.json");
        std::fs::write(&stix, r#"{"type":"bundle","id":"bundle--6b0e6a4e-7f3c-4f3e-9d0a-1c2b3d4e5f60","objects":[]}"#)?;
        refused(
            bins.trellis(
                ha,
                &["advisory", "publish", "water", "--tlp", "green", "--file", &stix.display().to_string()],
            ),
            "a STIX 2.1 bundle",
        )?;
        refused(bins.trellis(ha, &["group", "create", "bad\nname", "--kind", "sector"]), "control characters")?;

        // posture init with no input writes nothing.
        let posture = dir.join("posture.json");
        refused(
            bins.trellis(ha, &["posture", "init", "--out", &posture.display().to_string()]),
            "no answers were given",
        )?;
        ensure!(!posture.exists());

        // rename: members see the new name.
        bins.json(ha, &["rename", "Alpha Water Works"])?;
        ensure!(str_field(&bins.json(ha, &["status"])?, "name")? == "Alpha Water Works");
        refused(bins.trellis(ha, &["rename", "bad\u{1b}[2Jname"]), "control characters")?;
        Ok(())
    };
    if let Err(e) = run() {
        panic!("{e:#}");
    }
}
