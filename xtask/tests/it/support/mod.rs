//! Shared by the end-to-end tests: throwaway workspaces (git repositories
//! with a pinned identity), the real binary run with a pinned environment, a
//! recording fake `docker`, a registry on loopback, and base images with a
//! real python3 (python.rs), for this machine's platform and, under
//! emulation, for linux/arm64.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

mod engine;
mod python;
pub mod workflow;
pub use engine::{seeded_base, unique_workspace, EngineTest, BASES, JAMMY, NOBLE, OLD_TORCH};
pub use python::{copy_tree, make_base, python_image, seed_storage, DIST_PACKAGES};
pub use python::{
    fixture_platform, make_base_with_platform, make_multi_platform_base,
    make_multi_platform_base_with, native_platform, python_image_for, MultiPlatformBase,
    MANIFEST_LIST,
};

/// Pinned: 2023-11-14T22:13:20Z.
pub const SOURCE_DATE_EPOCH: &str = "1700000000";
pub const CREATION_DATE: &str = "2023-11-14T22:13:20+00:00";

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "xtask-test-{label}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub const PYPROJECT: &str =
    "[project]\nname = \"itwinai\"\nversion = \"0.2.2\"\n\n[tool.other]\nversion = \"9.9.9\"\n";

/// The provenance ARGs of a final stage and the labels they set, one LABEL
/// line (README "The conventions"): the one source of every fixture
/// Dockerfile's provenance block. A macro for a literal, so that `concat!`
/// builds constant corpus cases on it; [`PROVENANCE`] is the same text.
macro_rules! provenance {
    () => {
        "ARG BASE_IMG_NAME\nARG BASE_IMG_DIGEST\nARG COMMIT_HASH\nARG CREATION_DATE\nARG IMAGE_FULL_NAME\nARG ITWINAI_VERSION\n\
         LABEL org.opencontainers.image.created=\"${CREATION_DATE}\" \
         org.opencontainers.image.version=\"${ITWINAI_VERSION}\" \
         org.opencontainers.image.revision=\"${COMMIT_HASH}\" \
         org.opencontainers.image.ref.name=\"${IMAGE_FULL_NAME}\" \
         org.opencontainers.image.base.name=\"${BASE_IMG_NAME}\" \
         org.opencontainers.image.base.digest=\"${BASE_IMG_DIGEST}\"\n"
    };
}
pub(crate) use provenance;

/// The provenance block ([`provenance!`]).
pub const PROVENANCE: &str = provenance!();

/// A Dockerfile that records every provenance label and adds one layer,
/// its LABEL continued over a line per label as the shipped Dockerfiles
/// write it. (Fixture bases hold no shell, so no RUN.)
pub fn dockerfile(base: &str) -> String {
    let one_label_a_line = PROVENANCE.replace("\" org.", "\" \\\n  org.");
    format!(
        "ARG BASE_IMG_NAME={base}\nFROM ${{BASE_IMG_NAME}}\nARG FRAMEWORK_VERSION\n\
         COPY pyproject.toml /itwinai/pyproject.toml\n{one_label_a_line}"
    )
}

/// A catalog with one flavour `fix` built from env-files/fix/Dockerfile.
pub fn catalog(registry: &str, flavour_extra: &str) -> String {
    format!(
        "registry = \"{registry}\"\nproduction = \"itwinai\"\ndevelopment = \"itwinai-dev\"\n\n\
         [flavours.fix]\ndockerfile = \"env-files/fix/Dockerfile\"\nframework = \"torch\"\n\
         framework-version = \"2.6\"\ndistro = \"jammy\"\nlatest = \"fix-latest\"\n{flavour_extra}"
    )
}

/// A throwaway workspace: a git repository with one commit.
pub struct Workspace {
    pub dir: TempDir,
    pub home: TempDir,
}

impl Workspace {
    /// `files`: relative path and contents.
    pub fn new(label: &str, files: &[(&str, String)]) -> Workspace {
        let ws = Workspace {
            dir: TempDir::new(label),
            home: TempDir::new(&format!("{label}-home")),
        };
        for (rel, text) in files {
            ws.write(rel, text);
        }
        ws.git(&["init", "-q", "-b", "main"]);
        ws.commit();
        ws
    }

    /// The standard fixture: pyproject, a catalog, one Dockerfile.
    pub fn fixture(label: &str, registry: &str, base: &str) -> Workspace {
        Workspace::new(
            label,
            &[
                ("pyproject.toml", PYPROJECT.to_string()),
                ("env-files/images.toml", catalog(registry, "")),
                ("env-files/fix/Dockerfile", dockerfile(base)),
            ],
        )
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.root().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    pub fn commit(&self) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", "fixture"]);
    }

    pub fn git(&self, args: &[&str]) -> String {
        let out = pinned(Command::new("git"), self.home.path())
            .args(args)
            .current_dir(self.root())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"]).trim().to_string()
    }

    /// Run `xtask --root <ws> ARGS` with the pinned environment; `path_first`
    /// goes before the inherited PATH (for a fake docker).
    pub fn xtask(
        &self,
        args: &[&str],
        path_first: Option<&Path>,
        extra_env: &[(&str, &str)],
    ) -> Run {
        let mut cmd = self.xtask_command(args, path_first);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        Run::from(cmd.output().unwrap())
    }

