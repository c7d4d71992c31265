//! Faults injected with a fake docker (or a real one pointed at nothing):
//! each ends in a clean stop, one line, the documented exit code, and no
//! step after the fault.

use std::time::{Duration, Instant};

use crate::support::*;

const REG: &str = "127.0.0.1:5999";
const BASE: &str = "127.0.0.1:5999/base:1";
const DIGEST_LINE: &str =
    "Digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn fixture(label: &str) -> Workspace {
    Workspace::fixture(label, REG, BASE)
}

/// Calls after the first one starting with `sub`.
fn calls_after(calls: &[String], sub: &str) -> Vec<String> {
    assert!(
        calls.iter().any(|c| c.starts_with(sub)),
        "no call starts with {sub:?}: {calls:?}"
    );
    calls
        .iter()
        .skip_while(|c| !c.starts_with(sub))
        .skip(1)
        .cloned()
        .collect()
}

#[test]
fn engine_not_running_says_how_to_fix_it() {
    let ws = fixture("no-engine");
    let run = ws.xtask(
        &["image", "build", "fix"],
        None,
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    run.expect(1);
    let line = run.error_line();
    assert!(
        line.contains("Cannot connect to the Docker daemon"),
        "{line}"
    );
    assert!(line.contains("DOCKER_HOST"), "{line}");
    // No socket there: the docker CLI is asked (and says what it misses),
    // not the engine's API; nor where the path is a plain file.
    assert!(line.contains("`docker version` exited"), "{line}");
    let dir = TempDir::new("not-a-socket");
    std::fs::write(dir.path().join("docker.sock"), "").unwrap();
    let file = format!("unix://{}", dir.path().join("docker.sock").display());
    let run = ws.xtask(&["image", "build", "fix"], None, &[("DOCKER_HOST", &file)]);
    run.expect(1);
    assert!(
        run.error_line().contains("`docker version` exited"),
        "{}",
        run.stderr
    );
    // The ping found no engine there: nothing else was asked of it.
    assert!(
        !run.stderr.contains("+ engine API: GET /v"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_failed_or_garbage_digest_lookup_never_starts_the_build() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("FAKE_FAIL", "pull:1")],
            "`docker pull` exited with code 1 (its output is above)",
        ),
        (
            &[
                ("FAKE_PULL_OUTPUT", "garbage"),
                ("FAKE_INSPECT_OUTPUT", "not json"),
            ],
            "docker image inspect printed not JSON",
        ),
        (
            &[
                ("FAKE_PULL_OUTPUT", "garbage"),
                ("FAKE_INSPECT_OUTPUT", "[{\"Id\":\"x\",\"RepoDigests\":[]}]"),
            ],
            "has no repository digest",
        ),
        (
            &[("FAKE_PULL_OUTPUT", "Digest: sha256:zz")],
            "is not a sha256 digest",
        ),
    ];
    for (env, want) in cases {
        let ws = fixture("digest-fault");
        let fake = FakeDocker::new();
        let run = ws.xtask(&["image", "build", "fix"], Some(fake.bin()), env);
        assert_eq!(run.code, Some(1), "{env:?}: {}", run.stderr);
        let line = run.error_line();
        assert!(line.contains(want), "{env:?}: want {want:?} in {line}");
        assert!(
            !fake.calls().iter().any(|c| c.starts_with("build ")),
            "{env:?}: {:?}",
            fake.calls()
        );
    }
}

#[test]
fn a_failed_build_tags_and_pushes_nothing() {
    let ws = fixture("build-fault");
    let fake = FakeDocker::new();
    let run = ws.xtask(
        &["image", "build", "fix"],
        Some(fake.bin()),
        &[("FAKE_PULL_OUTPUT", DIGEST_LINE), ("FAKE_FAIL", "build:3")],
    );
    run.expect(1);
    assert!(
        run.error_line()
            .contains("`docker build` exited with code 3"),
        "{}",
        run.stderr
    );
    // A failed build tags nothing: nothing runs after it.
    assert_eq!(
        calls_after(&fake.calls(), "build --force-rm"),
        Vec::<String>::new()
    );
}

