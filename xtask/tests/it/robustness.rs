//! What the red-team pass found (issues 17 and 18), each turned into a
//! test: a signal during a build's check, runs that share a PID (CI jobs
//! in containers on one engine), a container that could not start, proxy
//! settings curl and Go read apart, a hand-typed tag that looks like a
//! default one, `--json` with a usage error, `--root` at a subfolder.

use std::time::{Duration, Instant};

use crate::support::*;
use xtask::support::json::Json;

const REG: &str = "127.0.0.1:5999";
const BASE: &str = "127.0.0.1:5999/base:1";

/// The docker subcommands of the `+ docker …` lines a run echoed.
fn echoed_docker(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("+ docker "))
        .map(|l| l.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .collect()
}

/// The start-up probes (`docker version`, `docker buildx version`, the ID
/// of docker's engine), sorted,
/// and the other calls in their order.
fn split_probes(calls: Vec<String>) -> (Vec<String>, Vec<String>) {
    let (mut probes, rest): (Vec<String>, Vec<String>) = calls.into_iter().partition(|c| {
        c.starts_with("version ") || ["buildx version", "info --format"].contains(&c.as_str())
    });
    probes.sort();
    (probes, rest)
}

/// The history of a built image is read beside its inspect (both start
/// together), so either may start first: each such adjacent pair in one
/// order.
fn side_by_side(mut calls: Vec<String>) -> Vec<String> {
    for i in 1..calls.len() {
        if calls[i - 1].starts_with("image inspect") && calls[i].starts_with("history ") {
            calls.swap(i - 1, i);
        }
    }
    calls
}