    /// The command `xtask` runs, for tests that change its environment.
    pub fn xtask_command(&self, args: &[&str], path_first: Option<&Path>) -> Command {
        let mut cmd = pinned(Command::new(env!("CARGO_BIN_EXE_xtask")), self.home.path());
        let path = std::env::var("PATH").unwrap_or_default();
        let path = match path_first {
            Some(p) => format!("{}:{path}", p.display()),
            None => path,
        };
        if path_first.is_some_and(|p| p.join(FAKE_MARK).exists()) {
            cmd.env("DOCKER_HOST", FAKE_HOST);
        }
        cmd.env("PATH", path)
            .arg("--root")
            .arg(self.root())
            .args(args)
            .stdin(Stdio::null());
        cmd
    }
}

/// A command with a pinned environment: nothing inherited but PATH; git
/// identity, HOME, time and locale fixed.
pub fn pinned(mut cmd: Command, home: &Path) -> Command {
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("DOCKER_CONFIG", home.join(".docker"))
        .env("LANG", "C")
        .env("TZ", "UTC")
        .env("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Fixture")
        .env("GIT_AUTHOR_EMAIL", "fixture@example.invalid")
        .env("GIT_COMMITTER_NAME", "Fixture")
        .env("GIT_COMMITTER_EMAIL", "fixture@example.invalid")
        .env("GIT_AUTHOR_DATE", "2023-11-14T22:13:20Z")
        .env("GIT_COMMITTER_DATE", "2023-11-14T22:13:20Z");
    cmd
}

/// Some line of `text` is one `is` accepts (else: fail, showing `text`).
#[track_caller]
fn a_line(text: &str, is: impl Fn(&str) -> bool) {
    assert!(text.lines().any(is), "{text}");
}

/// What a run of the binary produced.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    /// A dry run that lists the engine's platform as a docker CLI step
    /// (the engine's socket not used).
    #[track_caller]
    pub fn listed_the_platform_through_the_cli(&self) {
        a_line(&self.stdout, |l| {
            l.starts_with("# read-only: docker version --format ")
        });
    }

    /// The run named its image with a request to the engine's socket.
    #[track_caller]
    pub fn named_through_the_engine_api(&self) {
        a_line(&self.stderr, |l| {
            l.starts_with("+ engine API: POST /v") && l.contains("/tag?repo=")
        });
    }

    /// The run asked the engine's API (its socket) for the engine's
    /// platform, and echoed the request.
    #[track_caller]
    pub fn asked_the_engine_api_for_its_platform(&self) {
        a_line(&self.stderr, |l| {
            l.starts_with("+ engine API: GET /v") && l.ends_with("/version")
        });
    }

    #[track_caller]
    pub fn expect(&self, code: i32) -> &Run {
        assert_eq!(
            self.code,
            Some(code),
            "exit code; stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Exit 1, refused because the image a release tag would first be
    /// written from is `built_at`'s build, not HEAD's (`head`).
    #[track_caller]
    pub fn refused_as_not_heads(&self, built_at: &str, head: &str) {
        self.expect(1);
        assert!(
            self.error_line().contains(&format!(
                "would be published from commit {built_at} (its revision label), but HEAD is {head}"
            )),
            "{}",
            self.stderr
        );
    }

    /// The `error: …` line; asserts there is exactly one and no panic.
    #[track_caller]
    pub fn error_line(&self) -> String {
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        assert!(!self.stderr.contains("RUST_BACKTRACE"), "{}", self.stderr);
        let errors: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("error"))
            .collect();
        assert_eq!(
            errors.len(),
            1,
            "one error line expected in:\n{}",
            self.stderr
        );
        errors[0].to_string()
    }
}

/// The read-only docker calls any command may make before it refuses (as
/// a fake docker records them): the buildx probe and the engine's platform.
pub const READ_ONLY_PROBES: [&str; 3] = [
    "buildx version",
    r#"info --format {{json (print .ID "/" .Name)}}"#,
    "version --format {{.Server.Os}}/{{.Server.Arch}}",
];

/// The file that marks a [`FakeDocker`]'s folder.
const FAKE_MARK: &str = "fake-docker";

/// DOCKER_HOST of a run with a [`FakeDocker`] first on PATH: a host the
/// fake ignores, which names no socket, so the tool asks no engine of this
/// machine directly and every docker step goes to the fake.
pub const FAKE_HOST: &str = "tcp://fake-docker.invalid:2375";

/// A fake `docker` first on PATH that records each call (one line of
/// arguments) in `calls.log` and answers from environment variables.
pub struct FakeDocker {
    pub dir: TempDir,
}