#[test]
fn a_hanging_lookup_or_transfer_is_stopped_after_its_limit() {
    for (hang, env) in [
        ("pull", "XTASK_TRANSFER_TIMEOUT_SECS"),
        ("buildx-version", "XTASK_LOOKUP_TIMEOUT_SECS"),
    ] {
        let ws = fixture("hang");
        let fake = FakeDocker::new();
        let start = Instant::now();
        let run = ws.xtask(
            &["image", "build", "fix"],
            Some(fake.bin()),
            &[("FAKE_HANG", hang), (env, "1")],
        );
        let took = start.elapsed();
        run.expect(1);
        let line = run.error_line();
        assert!(
            line.contains("did not finish within 1 s and was stopped"),
            "{line}"
        );
        assert!(line.contains(env), "{line}");
        assert!(took < Duration::from_secs(20), "{hang}: took {took:?}");
        let pid = fake.hang_pid().expect("the hanging process started");
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "{hang}: child {pid} still runs"
        );
        assert!(!fake.calls().iter().any(|c| c.starts_with("build ")));
    }
    // A bad setting is refused before anything runs.
    let ws = fixture("hang-setting");
    let fake = FakeDocker::new();
    let run = ws.xtask(
        &["image", "build", "fix"],
        Some(fake.bin()),
        &[("XTASK_LOOKUP_TIMEOUT_SECS", "soon")],
    );
    run.expect(2);
    assert!(run
        .error_line()
        .contains("XTASK_LOOKUP_TIMEOUT_SECS='soon'"));
    assert!(fake.calls().is_empty());
}