/// A `docker` first on PATH that logs each call (its arguments, one line)
/// in `$DIR/calls`, then runs the real one.
fn logging_docker(label: &str) -> TempDir {
    docker_wrapper(label, r#"printf '%s\n' "$*" >> "$DIR/calls""#)
}

fn logged_calls(dir: &TempDir) -> Vec<String> {
    std::fs::read_to_string(dir.path().join("calls"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn sigint_during_the_check_of_a_build_leaves_no_name_and_echoes_only_what_ran() {
    let Some(EngineTest { registry, base, ws }) = EngineTest::start("rob-sigint", JAMMY) else {
        return;
    };
    let reference = format!("{}/itwinai:0.2.2-torch2.6-jammy", registry.host());
    let repository = format!("{}/itwinai", registry.host());
    let _cleanup = Cleanup::new(&[&reference, &base]);
    // python3 sleeps as it starts in the image: the in-image probe is long.
    ws.write("slow.pth", "import time; time.sleep(60)\n");
    let dockerfile = std::fs::read_to_string(ws.root().join("env-files/fix/Dockerfile")).unwrap();
    ws.write(
        "env-files/fix/Dockerfile",
        &dockerfile.replacen(
            "COPY pyproject.toml /itwinai/pyproject.toml\n",
            &format!(
                "COPY pyproject.toml /itwinai/pyproject.toml\nCOPY slow.pth {DIST_PACKAGES}/slow.pth\n"
            ),
            1,
        ),
    );
    ws.commit();
    let log = logging_docker("rob-sigint-docker");
    let mut cmd = ws.xtask_command(&["image", "build", "fix"], Some(log.path()));
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(300);
    while containers_of(pid).is_empty() {
        assert!(Instant::now() < deadline, "the probe never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let run = Run::from(child.wait_with_output().unwrap());
    run.expect(130);
    let tags = docker(&["images", "--format", "{{.Tag}}", &repository]);
    assert_eq!(
        tags.trim(),
        "",
        "the unchecked image got a name\n{}",
        run.stderr
    );
    assert!(
        !docker_ok(&["image", "inspect", &reference]),
        "{reference} names an unchecked image"
    );
    assert_eq!(containers_of(pid), Vec::<String>::new(), "{}", run.stderr);
    // Every docker command echoed ran, in that order (the two start-up
    // probes run side by side, so between them in either order); none
    // named the image.
    let calls = logged_calls(&log);
    let ran: Vec<String> = calls
        .iter()
        .map(|c| c.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .collect();
    let (echoed_probes, echoed) = split_probes(echoed_docker(&run.stderr));
    let (ran_probes, ran) = split_probes(ran);
    let (echoed, ran) = (side_by_side(echoed), side_by_side(ran));
    assert_eq!(echoed, ran, "{}", run.stderr);
    assert_eq!(echoed_probes, ran_probes, "{}", run.stderr);
    // Docker names its engine's ID; the engine's platform is then asked of
    // its socket: echoed, and no docker command.
    assert_eq!(
        echoed_probes,
        ["buildx version", "info --format"],
        "{}",
        run.stderr
    );
    run.asked_the_engine_api_for_its_platform();
    assert!(calls.iter().any(|c| c.starts_with("build ")), "{calls:?}");
    assert!(!calls.iter().any(|c| c.starts_with("tag ")), "{calls:?}");
    assert!(!run.stderr.contains("/tag?"), "{}", run.stderr);
    // The file the build wrote its image's ID into went with the run.
    let contexts = ws.home.path().join(".cache/itwinai-xtask/contexts");
    let left: Vec<String> = std::fs::read_dir(&contexts)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(".iid-"))
        .collect();
    assert_eq!(left, Vec::<String>::new());
}

/// `--pid --fork --mount-proc` with a user namespace: the tool runs as
/// PID 1 of a PID namespace of its own, as in a CI job's container.
fn in_own_pid_namespace(
    ws: &Workspace,
    fake: &FakeDocker,
    args: &[&str],
    env: &[(&str, &str)],
) -> Run {
    let mut cmd = pinned(std::process::Command::new("unshare"), ws.home.path());
    let path = format!(
        "{}:{}",
        fake.bin().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    cmd.env("PATH", path)
        .env("DOCKER_HOST", FAKE_HOST)
        .args(["--map-root-user", "--pid", "--fork", "--mount-proc"])
        .arg(env!("CARGO_BIN_EXE_xtask"))
        .arg("--root")
        .arg(ws.root())
        .args(args)
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    Run::from(cmd.output().unwrap())
}

/// The word after `flag` in `line`.
fn word_after<'a>(line: &'a str, flag: &str) -> Option<&'a str> {
    let at = line.find(flag)? + flag.len();
    line[at..].split(' ').next()
}

#[test]
fn runs_that_share_a_pid_never_share_an_image_id_file_or_container_name() {
    let ws = Workspace::fixture("rob-pidns", REG, BASE);
    let dev = format!(
        "{REG}/itwinai-dev:0.2.2-torch2.6-jammy-{}",
        &ws.head()[..12]
    );
    let inspect = truthful_inspect(&ws, &dev, BASE, &"b".repeat(64));
    let mut iidfiles = Vec::new();
    let mut containers = Vec::new();
    for _ in 0..2 {
        let fake = FakeDocker::new();
        let run = in_own_pid_namespace(&ws, &fake, &["image", "build", "fix", "--dry-run"], &[]);
        run.expect(0);
        let build = run
            .stdout
            .lines()
            .find(|l| l.starts_with("docker build "))
            .unwrap_or_else(|| panic!("{}", run.stdout));
        iidfiles.push(word_after(build, " --iidfile ").unwrap().to_string());

        // A cache of its own: the image's check runs (and names a container).
        let (fake, cache) = (FakeDocker::new(), TempDir::new("rob-pidns-cache"));
        recorded_as_built(cache.path(), TRUTHFUL_ID);
        let run = in_own_pid_namespace(
            &ws,
            &fake,
            &["image", "push", "fix", "--dev", "--dry-run"],
            &[
                ("FAKE_INSPECT_OUTPUT", &inspect),
                ("FAKE_RUN_OUTPUT", PROBE_OK),
                ("XDG_CACHE_HOME", cache.path().to_str().unwrap()),
            ],
        );
        run.expect(0);
        let probe = fake
            .calls()
            .into_iter()
            .find(|c| c.starts_with("run "))
            .unwrap_or_else(|| panic!("{:?} {}", fake.calls(), run.stderr));
        containers.push(word_after(&probe, " --name ").unwrap().to_string());
    }
    // Both runs were PID 1, and still named apart.
    for f in &iidfiles {
        assert!(f.contains("/contexts/.iid-1-"), "{iidfiles:?}");
    }
    for c in &containers {
        assert!(c.starts_with("xtask-1-"), "{containers:?}");
    }
    assert_ne!(iidfiles[0], iidfiles[1]);
    assert_ne!(containers[0], containers[1]);
}

/// A `docker` first on PATH that, before a test's `docker run` (its
/// program given as `--entrypoint=…`), makes a container of the same name
/// from `image`: the engine refuses the test's container, as it would for
/// another job's container of that name. Each name made is listed in
/// `$DIR/made`.
fn docker_with_a_name_taken(image: &str) -> TempDir {
    docker_wrapper(
        "rob-name-taken",
        &format!(
            r#"case "$1 $*" in
  run\ *--entrypoint=*)
    prev=""; for a in "$@"; do [ "$prev" = --name ] && name="$a"; prev="$a"; done
    "$REAL" create --name "$name" --entrypoint python3 '{image}' >/dev/null && echo "$name" >> "$DIR/made" ;;
esac"#
        ),
    )
}

#[test]
fn a_test_that_could_not_start_is_not_reported_as_failed() {
    let Some(EngineTest { registry, base, ws }) =
        EngineTest::start_with("rob-start", JAMMY, |host| {
            catalog(host, "test = [\"python3\", '-c', \"print('ok')\"]\n")
        })
    else {
        return;
    };
    let reference = format!("{}/itwinai:0.2.2-torch2.6-jammy", registry.host());
    let _cleanup = Cleanup::new(&[&reference, &base]);
    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);

    // Its container's name is taken: docker run exits 125 before the test.
    let taken = docker_with_a_name_taken(&reference);
    let run = ws.xtask(&["image", "test", "fix", "--json"], Some(taken.path()), &[]);
    let made = std::fs::read_to_string(taken.path().join("made")).unwrap_or_default();
    for name in made.lines() {
        docker_ok(&["rm", "--force", name]);
    }
    assert_eq!(made.lines().count(), 1, "{}", run.stderr);
    run.expect(1);
    let line = run.error_line();
    assert!(
        line.contains(&format!("flavour 'fix' on {reference}: the test could not start in image sha256:"))
            && line.contains("`docker run` exited with code 125: Error response from daemon: Conflict. The container name"),
        "{line}"
    );
    assert!(
        !line.contains("--help") && !line.contains("failed"),
        "{line}"
    );
    let rows = Json::parse(run.stdout.trim()).unwrap();
    let row = &rows.as_array().unwrap()[0];
    assert_eq!(row.get("status").and_then(Json::as_str), Some("failed"));
    assert_eq!(row.get("exit_code"), Some(&Json::Null), "{row:?}");
    assert!(
        row.get("error")
            .and_then(Json::as_str)
            .is_some_and(|e| e.contains("could not start")),
        "{row:?}"
    );

    // No such program in the image: docker exits 127, the test never ran.
    ws.write(
        "env-files/images.toml",
        &catalog(&registry.host(), "test = [\"no-such-program-xtask\"]\n"),
    );
    ws.commit();
    let run = ws.xtask(&["image", "test", "fix"], None, &[]);
    run.expect(1);
    let line = run.error_line();
    assert!(
        line.contains("the test could not start")
            && line.contains("exited with code 127")
            && line.contains("\"no-such-program-xtask\": executable file not found"),
        "{line}"
    );

    // A test that exits 125 itself ran, and failed.
    ws.write(
        "env-files/images.toml",
        &catalog(
            &registry.host(),
            "test = [\"python3\", \"-c\", \"import sys; sys.exit(125)\"]\n",
        ),
    );
    ws.commit();
    let run = ws.xtask(&["image", "test", "fix"], None, &[]);
    run.expect(1);
    let line = run.error_line();
    assert!(
        line.contains(&format!("the test of flavour 'fix' failed on {reference}"))
            && line.contains("exit status 125"),
        "{line}"
    );
}

/// `--dev --tag` with the shape of a default development tag of another
/// commit (or of a dirty tree when it is clean), another version or
/// another flavour is refused before anything runs: that tag promises its
/// flavour, version and commit. (An image labelled so by other means
/// is still not promoted: `rules::promotion`'s table test.)
#[test]
fn a_hand_typed_tag_that_looks_like_another_commits_default_is_refused() {
    let Some(EngineTest { registry, base, ws }) = EngineTest::start("rob-devtag", JAMMY) else {
        return;
    };
    // A second flavour, a variant on the same Dockerfile.
    let catalog_text = std::fs::read_to_string(ws.root().join("env-files/images.toml")).unwrap();
    ws.write(
        "env-files/images.toml",
        &format!("{catalog_text}\n[flavours.skinny]\ndockerfile = \"env-files/fix/Dockerfile\"\nframework = \"torch\"\nframework-version = \"2.6\"\ndistro = \"jammy\"\nvariant = \"skinny\"\ntag-format = \"{{version}}-{{variant}}-{{framework}}{{framework-version}}-{{distro}}\"\n"),
    );
    ws.commit();
    let other = "0123456789ab";
    let head = ws.head()[..12].to_string();
    assert!(!ws.head().starts_with(other));
    let own = format!("0.2.2-torch2.6-jammy-{head}");
    let _cleanup = Cleanup::new(&[&base]);
    for (tag, commit) in [
        (format!("0.2.2-torch2.6-jammy-{other}"), other.to_string()),
        (format!("{own}-dirty"), head.clone()),
        // Another version's: that tag promises its version too.
        (format!("0.2.1-torch2.6-jammy-{other}"), other.to_string()),
        // Another length than the catalog's 12 (it may have been 7).
        (
            format!("0.2.1-torch2.6-jammy-{}", &other[..7]),
            other[..7].to_string(),
        ),
        // Another flavour's, HEAD's: it would hold this flavour's build.
        (format!("0.2.2-skinny-torch2.6-jammy-{head}"), head.clone()),
    ] {
        for verb in ["build", "push"] {
            let run = ws.xtask(&["image", verb, "fix", "--dev", "--tag", &tag], None, &[]);
            run.expect(2);
            assert!(
                run.error_line().contains(&format!(
                    "--tag '{tag}' has the shape of flavour '{}''s default development tag for commit {commit}",
                    if tag.contains("skinny") { "skinny" } else { "fix" }
                )),
                "{}",
                run.stderr
            );
            assert!(!run.stderr.contains("+ docker build "), "{}", run.stderr);
            assert!(!run.stderr.contains("+ docker push "), "{}", run.stderr);
        }
    }
    assert_eq!(registry.all_tags("itwinai-dev"), Vec::<String>::new());
}

/// Which of `proxy` and `direct` a failed `image audit` of `ws` reached
/// with `NO_PROXY` set to `no_proxy` and `HTTPS_PROXY` to `proxy`.
fn reached(ws: &Workspace, proxy: &Listener, direct: &Listener, no_proxy: &str) -> &'static str {
    let before = (proxy.received().len(), direct.received().len());
    let url = format!("http://127.0.0.1:{}", proxy.port);
    let env = [
        ("HTTPS_PROXY", url.as_str()),
        ("NO_PROXY", no_proxy),
        ("XTASK_REGISTRY_RETRIES", "0"),
    ];
    ws.xtask(&["image", "audit"], None, &env).expect(1);
    match (
        proxy.received().len() - before.0,
        direct.received().len() - before.1,
    ) {
        (1, 0) => "proxied",
        (0, 1) => "direct",
        other => panic!("NO_PROXY='{no_proxy}': {other:?} connections"),
    }
}

#[test]
fn curl_decides_as_docker_s_client_for_the_registry_host() {
    // `reg.localhost` is a name (no DNS: curl makes it loopback itself)
    // that Go's rule does not call loopback; 0.0.0.0 an address. What Go's
    // httpproxy decides for each (golang.org/x/net/http/httpproxy).
    let (proxy, direct) = (Listener::start(), Listener::start());
    let port = direct.port;
    let named = Workspace::fixture(
        "rob-proxy-name",
        &format!("reg.localhost:{port}"),
        "127.0.0.1:1/base:1",
    );
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "proxied"),
        (".reg.localhost".into(), "proxied"),
        ("*.reg.localhost".into(), "proxied"),
        ("reg.localhost.".into(), "proxied"),
        ("reg.localhost:1".into(), "proxied"),
        ("127.0.0.0/8".into(), "proxied"),
        ("other.example, ..reg.localhost".into(), "proxied"),
        ("reg.localhost".into(), "direct"),
        (" REG.Localhost ".into(), "direct"),
        (format!("reg.localhost:{port}"), "direct"),
        ("localhost".into(), "direct"),
        (".localhost".into(), "direct"),
        ("other.example, *".into(), "direct"),
    ];
    for (no_proxy, want) in &cases {
        assert_eq!(
            &reached(&named, &proxy, &direct, no_proxy),
            want,
            "NO_PROXY='{no_proxy}'"
        );
    }
    let address = Workspace::fixture(
        "rob-proxy-ip",
        &format!("0.0.0.0:{port}"),
        "127.0.0.1:1/base:1",
    );
    let cases: Vec<(String, &str)> = vec![
        ("0.0.0.0:1".into(), "proxied"),
        ("0.0.0.1/32".into(), "proxied"),
        (format!("0.0.0.0:{port}"), "direct"),
        ("0.0.0.0/8".into(), "direct"),
        ("::ffff:0.0.0.0".into(), "direct"),
    ];
    for (no_proxy, want) in &cases {
        assert_eq!(
            &reached(&address, &proxy, &direct, no_proxy),
            want,
            "NO_PROXY='{no_proxy}'"
        );
    }
}