impl FakeDocker {
    pub fn new() -> FakeDocker {
        let dir = TempDir::new("fake-docker");
        let log = dir.path().join("calls.log");
        let script = format!(
            r#"#!/bin/sh
printf '%s\n' "$*" >> '{log}'
sub="$1"
[ "$1" = image ] && sub="image-$2"
[ "$1" = buildx ] && sub="buildx-$2"
if [ -n "$FAKE_HANG" ] && [ "$sub" = "$FAKE_HANG" ]; then echo $$ > '{dir}/hang.pid'; exec sleep 60; fi
if [ -n "$FAKE_FAIL" ] && [ "${{FAKE_FAIL%%:*}}" = "$sub" ]; then echo "fake docker: $sub failed" >&2; exit "${{FAKE_FAIL#*:}}"; fi
case "$sub" in
  info)
    echo '"FAKE:DOCKER/fake"'; exit 0 ;;
  version)
    echo "${{FAKE_PLATFORM:-linux/amd64}}"; exit 0 ;;
  buildx-version)
    if [ -n "$FAKE_BUILDX" ]; then echo "github.com/docker/buildx v0.0.0-fake"; exit 0; fi
    echo "docker: unknown command: docker buildx" >&2; exit 1 ;;
  pull)
    if [ -n "$FAKE_PULL_OUTPUT" ]; then printf '%s\n' "$FAKE_PULL_OUTPUT"; exit 0; fi ;;
  image-inspect)
    if [ -n "$FAKE_INSPECT_OUTPUT" ]; then printf '%s\n' "$FAKE_INSPECT_OUTPUT"; exit 0; fi ;;
  run)
    if [ -n "$FAKE_RUN_OUTPUT" ]; then printf '%s\n' "$FAKE_RUN_OUTPUT"; exit 0; fi ;;
esac
echo "fake docker: unexpected call: $*" >&2
exit 97
"#,
            log = log.display(),
            dir = dir.path().display()
        );
        let path = dir.path().join("docker");
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.path().join(FAKE_MARK), "").unwrap();
        FakeDocker { dir }
    }

    pub fn bin(&self) -> &Path {
        self.dir.path()
    }

    /// The PID of the process that hung (FAKE_HANG), once it started.
    pub fn hang_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.path().join("hang.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// The recorded calls, one per line.
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// What the in-image probe prints for a truthful fixture image (jammy,
/// torch 2.6.0), for `FAKE_RUN_OUTPUT`.
pub const PROBE_OK: &str = r#"{"os_release": "ID=ubuntu\nVERSION_CODENAME=jammy\n", "dists": {"torch": "2.6.0", "itwinai": null}}"#;

/// `docker image inspect` output (for `FAKE_INSPECT_OUTPUT`) of an image that
/// tells the truth about `reference` built in `ws` on `base` (its base's
/// digest is `<base repository>@sha256:<hex>`; base and image share layers).
/// The image ID [`truthful_inspect`] reports.
pub const TRUTHFUL_ID: &str =
    "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// Record `id` in the tool's cache under `cache_home` (what XDG_CACHE_HOME
/// names) as its own clean build, as `image build` does once it passed.
pub fn recorded_as_built(cache_home: &Path, id: &str) {
    let cache = cache_home.join("itwinai-xtask");
    std::fs::create_dir_all(&cache).unwrap();
    let mut built = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(cache.join("built-v1"))
        .unwrap();
    writeln!(built, "{id}\tclean").unwrap();
}

pub fn truthful_inspect(ws: &Workspace, reference: &str, base: &str, hex: &str) -> String {
    // As the tool's own clean build of it would, its cache records the
    // image (what a push under HEAD's default development tag requires).
    recorded_as_built(&ws.home.path().join(".cache"), TRUTHFUL_ID);
    let base_repo = base.rsplit_once(':').map_or(base, |(r, _)| r);
    format!(
        r#"[{{"Id":"sha256:{id}","RepoDigests":["{base_repo}@sha256:{hex}"],"Os":"linux","Architecture":"amd64","Config":{{"Labels":{{"org.opencontainers.image.ref.name":"{reference}","org.opencontainers.image.version":"0.2.2","org.opencontainers.image.revision":"{head}","org.opencontainers.image.created":"{CREATION_DATE}","org.opencontainers.image.base.name":"{base}","org.opencontainers.image.base.digest":"{base_repo}@sha256:{hex}"}}}},"RootFS":{{"Layers":["sha256:{hex}"]}}}}]"#,
        id = "a".repeat(64),
        head = ws.head()
    )
}

/// The running test's name (`release::push_is_idempotent_…`): libtest
/// runs each test on a thread named after it. For the lines that say why a
/// test did not run (SKIPPED, does not apply) or could not.
pub fn test_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("(a test on an unnamed thread)")
        .to_string()
}

/// Runs the calling test again, alone in a process of its own (this binary
/// with `--exact <its name>`), for a measure that this process's other
/// tests would skew: on Linux a child's peak memory (`ru_maxrss`) starts
/// at the peak of the process that spawned it, as its exec inherits it.
/// True in that process, which runs the test's body; false here, once it
/// passed there (else this panics with what it printed).
pub fn alone_in_a_process() -> bool {
    const ALONE: &str = "XTASK_TEST_ALONE";
    if std::env::var_os(ALONE).is_some() {
        return true;
    }
    let name = test_name();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &name, "--nocapture", "--test-threads=1"])
        .env(ALONE, "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("test result: ok. 1 passed"),
        "{name}, alone in a process:\n{text}"
    );
    eprint!("{text}");
    false
}

/// Whether engine tests that cannot run may be skipped: only when asked
/// for with XTASK_DOCKER_TESTS=skip. Otherwise a test that cannot run
/// fails, so a summary never counts it as a pass.
fn skipping_allowed() -> bool {
    std::env::var("XTASK_DOCKER_TESTS").as_deref() == Ok("skip")
}