/// Run the binary with `env`, send it `signal` once the fake docker hangs
/// (`FAKE_HANG` among `env`), and return the run and the hung child's PID.
fn signalled(
    ws: &Workspace,
    fake: &FakeDocker,
    args: &[&str],
    env: &[(&str, &str)],
    signal: &str,
) -> (Run, u32) {
    let mut cmd = ws.xtask_command(args, Some(fake.bin()));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let hung = loop {
        if let Some(pid) = fake.hang_pid() {
            break pid;
        }
        assert!(Instant::now() < deadline, "the hanging step never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    let ok = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    (Run::from(child.wait_with_output().unwrap()), hung)
}

#[test]
fn sigint_or_sigterm_during_a_push_exits_130_or_143_and_reports_it_failed() {
    for (signal, code) in [("-INT", 130), ("-TERM", 143)] {
        let ws = fixture("push-signal");
        let fake = FakeDocker::new();
        let dev = format!(
            "{REG}/itwinai-dev:0.2.2-torch2.6-jammy-{}",
            &ws.head()[..12]
        );
        let inspect = truthful_inspect(&ws, &dev, BASE, &"b".repeat(64));
        let (run, hung) = signalled(
            &ws,
            &fake,
            &["image", "push", "fix", "--dev", "--json"],
            &[
                ("FAKE_INSPECT_OUTPUT", &inspect),
                ("FAKE_RUN_OUTPUT", PROBE_OK),
                ("FAKE_HANG", "save"),
            ],
            signal,
        );
        run.expect(code);
        let line = run.error_line();
        assert!(
            line.contains(&format!("push stopped: writing {dev}")),
            "{signal}: {line}"
        );
        assert!(line.contains("interrupted"), "{signal}: {line}");
        assert!(line.contains(&format!("failed: {dev}")), "{signal}: {line}");
        let doc = xtask::support::json::Json::parse(run.stdout.trim()).unwrap();
        let row = &doc.as_array().unwrap()[0];
        let error = row
            .get("error")
            .and_then(xtask::support::json::Json::as_str)
            .unwrap_or("");
        assert!(error.contains("interrupted"), "{signal}: {}", run.stdout);
        assert!(
            run.stdout.contains("\"status\":\"failed\""),
            "{signal}: {}",
            run.stdout
        );
        assert!(!std::path::Path::new(&format!("/proc/{hung}")).exists());
    }
}

#[test]
fn sigint_during_a_build_stops_it_and_exits_130() {
    let ws = fixture("sigint");
    let fake = FakeDocker::new();
    let (run, hung) = signalled(
        &ws,
        &fake,
        &["image", "build", "fix"],
        &[("FAKE_PULL_OUTPUT", DIGEST_LINE), ("FAKE_HANG", "build")],
        "-INT",
    );
    run.expect(130);
    assert!(run.error_line().contains("interrupted"), "{}", run.stderr);
    assert!(
        !std::path::Path::new(&format!("/proc/{hung}")).exists(),
        "the build child was not stopped"
    );
    // Nothing after it: the image it may have made has no name to remove.
    let after = calls_after(&fake.calls(), "build --force-rm");
    assert_eq!(after, Vec::<String>::new());
}

#[test]
fn a_hanging_push_is_stopped_and_reported() {
    let ws = fixture("push-hang");
    let fake = FakeDocker::new();
    let dev = format!(
        "{REG}/itwinai-dev:0.2.2-torch2.6-jammy-{}",
        &ws.head()[..12]
    );
    let inspect = truthful_inspect(&ws, &dev, BASE, &"b".repeat(64));
    let start = Instant::now();
    let run = ws.xtask(
        &["image", "push", "fix", "--dev", "--json"],
        Some(fake.bin()),
        &[
            ("FAKE_INSPECT_OUTPUT", &inspect),
            ("FAKE_RUN_OUTPUT", PROBE_OK),
            ("FAKE_HANG", "save"),
            ("XTASK_TRANSFER_TIMEOUT_SECS", "1"),
        ],
    );
    run.expect(1);
    let line = run.error_line();
    assert!(
        line.contains(&format!("push stopped: writing {dev}")),
        "{line}"
    );
    assert!(
        line.contains("did not finish within 1 s and was stopped"),
        "{line}"
    );
    assert!(line.contains(&format!("failed: {dev}")), "{line}");
    assert!(
        run.stdout.contains("\"status\":\"failed\""),
        "{}",
        run.stdout
    );
    assert!(start.elapsed() < Duration::from_secs(20));
    // The upload's first step, `docker save` of the checked ID.
    let pid = fake.hang_pid().expect("the upload started");
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

#[test]
fn version_set_writes_through_no_planted_link_and_leaves_no_temp_file() {
    let ws = fixture("version-link");
    let outside = TempDir::new("version-outside");
    let target = outside.path().join("victim");
    std::fs::write(&target, "untouched\n").unwrap();
    // A link under the name a PID-based scheme would use, planted with the
    // child's PID while it still parses a large pyproject.toml.
    let mut big = PYPROJECT.to_string();
    big.push_str(&format!("# {}\n", "x".repeat(78)).repeat(300_000));
    ws.write("pyproject.toml", &big);
    let mut cmd = ws.xtask_command(&["version", "set", "0.2.3"], None);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    std::os::unix::fs::symlink(
        &target,
        ws.root()
            .join(format!(".pyproject.toml.xtask-{}.tmp", child.id())),
    )
    .unwrap();
    let run = Run::from(child.wait_with_output().unwrap());
    run.expect(0);
    let planted = std::fs::read_dir(ws.root())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().is_symlink())
        .count();
    assert_eq!(planted, 1, "the link was planted");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched\n");
    let text = std::fs::read_to_string(ws.root().join("pyproject.toml")).unwrap();
    assert!(text.contains("version = \"0.2.3\""), "{text}");
    assert!(!ws.root().join("pyproject.toml").is_symlink());
    let temps: Vec<String> = std::fs::read_dir(ws.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        // Every .tmp but the planted links.
        .filter(|n| n.ends_with(".tmp"))
        .filter(|n| std::fs::symlink_metadata(ws.root().join(n)).is_ok_and(|m| !m.is_symlink()))
        .collect();
    assert_eq!(temps, Vec::<String>::new(), "a temporary file was left");
}

/// Only the temporary files this very process writes are not changes: a
/// file of the same shape left by a killed run, or planted, is untracked
/// content like any other, so a release build refuses the tree.
#[test]
fn a_temp_file_of_another_run_makes_the_tree_dirty() {
    for leftover in [
        ".pyproject.toml.xtask-99999-0123456789abcdef.tmp",
        "env-files/.sitecustomize.xtask-1.tmp",
    ] {
        let ws = fixture("version-leftover");
        ws.write(leftover, "half a file");
        let fake = FakeDocker::new();
        let run = ws.xtask(
            &["image", "build", "fix", "--dry-run"],
            Some(fake.bin()),
            &[],
        );
        run.expect(2);
        assert!(
            run.error_line().contains("uncommitted changes"),
            "{leftover}: {}",
            run.stderr
        );
    }
}

#[test]
fn sigint_during_version_set_writes_nothing_and_exits_130() {
    let ws = fixture("version-sigint");
    // A pyproject.toml large enough that parsing it outlasts the signal.
    let mut big = PYPROJECT.to_string();
    let filler = format!("# {}\n", "x".repeat(78));
    big.push_str(&filler.repeat(1_000_000));
    ws.write("pyproject.toml", &big);
    let mut cmd = ws.xtask_command(&["version", "set", "0.2.9"], None);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    // Once its handler is installed, it is still reading the file.
    wait_until_caught(child.id(), 2);
    let ok = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let run = Run::from(child.wait_with_output().unwrap());
    run.expect(130);
    let text = std::fs::read_to_string(ws.root().join("pyproject.toml")).unwrap();
    assert!(
        text.contains("version = \"0.2.2\""),
        "the version was written"
    );
    let temps = std::fs::read_dir(ws.root())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".tmp")
        })
        .count();
    assert_eq!(temps, 0, "a temporary file was left");
}