#[test]
fn a_proxy_variable_that_is_not_utf8_stops_only_a_registry_read() {
    use std::os::unix::ffi::OsStrExt;
    let registry = Listener::start();
    let ws = Workspace::fixture(
        "rob-proxy-utf8",
        &format!("0.0.0.0:{}", registry.port),
        "127.0.0.1:1/base:1",
    );
    for name in ["HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"] {
        let value = std::ffi::OsStr::from_bytes(b"http://p\xff:1");
        // Commands that read no registry never look at it.
        for args in [&["version"][..], &["image", "list"], &["check"]] {
            let mut cmd = ws.xtask_command(args, None);
            cmd.env(name, value);
            let run = Run::from(cmd.output().unwrap());
            assert_eq!(run.code, Some(0), "{name} {args:?}: {}", run.stderr);
        }
        let mut cmd = ws.xtask_command(&["image", "audit"], None);
        cmd.env(name, value);
        let run = Run::from(cmd.output().unwrap());
        run.expect(2);
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert!(
            run.error_line()
                .contains(&format!("{name} is not valid UTF-8, and it decides whether reading the registry 0.0.0.0 goes through a proxy")),
            "{}",
            run.stderr
        );
    }
    assert_eq!(registry.received(), Vec::<String>::new());
}

#[test]
fn a_usage_error_with_json_is_a_json_document_too() {
    let ws = Workspace::fixture("rob-json-usage", REG, BASE);
    let cases: [(&[&str], &str); 3] = [
        (
            &["image", "list", "--json", "--nope"],
            "unexpected argument '--nope' found",
        ),
        (
            &["image", "build", "fix", "--json", "--platform"],
            "a value is required for '--platform <",
        ),
        (
            &["image", "bogus", "--json"],
            "unrecognized subcommand 'bogus'",
        ),
    ];
    for (args, says) in cases {
        let run = ws.xtask(args, None, &[]);
        run.expect(2);
        assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
        let doc = Json::parse(run.stdout.trim())
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", run.stdout));
        assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
        let error = doc.get("error").and_then(Json::as_str).unwrap_or_default();
        assert!(
            error.contains(says) && !error.starts_with("error:"),
            "{args:?}: {error}"
        );
        assert_eq!(doc.get("exit_code"), Some(&Json::Number(2.0)), "{doc:?}");
    }
    // Without --json (or with it only after `--`), stdout stays empty.
    for args in [
        &["image", "list", "--nope"][..],
        &["image", "list", "--nope", "--", "--json"],
    ] {
        let run = ws.xtask(args, None, &[]);
        run.expect(2);
        assert_eq!(run.stdout, "", "{args:?}");
    }
}