/// Whether a Docker engine answers. Without one the test fails, unless
/// XTASK_DOCKER_TESTS=skip, which makes the caller skip (and say so).
pub fn engine_available() -> bool {
    let ok = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let test = test_name();
        if !skipping_allowed() {
            panic!("{test}: no Docker engine answers; start one (see .ci/run), or set XTASK_DOCKER_TESTS=skip to skip the engine tests");
        }
        eprintln!("{test}: SKIPPED: no Docker engine answers (XTASK_DOCKER_TESTS=skip)");
    }
    ok
}

/// Whether this machine runs programs of `platform` (`linux/arm64`): its
/// own, or another under QEMU user-mode emulation, whose binfmt_misc handler
/// (`qemu-aarch64`) must be enabled with the F flag (the kernel opens the
/// emulator when it is registered, so containers need none inside). When it
/// cannot, the test fails, unless XTASK_DOCKER_TESTS=skip.
pub fn emulation_available(platform: &str) -> bool {
    let p = fixture_platform(platform);
    if p.name == native_platform().name {
        return true;
    }
    let handler = Path::new("/proc/sys/fs/binfmt_misc").join(p.binfmt);
    let text = std::fs::read_to_string(&handler).unwrap_or_default();
    let enabled = text.lines().next() == Some("enabled");
    let fixed = text
        .lines()
        .any(|l| l.strip_prefix("flags:").is_some_and(|f| f.contains('F')));
    if enabled && fixed {
        return true;
    }
    let state = if !enabled {
        "is missing or disabled"
    } else {
        "lacks the F flag (containers cannot open the emulator)"
    };
    let why = format!(
        "cannot run {platform} programs: {handler} {state}; install qemu-user-static and \
         binfmt-support, mount binfmt_misc (`mount -t binfmt_misc binfmt_misc \
         /proc/sys/fs/binfmt_misc`) and run `update-binfmts --enable {binfmt}`, as .ci/run does",
        handler = handler.display(),
        binfmt = p.binfmt
    );
    let test = test_name();
    if !skipping_allowed() {
        panic!("{test}: {why}; or set XTASK_DOCKER_TESTS=skip to skip the engine tests");
    }
    eprintln!("{test}: SKIPPED: {why} (XTASK_DOCKER_TESTS=skip)");
    false
}

/// `docker image inspect --format FORMAT IMAGE`, trimmed.
pub fn inspect_format(image: &str, format: &str) -> String {
    docker(&["image", "inspect", "--format", format, image])
        .trim()
        .to_string()
}

/// `os/architecture` of a local image, as `docker image inspect` says.
pub fn image_platform(image: &str) -> String {
    inspect_format(image, "{{.Os}}/{{.Architecture}}")
}

/// The image ID (`sha256:…`) of a local image.
pub fn image_id(image: &str) -> String {
    inspect_format(image, "{{.Id}}")
}

/// A local image's layer diff IDs, as JSON.
pub fn image_layers(image: &str) -> String {
    inspect_format(image, "{{json .RootFS.Layers}}")
}

/// `docker ARGS` with `input` on its standard input, asserting success; its
/// stdout. (`python3 -` reads its program there: no `-c`, no shell.)
#[track_caller]
pub fn docker_with_input(args: &[&str], input: &str) -> String {
    docker_with_input_in(None, args, input)
}