#[test]
fn a_garbled_cache_file_is_started_afresh_not_grown() {
    let ws = fixture("cache-garbled");
    ws.write(
        "env-files/images.toml",
        &catalog(REG, "test = [\"python3\", \"-c\", \"pass\"]\n"),
    );
    ws.commit();
    let fake = FakeDocker::new();
    let cache = ws.home.path().join(".cache/itwinai-xtask");
    std::fs::create_dir_all(&cache).unwrap();
    let garbage = "\u{1b}[31m not a cache line \u{0}\n".repeat(10);
    std::fs::write(cache.join("tests-v2"), &garbage).unwrap();
    let dev = format!(
        "{REG}/itwinai-dev:0.2.2-torch2.6-jammy-{}",
        &ws.head()[..12]
    );
    let inspect = truthful_inspect(&ws, &dev, BASE, &"b".repeat(64));
    // A test that passes is written down (a dry run writes nothing).
    ws.xtask(
        &["image", "test", "fix", "--dev"],
        Some(fake.bin()),
        &[
            ("FAKE_INSPECT_OUTPUT", &inspect),
            ("FAKE_RUN_OUTPUT", PROBE_OK),
        ],
    )
    .expect(0);
    let text = std::fs::read_to_string(cache.join("tests-v2")).unwrap();
    assert!(!text.contains("not a cache line"), "{text:?}");
    assert_eq!(text.lines().count(), 1, "{text:?}");
    assert!(text.starts_with("sha256:"), "{text:?}");
}

#[test]
fn docker_s_message_is_shown_once_and_the_error_starts_its_own_line() {
    let ws = fixture("error-line");
    let dir = TempDir::new("fake-build-fails");
    let fake = dir.path().join("docker");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\ncase \"$1\" in\n  version) echo linux/amd64 ;;\n  buildx) exit 1 ;;\n  pull) echo '{DIGEST_LINE}' ;;\n  build) printf 'step 2/3: no space left on device\\033[0m' >&2; exit 1 ;;\n  *) exit 97 ;;\nesac\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let run = ws.xtask(&["image", "build", "fix"], Some(dir.path()), &[]);
    run.expect(1);
    assert_eq!(
        run.stderr.matches("no space left on device").count(),
        1,
        "{}",
        run.stderr
    );
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{:?}", run.stderr);
    assert!(
        errors[0].contains("exited with code 1 (its output is above)"),
        "{}",
        errors[0]
    );
}

#[test]
fn control_characters_never_reach_the_terminal_raw() {
    let ws = fixture("error-escape");
    let run = ws.xtask(
        &["image", "build", "fix", "--dev", "--tag", "a\u{1b}[31mb"],
        None,
        &[],
    );
    run.expect(2);
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
    assert!(
        run.error_line().contains("a\\u{1b}[31mb"),
        "{:?}",
        run.stderr
    );
}