#[test]
fn root_at_a_subfolder_names_the_project_s_root() {
    let ws = Workspace::fixture("rob-root", REG, BASE);
    let root = ws.root().canonicalize().unwrap();
    std::fs::create_dir_all(root.join("docs/deep")).unwrap();
    for sub in ["env-files", "docs/deep"] {
        let dir = root.join(sub);
        let mut cmd = pinned(
            std::process::Command::new(env!("CARGO_BIN_EXE_xtask")),
            ws.home.path(),
        );
        cmd.arg("--root").arg(&dir).args(["image", "list"]);
        let run = Run::from(cmd.output().unwrap());
        run.expect(2);
        assert_eq!(
            run.error_line(),
            format!(
                "error: --root {}: it holds no env-files/images.toml, it is inside the project at {r}, which does; pass --root {r} (or run from inside the project without --root)",
                dir.display(),
                r = root.display()
            )
        );
    }
    // Outside any project: no directory to suggest, the catalog is missing.
    let outside = TempDir::new("rob-root-outside");
    let mut cmd = pinned(
        std::process::Command::new(env!("CARGO_BIN_EXE_xtask")),
        ws.home.path(),
    );
    cmd.arg("--root")
        .arg(outside.path())
        .args(["image", "list"]);
    let run = Run::from(cmd.output().unwrap());
    run.expect(2);
    assert!(
        !run.error_line().contains("inside the project"),
        "{}",
        run.stderr
    );
}