/// [`docker_with_input`] with `config` (when given) as DOCKER_CONFIG.
pub fn docker_with_input_in(config: Option<&Path>, args: &[&str], input: &str) -> String {
    let mut cmd = Command::new("docker");
    if let Some(dir) = config {
        cmd.env("DOCKER_CONFIG", dir);
    }
    let mut child = cmd
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `docker ARGS` (the real one), asserting success; its stdout.
#[track_caller]
pub fn docker(args: &[&str]) -> String {
    docker_in(None, args)
}

/// [`docker`] with its own docker config folder (`DOCKER_CONFIG`), so that
/// what `docker manifest` keeps locally stays out of the caller's.
#[track_caller]
pub fn docker_in(config: Option<&Path>, args: &[&str]) -> String {
    let mut cmd = Command::new("docker");
    if let Some(dir) = config {
        cmd.env("DOCKER_CONFIG", dir);
    }
    let out = cmd.args(args).stdin(Stdio::null()).output().unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether a run's echo shows a write to a registry: an upload (its
/// `docker save`) or a request that writes (POST, PUT).
pub fn wrote_to_registry(stderr: &str) -> bool {
    ["+ docker save ", " --request PUT ", " --request POST "]
        .iter()
        .any(|w| stderr.contains(w))
}

/// `docker ARGS`, whether it worked.
pub fn docker_ok(args: &[&str]) -> bool {
    Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Debian's `docker-registry` serving on 127.0.0.1 at a free port, with
/// storage in a temporary directory; stopped by its PID on drop.
/// Remove every local image name that starts with `prefix`.
pub fn forget_local_images(prefix: &str) {
    let Ok(out) = Command::new("docker")
        .args(["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .stdin(Stdio::null())
        .output()
    else {
        return;
    };
    let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|n| n.starts_with(prefix))
        .map(str::to_string)
        .collect();
    if !names.is_empty() {
        let mut args = vec!["rmi", "--force"];
        args.extend(names.iter().map(String::as_str));
        let _ = docker_ok(&args);
    }
}

pub struct Registry {
    pub child: Child,
    pub port: u16,
    pub dir: TempDir,
    /// `Authorization` value of the test's own requests (htpasswd).
    auth: Option<String>,
}

/// Whether this checkout is itwinai's own repository, whose docs and
/// examples the tests that read them describe; else the running test says
/// that it does not apply (a repository the xtask was copied into has docs of its
/// own).
pub fn itwinai_repository() -> bool {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let name = std::fs::read_to_string(root.join("pyproject.toml"))
        .ok()
        .and_then(|t| xtask::project::pyproject::read_name(&t));
    let here = name.as_deref() == Some("itwinai");
    if !here {
        eprintln!(
            "{}: does not apply: this repository holds the project {name:?}, not itwinai, whose docs it checks",
            test_name()
        );
    }
    here
}

/// The text of the first block opened by `fence` (```` ```make ````) after
/// `marker` in the repository's file `file` (`README.md`, `docs/ci.md`).
pub fn doc_block(file: &str, marker: &str, fence: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    let after = text
        .split(marker)
        .nth(1)
        .unwrap_or_else(|| panic!("{file} has no {marker:?}"));
    let block = after
        .split(&format!("{fence}\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("no {fence} block after {marker:?} in {file}"));
    block.split("```").next().unwrap().to_string()
}

/// The `--dry-run` line of an anonymous registry API read of the manifest
/// `reference` (`127.0.0.1:PORT/name:tag`), as the tool prints it.
pub fn manifest_read_line(reference: &str) -> String {
    let (repository, tag) = reference.rsplit_once(':').unwrap();
    let (host, name) = repository.split_once('/').unwrap();
    format!(
        "# read-only: curl -q --silent --show-error --globoff --location --max-redirs 5 --proto =http,https --proto-redir =https --max-filesize 67108864 --noproxy '*' --dump-header - --suppress-connect-headers --write-out '%{{stderr}}xtask-http: %{{http_code}} %{{num_redirects}}\\n' --header 'Accept: application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' http://{host}/v2/{name}/manifests/{tag}"
    )
}

/// A port on 127.0.0.1 free right now, and no local image named under it:
/// images an earlier run left under this port's names would stand in for
/// what this run is to make (the engine outlives test runs).
pub fn free_port() -> u16 {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    forget_local_images(&format!("127.0.0.1:{port}/"));
    port
}

impl Registry {
    pub fn start() -> Registry {
        Registry::start_with(|_| String::new())
    }

    /// A registry that asks for `user`:`password` (Basic, from an
    /// htpasswd file made with apache2-utils' `htpasswd -B`).
    pub fn start_with_htpasswd(user: &str, password: &str) -> Registry {
        let out = Command::new("htpasswd")
            .args(["-Bbn", user, password])
            .output()
            .expect("htpasswd is not installed (apt-get install apache2-utils)");
        assert!(out.status.success());
        let mut reg = Registry::start_with(|dir| {
            let path = dir.join("htpasswd");
            std::fs::write(&path, &out.stdout).unwrap();
            format!(
                "auth:\n  htpasswd:\n    realm: xtask-test\n    path: {}\n",
                path.display()
            )
        });
        reg.auth = Some(format!(
            "Basic {}",
            base64_encode(format!("{user}:{password}").as_bytes())
        ));
        reg
    }

    /// A registry with `extra` top-level configuration (YAML), e.g. `auth:`.
    pub fn start_configured(extra: &str) -> Registry {
        Registry::start_with(|_| extra.to_string())
    }

    /// `extra(dir)`: more top-level configuration (YAML), its files in dir.
    fn start_with(extra: impl FnOnce(&Path) -> String) -> Registry {
        let dir = TempDir::new("registry");
        let port = free_port();
        let extra = extra(dir.path());
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{extra}",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = spawn_registry(dir.path());
        let reg = Registry {
            child,
            port,
            dir,
            auth: None,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while reg.get("/v2/").is_none() {
            assert!(
                Instant::now() < deadline,
                "registry on port {port} did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        reg
    }

    /// The requests the registry served so far, one access log line each
    /// (`"GET /v2/itwinai/blobs/sha256:… HTTP/1.1" 200 …`).
    pub fn access_log(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("access.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| {
                ["\"GET ", "\"HEAD ", "\"PUT ", "\"POST ", "\"PATCH "]
                    .iter()
                    .any(|m| l.contains(m))
            })
            .map(str::to_string)
            .collect()
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A registry on a free port whose storage starts as a copy of `seed`
    /// (see [`seed_storage`]): what it holds is served without a push.
    pub fn start_seeded(seed: &Path) -> Registry {
        let mut reg = Registry::start();
        let _ = reg.child.kill();
        let _ = reg.child.wait();
        copy_tree(seed, &reg.dir.path().join("data"));
        reg.restart();
        reg
    }

    /// Start it again on the same port and storage (after it was stopped).
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn_registry(self.dir.path());
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.get("/v2/").is_none() {
            assert!(Instant::now() < deadline, "registry did not restart");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The image tags of a repository: `/v2/<name>/tags/list` without the
    /// referrers-schema tags (`sha256-<hex>`) that hold test evidence where
    /// the registry has no referrers API (`all_tags` keeps them).
    pub fn tags(&self, name: &str) -> Vec<String> {
        let mut tags = self.all_tags(name);
        tags.retain(|t| !is_referrers_tag(t));
        tags
    }

    /// Every tag of a repository, from `/v2/<name>/tags/list`, sorted.
    pub fn all_tags(&self, name: &str) -> Vec<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let req = format!(
            "GET /v2/{name}/tags/list HTTP/1.1\r\nHost: {}\r\n{}Connection: close\r\n\r\n",
            self.host(),
            self.auth_header()
        );
        s.write_all(req.as_bytes()).unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let Some(list) = resp
            .split("\"tags\":[")
            .nth(1)
            .and_then(|r| r.split(']').next())
        else {
            return Vec::new();
        };
        let mut tags: Vec<String> = list
            .split(',')
            .map(|t| t.trim().trim_matches('"').to_string())
            .filter(|t| !t.is_empty())
            .collect();
        tags.sort();
        tags
    }

    /// Status line and headers of a HEAD request (None when nothing answers).
    fn get(&self, path: &str) -> Option<(u16, String)> {
        self.request("HEAD", path)
    }

    /// The config digest of the image manifest the registry serves for
    /// `name:reference` (a GET of the manifest, read as JSON).
    pub fn config_digest(&self, name: &str, reference: &str) -> Option<String> {
        let (code, resp) = self.request("GET", &format!("/v2/{name}/manifests/{reference}"))?;
        if code != 200 {
            return None;
        }
        let body = resp.split_once("\r\n\r\n")?.1;
        let doc = xtask::support::json::Json::parse(body).ok()?;
        let digest = doc.get("config")?.get("digest")?.as_str()?;
        Some(digest.to_string())
    }

    /// The body of a GET of the API path `path` when it answers 200.
    pub fn body(&self, path: &str) -> Option<String> {
        let (code, resp) = self.request("GET", path)?;
        (code == 200).then(|| resp.split_once("\r\n\r\n").map(|(_, b)| b.to_string()))?
    }

    /// Write `body` as the manifest `name:reference` (media type
    /// `content_type`) straight into the registry, as a registry-side copy
    /// (crane copy, a CI step reusing a build) would; the HTTP status.
    pub fn put_manifest(&self, name: &str, reference: &str, content_type: &str, body: &str) -> u16 {
        let path = format!("/v2/{name}/manifests/{reference}");
        self.request_with("PUT", &path, Some((content_type, body)))
            .map_or(0, |(code, _)| code)
    }

    fn request(&self, method: &str, path: &str) -> Option<(u16, String)> {
        self.request_with(method, path, None)
    }

    fn request_with(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &str)>,
    ) -> Option<(u16, String)> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        let sent = body.map_or(String::new(), |(t, b)| {
            format!("Content-Type: {t}\r\nContent-Length: {}\r\n", b.len())
        });
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{}{sent}Accept: application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json\r\nConnection: close\r\n\r\n{}",
            self.host(),
            self.auth_header(),
            body.map_or("", |(_, b)| b)
        );
        s.write_all(req.as_bytes()).ok()?;
        let mut resp = String::new();
        s.read_to_string(&mut resp).ok()?;
        let code = resp.split_whitespace().nth(1)?.parse().ok()?;
        Some((code, resp))
    }

    fn auth_header(&self) -> String {
        self.auth
            .as_ref()
            .map_or(String::new(), |a| format!("Authorization: {a}\r\n"))
    }

    /// The digest the registry reports for `name:tag` (Docker-Content-Digest).
    pub fn digest(&self, name: &str, tag: &str) -> Option<String> {
        self.manifest_header(name, tag, "docker-content-digest")
    }

    /// The media type of the manifest the registry serves for `name:tag`
    /// (Content-Type): a manifest list for a multi-platform image.
    pub fn media_type(&self, name: &str, tag: &str) -> Option<String> {
        self.manifest_header(name, tag, "content-type")
    }

    fn manifest_header(&self, name: &str, tag: &str, header: &str) -> Option<String> {
        let (code, resp) = self.get(&format!("/v2/{name}/manifests/{tag}"))?;
        if code != 200 {
            return None;
        }
        resp.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(header).then(|| v.trim().to_string())
        })
    }
}

/// `docker-registry serve DIR/config.yml`: access log (its stdout) to
/// DIR/access.log, errors to DIR/registry.log, both appended.
fn spawn_registry(dir: &Path) -> Child {
    let append = |name: &str| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(name))
            .unwrap()
    };
    Command::new("docker-registry")
        .arg("serve")
        .arg(dir.join("config.yml"))
        .stdin(Stdio::null())
        .stdout(Stdio::from(append("access.log")))
        .stderr(Stdio::from(append("registry.log")))
        .spawn()
        .expect("docker-registry is not installed (apt-get install docker-registry)")
}

/// Standard base64 with padding (for a Basic `Authorization` value).
pub fn base64_encode(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `docker import` of a folder holding only /etc/os-release, as `reference`:
/// an image without python (see `import_python_image` for one with it).
pub fn import_image(reference: &str, codename: &str) {
    let dir = TempDir::new("base");
    let etc = dir.path().join("root/etc");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(
        etc.join("os-release"),
        format!("ID=ubuntu\nVERSION_CODENAME={codename}\n"),
    )
    .unwrap();
    let tar = dir.path().join("base.tar");
    let ok = Command::new("tar")
        .arg("-C")
        .arg(dir.path().join("root"))
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap()
        .success();
    assert!(ok, "tar failed");
    docker(&["import", tar.to_str().unwrap(), reference]);
}

/// Labels of a local image as `key=value` lines, sorted.
pub fn labels(image: &str) -> Vec<(String, String)> {
    let out = docker(&[
        "image",
        "inspect",
        "--format",
        "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}}\n{{end}}",
        image,
    ]);
    out.lines()
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

/// Removes the local images a test makes, when made (a leftover of an
/// earlier run whose registry had the same port would fake a result) and
/// again when dropped, also when the test fails: each name, and every image
/// labelled `ref.name=<name>`, which also finds an image a later build moved
/// the name away from and the unnamed image of a build whose checks failed.
/// The names carry the test's own registry port, so no
/// running test's images match.
pub struct Cleanup(pub Vec<String>);

impl Cleanup {
    pub fn new(names: &[&str]) -> Cleanup {
        let cleanup = Cleanup(names.iter().map(|n| n.to_string()).collect());
        cleanup.remove();
        cleanup
    }

    fn remove(&self) {
        // Twice: an image whose child was still there is free the second time.
        for _ in 0..2 {
            for name in &self.0 {
                let filter = format!("label=org.opencontainers.image.ref.name={name}");
                let ids = Command::new("docker")
                    .args(["images", "-a", "-q", "--no-trunc", "--filter", &filter])
                    .stdin(Stdio::null())
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default();
                let mut args = vec!["rmi", name.as_str()];
                args.extend(ids.split_whitespace());
                let _ = docker_ok(&args);
            }
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.remove();
    }
}

/// The shell text of a [`docker_wrapper`] whose docker talks to another
/// engine than this machine's socket (as one that runs docker on another
/// host, or a context naming one): its engine's ID differs, so the tool
/// runs every docker step through the CLI, which reaches the real engine.
pub const ANOTHER_ENGINE: &str =
    r#"[ "$1" = info ] && { echo '"ANOTHER:ENGINE:ID/elsewhere"'; exit 0; }"#;

/// A `docker` first on PATH that runs `before` (shell text, with `$REAL`
/// the real docker and `$DIR` a scratch folder) and then the real one.
pub fn docker_wrapper(label: &str, before: &str) -> TempDir {
    program_wrapper(label, "docker", before)
}

/// A directory holding a `program` that runs `before` (shell text, with
/// `$REAL` the real program and `$DIR` this directory), then the real one.
pub fn program_wrapper(label: &str, program: &str, before: &str) -> TempDir {
    let dir = TempDir::new(label);
    let path = std::env::var("PATH").unwrap_or_default();
    let real = std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} on PATH"));
    let script = format!(
        "#!/bin/sh\nREAL='{real}'\nDIR='{dir}'\n{before}\nexec \"$REAL\" \"$@\"\n",
        real = real.display(),
        dir = dir.path().display()
    );
    let p = dir.path().join(program);
    std::fs::write(&p, script).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// A `docker` first on PATH that runs the real one, but first stops the
/// process `stop_pid` (the registry, a child of the test) when the `nth`
/// upload starts (its `docker save`), and waits (10 s at most) until it has exited:
/// gone, or a zombie its parent has not reaped, its sockets closed.
pub fn docker_that_stops_registry_at_upload(nth: u32, stop_pid: u32) -> TempDir {
    let exited = format!(
        "[ ! -e /proc/{stop_pid} ] || grep -q '^State:[[:space:]]*Z' /proc/{stop_pid}/status"
    );
    docker_wrapper(
        "stop-at-push",
        &format!(
            "if [ \"$1\" = save ]; then\n  n=$(cat \"$DIR/pushes\" 2>/dev/null || echo 0); n=$((n+1)); echo $n > \"$DIR/pushes\"\n  \
             if [ $n -eq {nth} ]; then\n    kill {stop_pid}\n    \
             t=0; until {exited} || [ $t -ge 200 ]; do sleep 0.05; t=$((t+1)); done\n  fi\nfi"
        ),
    )
}

/// Waits until process `pid` has a handler for `signal` (its bit in the
/// `SigCgt` mask of /proc/PID/status): a signal sent from then on is the
/// program's to handle, where one sent before would take the default action
/// (SIGINT: killed). Panics when the process exits first, or after 20 s.
pub fn wait_until_caught(pid: u32, signal: u32) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_else(|e| panic!("process {pid}: {e}"));
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::trim)
                .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
        };
        assert!(
            !field("State:").starts_with('Z'),
            "process {pid} exited before it caught signal {signal}"
        );
        let caught = u64::from_str_radix(field("SigCgt:"), 16).unwrap();
        if caught & (1 << (signal - 1)) != 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "process {pid} has no handler for signal {signal} after 20 s"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A running program whose stderr is read as it comes: a test waits for a
/// line of it (a handshake) before it goes on.
pub struct Watched {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    stderr: std::thread::JoinHandle<String>,
}

impl Watched {
    /// Start `cmd`, its stdout and stderr piped.
    pub fn spawn(mut cmd: Command) -> Watched {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut pipe = std::io::BufReader::new(child.stderr.take().unwrap());
        let (tx, lines) = std::sync::mpsc::channel();
        let stderr = std::thread::spawn(move || {
            use std::io::BufRead;
            let mut all = String::new();
            let mut line = Vec::new();
            while pipe.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                let text = String::from_utf8_lossy(&line).into_owned();
                all.push_str(&text);
                let _ = tx.send(text);
                line.clear();
            }
            all
        });
        Watched {
            child,
            lines,
            stderr,
        }
    }

    /// Whether a line of stderr holding `text` came within `limit` (false
    /// too when stderr ended without one).
    pub fn wait_for_stderr(&self, text: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    }

    /// Wait for the program to end; what it printed.
    pub fn finish(self) -> Run {
        let out = self.child.wait_with_output().unwrap();
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: self.stderr.join().unwrap(),
        }
    }
}

/// A `docker` first on PATH that runs the real one, but first appends a line
/// to `file` when its first argument is `build`: the working tree changes
/// while the image is being built.
pub fn docker_that_edits_at_build(file: &Path) -> TempDir {
    docker_wrapper(
        "edit-at-build",
        &format!(
            "if [ \"$1\" = build ]; then\n  printf '%s\\n' '# edited during the build' >> '{}'\nfi",
            file.display()
        ),
    )
}

/// A TCP listener on 127.0.0.1 that records what each connection sends
/// (up to the end of a request's header block, or what came within half a
/// second: a TLS hello has no end of headers) and answers `502 Bad
/// Gateway`: a proxy, or a host reached directly, that shows what
/// reached it.
pub struct Listener {
    pub port: u16,
    received: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Listener {
    pub fn start() -> Listener {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
                let mut got = Vec::new();
                let mut buf = [0u8; 65536];
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                log.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&got).into_owned());
                let _ = stream.write_all(
                    b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        Listener { port, received }
    }

    /// `http://user:password@127.0.0.1:PORT`, as a proxy setting.
    pub fn proxy_url(&self, user: &str, password: &str) -> String {
        format!("http://{user}:{password}@127.0.0.1:{}", self.port)
    }

    /// What each connection sent so far, one entry a connection.
    pub fn received(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }
}

/// Every variable that names a proxy, to docker or to curl, set to `url`.
pub fn every_proxy_variable(url: &str) -> Vec<(&'static str, String)> {
    [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ]
    .into_iter()
    .map(|k| (k, url.to_string()))
    .collect()
}

/// A tag of the OCI referrers tag schema: `sha256-` and 64 lowercase hex digits.
pub fn is_referrers_tag(tag: &str) -> bool {
    tag.strip_prefix("sha256-").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// The containers whose name the tool gave for run `pid` (`xtask-PID-RANDOM-N`).
pub fn containers_of(pid: u32) -> Vec<String> {
    docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("name=xtask-{pid}-"),
        "--format",
        "{{.Names}}",
    ])
    .lines()
    .map(str::to_string)
    .collect()
}