#[test]
fn concurrent_version_bumps_each_apply() {
    let ws = fixture("bump-race");
    let children: Vec<_> = (0..10)
        .map(|_| {
            let mut cmd = ws.xtask_command(&["version", "bump", "patch"], None);
            cmd.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    let mut printed: Vec<String> = children
        .into_iter()
        .map(|c| {
            let run = Run::from(c.wait_with_output().unwrap());
            run.expect(0);
            run.stdout.trim().to_string()
        })
        .collect();
    printed.sort_by_key(|v| v.rsplit('.').next().unwrap().parse::<u32>().unwrap());
    let want: Vec<String> = (3..=12).map(|p| format!("0.2.{p}")).collect();
    assert_eq!(printed, want, "each bump applied once");
    let text = std::fs::read_to_string(ws.root().join("pyproject.toml")).unwrap();
    assert!(text.contains("version = \"0.2.12\""), "{text}");
}

#[test]
fn json_commands_print_one_document_on_every_exit() {
    let ws = fixture("json-exit");
    let fake = FakeDocker::new();
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], i32, &'a str);
    // A build that fails once its plan runs: the rows, the failed one with
    // its error.
    let run = ws.xtask(
        &["image", "build", "fix", "--json"],
        Some(fake.bin()),
        &[("FAKE_FAIL", "pull:1")],
    );
    run.expect(1);
    let doc = xtask::support::json::Json::parse(run.stdout.trim()).expect(&run.stdout);
    let rows = doc.as_array().expect(&run.stdout);
    assert_eq!(rows.len(), 1, "{}", run.stdout);
    assert_eq!(
        rows[0].get("status").and_then(|s| s.as_str()),
        Some("failed")
    );
    let error = rows[0].get("error").and_then(|s| s.as_str()).unwrap_or("");
    assert!(
        error.contains("`docker pull` exited with code 1"),
        "{}",
        run.stdout
    );
    assert_eq!(
        rows[0].get("image_id"),
        Some(&xtask::support::json::Json::Null)
    );

    let cases: [Case; 2] = [
        (
            &["image", "build", "nope", "--json"],
            &[],
            2,
            "unknown flavour 'nope'",
        ),
        (
            &["image", "push", "fix", "--json"],
            &[],
            1,
            "`docker image inspect` failed",
        ),
    ];
    for (args, env, code, want) in cases {
        let run = ws.xtask(args, Some(fake.bin()), env);
        run.expect(code);
        let doc = xtask::support::json::Json::parse(run.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "{args:?}: stdout is not one JSON document ({e}): {:?}",
                run.stdout
            )
        });
        let error = doc
            .get("error")
            .and_then(xtask::support::json::Json::as_str)
            .unwrap_or("");
        assert!(error.contains(want), "{args:?}: {}", run.stdout);
        assert_eq!(
            doc.get("exit_code"),
            Some(&xtask::support::json::Json::Number(f64::from(code))),
            "{args:?}"
        );
    }
}

#[test]
fn a_git_read_started_beside_a_failing_git_status_does_not_outlive_the_command() {
    let ws = fixture("git-status-fails");
    // git status fails at once; git ls-files, started beside it, takes a
    // second and then leaves a mark; every other read is the real git's.
    let dir = program_wrapper(
        "fake-git-status-fails",
        "git",
        "for a in \"$@\"; do case \"$a\" in\n  status) echo 'fatal: status failed here' >&2; exit 128 ;;\n  ls-files) sleep 1; : > \"$DIR/ls-files-done\" ;;\nesac; done",
    );
    let docker = dir.path().join("docker");
    std::fs::write(
        &docker,
        "#!/bin/sh\ncase \"$1\" in\n  version) echo linux/amd64 ;;\n  *) exit 1 ;;\nesac\n",
    )
    .unwrap();
    std::fs::set_permissions(&docker, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let run = ws.xtask(&["image", "build", "fix"], Some(dir.path()), &[]);
    run.expect(1);
    assert!(run.stderr.contains("status failed here"), "{}", run.stderr);
    // Looked at as soon as the command is gone: the read it started has
    // finished, not left running on its own.
    assert!(
        dir.path().join("ls-files-done").exists(),
        "git ls-files was still running after the command ended"
    );
}

/// A unix socket that accepts each connection, reads its request's head,
/// writes `answer` (none: it never answers) and holds the connection open:
/// an engine that hangs, or one that ignores `Connection: close`.
struct SilentEngine {
    dir: TempDir,
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl SilentEngine {
    fn start() -> SilentEngine {
        SilentEngine::answering(None)
    }

    fn answering(answer: Option<&'static [u8]>) -> SilentEngine {
        use std::io::{Read, Write};
        let dir = TempDir::new("silent-engine");
        let listener = std::os::unix::net::UnixListener::bind(dir.path().join("s.sock")).unwrap();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for mut stream in listener.incoming().flatten() {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if let Some(answer) = answer {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                        head.push(byte[0]);
                    }
                    let _ = stream.write_all(answer);
                }
                held.push(stream);
            }
        });
        SilentEngine { dir, accepted }
    }

    fn host(&self) -> String {
        format!("unix://{}", self.dir.path().join("s.sock").display())
    }

    fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[test]