/// A unix socket in front of the engine's: every connection is passed on
/// to `/var/run/docker.sock` byte for byte, after its first request line
/// is recorded; a connection whose first line contains `at` runs `before`
/// (with that line) first. Pointed at with `DOCKER_HOST=unix://…`, it
/// shows which requests reached the engine, and puts a fault right before
/// one of them.
pub struct EngineProxy {
    pub dir: TempDir,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl EngineProxy {
    pub fn start(label: &str, at: &'static str, before: fn(&str)) -> EngineProxy {
        use std::os::unix::net::{UnixListener, UnixStream};
        let dir = TempDir::new(label);
        let listener = UnixListener::bind(dir.path().join("engine.sock")).unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { continue };
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n") && client.read(&mut byte).unwrap_or(0) == 1 {
                        head.push(byte[0]);
                    }
                    let line = String::from_utf8_lossy(&head).trim_end().to_string();
                    log.lock().unwrap().push(line.clone());
                    if line.contains(at) {
                        before(&line);
                    }
                    let Ok(mut engine) = UnixStream::connect("/var/run/docker.sock") else {
                        return;
                    };
                    let _ = engine.write_all(&head);
                    let (mut up_from, mut up_to) =
                        (client.try_clone().unwrap(), engine.try_clone().unwrap());
                    let up = std::thread::spawn(move || {
                        let _ = std::io::copy(&mut up_from, &mut up_to);
                        let _ = up_to.shutdown(std::net::Shutdown::Write);
                    });
                    let _ = std::io::copy(&mut engine, &mut client);
                    let _ = client.shutdown(std::net::Shutdown::Write);
                    let _ = up.join();
                });
            }
        });
        EngineProxy { dir, seen }
    }

    /// `DOCKER_HOST` pointing at the proxy.
    pub fn host(&self) -> String {
        format!("unix://{}", self.dir.path().join("engine.sock").display())
    }

    /// The first request line of each connection so far.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}