fn an_engine_socket_that_never_answers_is_left_at_the_limit_or_on_sigint() {
    let ws = fixture("silent-engine");
    let silent = SilentEngine::start();
    let host = silent.host();
    let start = Instant::now();
    let run = ws.xtask(
        &["image", "build", "fix"],
        None,
        &[("DOCKER_HOST", &host), ("XTASK_LOOKUP_TIMEOUT_SECS", "1")],
    );
    let took = start.elapsed();
    run.expect(1);
    let line = run.error_line();
    // `docker info`, asked beside the context, waits on the engine too.
    assert!(
        (line.contains("`docker info` did not finish within 1 s")
            || line.contains("the engine did not answer `GET /_ping` within 1 s"))
            && line.contains("XTASK_LOOKUP_TIMEOUT_SECS"),
        "{line}"
    );
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert!(!run.stderr.contains("+ docker pull"), "{}", run.stderr);
    // SIGINT while the request waits: 130, without waiting for the limit.
    let mut cmd = ws.xtask_command(&["image", "build", "fix"], None);
    cmd.env("DOCKER_HOST", &host)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let before = silent.accepted();
    let child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while silent.accepted() == before {
        assert!(Instant::now() < deadline, "the request never came");
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let signalled = Instant::now();
    let run = Run::from(child.wait_with_output().unwrap());
    run.expect(130);
    assert!(signalled.elapsed() < Duration::from_secs(10));
    assert!(!run.stderr.contains("+ docker pull"), "{}", run.stderr);
}

#[test]
fn an_engine_answer_is_taken_by_its_length_even_if_the_connection_stays_open() {
    let ws = fixture("open-engine");
    // Every request answered with an arm64 engine's version, by its
    // Content-Length or in chunks, the connection left open.
    // One answer for every request: the engine's version and (for `docker
    // info` and the tool's check that the socket is docker's engine) its ID.
    let version = r#"{"Os":"linux","Arch":"arm64","ID":"FAKE:ENGINE","Name":"fake"}"#;
    let (a, b) = version.split_at(12);
    let sized = format!(
        "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: {}\r\n\r\n{version}",
        version.len()
    );
    let chunked = format!(
        "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    );
    for answer in [sized, chunked] {
        let answer: &'static [u8] = Box::leak(answer.into_bytes().into_boxed_slice());
        let engine = SilentEngine::answering(Some(answer));
        let run = ws.xtask(
            &["image", "build", "fix", "--dry-run"],
            None,
            &[
                ("DOCKER_HOST", &engine.host()),
                ("XTASK_LOOKUP_TIMEOUT_SECS", "5"),
            ],
        );
        run.expect(0);
        run.asked_the_engine_api_for_its_platform();
        assert!(
            run.stdout
                .lines()
                .any(|l| l == format!("docker pull --platform linux/arm64 -- {BASE}")),
            "{}",
            run.stdout
        );
    }
}

#[test]
fn a_candidate_socket_that_hangs_is_left_for_a_docker_that_uses_another_engine() {
    let ws = fixture("hung-candidate");
    let silent = SilentEngine::start();
    // DOCKER_HOST names the hung socket; the docker on PATH talks to the
    // machine's engine whatever it says (a wrapper, or a context).
    let healthy = docker_wrapper(
        "hung-candidate-docker",
        "export DOCKER_HOST=unix:///var/run/docker.sock",
    );
    let start = Instant::now();
    let run = ws.xtask(
        &["image", "build", "fix", "--dry-run"],
        Some(healthy.path()),
        &[
            ("DOCKER_HOST", &silent.host()),
            ("XTASK_LOOKUP_TIMEOUT_SECS", "2"),
        ],
    );
    run.expect(0);
    assert!(silent.accepted() > 0, "the socket was asked");
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    // Every step runs the docker CLI, which reaches docker's engine.
    run.listed_the_platform_through_the_cli();
    assert!(!run.stdout.contains("engine API: GET /v"), "{}", run.stdout);
}
