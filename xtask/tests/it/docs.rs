//! The documentation's programs, run as written against a real engine and
//! registries on 127.0.0.1: `docs/quickstart.sh` (it must clean up after
//! itself on every exit and push only to the registry it started), and the
//! `run:` steps of the GitHub Actions workflow in `docs/ci.md` (what each
//! event publishes). `cargo` is a fake first on PATH standing in for this
//! build's binary. Without an engine these tests fail, unless
//! XTASK_DOCKER_TESTS=skip.

use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::workflow;
use crate::support::*;
use xtask::support::json::Json;

/// The repository's own file `rel`.
fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// A folder holding a fake `cargo`: `cargo xtask ARGS` runs this build's
/// binary with ARGS, except that a call whose words contain `fail_at`
/// fails (exit 1) without running anything. Anything else is unexpected.
fn fake_cargo(fail_at: Option<&str>) -> TempDir {
    let dir = TempDir::new("fake-cargo");
    let fail = fail_at.map_or(String::new(), |words| {
        format!("  case \" $* \" in *' {words} '*) echo 'fake cargo: failing at {words}' >&2; exit 1;; esac\n")
    });
    let cargo = dir.path().join("cargo");
    std::fs::write(
        &cargo,
        format!(
            "#!/bin/sh\nif [ \"$1\" = xtask ]; then\n  shift\n{fail}  exec '{}' \"$@\"\nfi\necho \"unexpected: cargo $*\" >&2\nexit 3\n",
            env!("CARGO_BIN_EXE_xtask")
        ),
    )
    .unwrap();
    std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// One run of `docs/quickstart.sh` as a user would start it, with `first`
/// folders before PATH, its own TMPDIR and HOME, and `port` as PORT.
struct Quickstart {
    run: Run,
    tmp: TempDir,
    home: TempDir,
}

impl Quickstart {
    fn run(first: &[&Path], port: Option<u16>) -> Quickstart {
        let tmp = TempDir::new("quickstart-tmp");
        let home = TempDir::new("quickstart-home");
        let mut cmd = pinned(Command::new(repo_file("docs/quickstart.sh")), home.path());
        let mut path: Vec<PathBuf> = first.iter().map(|p| p.to_path_buf()).collect();
        path.extend(std::env::split_paths(&std::env::var("PATH").unwrap()));
        cmd.env("PATH", std::env::join_paths(path).unwrap())
            .env("TMPDIR", tmp.path())
            .current_dir(tmp.path())
            .stdin(std::process::Stdio::null());
        if let Some(port) = port {
            cmd.env("PORT", port.to_string());
        }
        let run = Run::from(cmd.output().unwrap());
        Quickstart { run, tmp, home }
    }

    /// Files the script left in its TMPDIR or under HOME/.cache.
    fn files_left(&self) -> Vec<String> {
        let mut found = Vec::new();
        for dir in [self.tmp.path(), &self.home.path().join(".cache")] {
            for entry in std::fs::read_dir(dir).into_iter().flatten() {
                found.push(format!("file {}", entry.unwrap().path().display()));
            }
        }
        found
    }

    /// The registry the script said it started: (host, PID).
    fn registry(&self) -> (String, u32) {
        let line = self
            .run
            .stderr
            .lines()
            .find_map(|l| l.strip_prefix("quickstart: registry on "))
            .unwrap_or_else(|| panic!("no registry line: {}", self.run.stderr));
        let (host, pid) = line.split_once(", PID ").unwrap();
        (host.to_string(), pid.parse().unwrap())
    }

    /// What the script left behind: files in its TMPDIR or cache, its
    /// registry process, anything answering on its port, images named
    /// under its registry or labelled with such a name. Removes what it
    /// finds (the process by its PID), so a failing test leaves nothing.
    fn leftovers(&self, host: &str, pid: u32) -> Vec<String> {
        let mut found = self.files_left();
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains("docker-registry") {
            found.push(format!("registry process {pid}"));
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
        if TcpStream::connect(host).is_ok() {
            found.push(format!("something answering on {host}"));
        }
        // The names the quickstart makes on its registry (its base, the
        // demo's release and alias): another test that later gets the
        // same free port makes other names under it.
        let names = docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
        let ours = ["base:", "itwinai:0.1.0-", "itwinai:demo-latest"];
        let mine: Vec<&str> = names
            .lines()
            .filter(|n| {
                n.strip_prefix(&format!("{host}/"))
                    .is_some_and(|rest| ours.iter().any(|o| rest.starts_with(o)))
            })
            .collect();
        found.extend(mine.iter().map(|n| format!("image {n}")));
        let made = [
            format!("{host}/base:noble"),
            format!("{host}/itwinai:0.1.0-torch2.6-noble"),
            format!("{host}/itwinai:demo-latest"),
        ];
        for name in &made {
            let filter = format!("label=org.opencontainers.image.ref.name={name}");
            let ids = docker(&["images", "-a", "-q", "--filter", &filter]);
            found.extend(ids.lines().map(|id| format!("image {id} labelled {name}")));
        }
        let names: Vec<&str> = made.iter().map(String::as_str).collect();
        drop(Cleanup::new(&names));
        found
    }
}

#[test]
fn the_quickstart_runs_offline_as_written_and_leaves_nothing_behind() {
    if !itwinai_repository() {
        return;
    }
    if !engine_available() {
        return;
    }
    let cargo = fake_cargo(None);
    // No PORT: the script picks a free one itself.
    let q = Quickstart::run(&[cargo.path()], None);
    let (host, pid) = q.registry();
    let left = q.leftovers(&host, pid);
    q.run.expect(0);
    // The release, its alias, and the referrers tag that holds the test
    // evidence (Debian's registry has no referrers API).
    let listed = q
        .run
        .stdout
        .lines()
        .find(|l| l.starts_with(r#"{"name":"itwinai","tags":"#))
        .unwrap_or_else(|| panic!("no tag list: {}", q.run.stdout));
    let mut tags: Vec<String> = xtask::support::json::Json::parse(listed)
        .unwrap()
        .get("tags")
        .and_then(xtask::support::json::Json::as_array)
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    tags.sort();
    assert_eq!(tags.len(), 3, "{listed}");
    assert_eq!(
        tags[..2],
        ["0.1.0-torch2.6-noble", "demo-latest"],
        "{listed}"
    );
    assert!(is_referrers_tag(&tags[2]), "{listed}");
    assert!(q.run.stderr.contains("no problem"), "{}", q.run.stderr);
    assert!(
        q.run.stderr.contains("(created)"),
        "the alias was created: {}",
        q.run.stderr
    );
    assert_eq!(left, Vec::<String>::new(), "left behind");
}

#[test]
fn the_quickstart_cleans_up_when_a_step_fails() {
    if !itwinai_repository() {
        return;
    }
    if !engine_available() {
        return;
    }
    // `image test` fails: the base was pushed and the image built by then.
    let cargo = fake_cargo(Some("image test"));
    let port = free_port();
    let q = Quickstart::run(&[cargo.path()], Some(port));
    let (host, pid) = q.registry();
    assert_eq!(host, format!("127.0.0.1:{port}"), "the PORT asked for");
    let left = q.leftovers(&host, pid);
    q.run.expect(1);
    assert!(
        q.run.stderr.contains("fake cargo: failing at image test"),
        "{}",
        q.run.stderr
    );
    assert!(
        q.run
            .stderr
            .contains(&format!("checked {host}/itwinai:0.1.0-torch2.6-noble")),
        "the image was built before the failure: {}",
        q.run.stderr
    );
    assert_eq!(left, Vec::<String>::new(), "left behind");
}

#[test]
fn the_quickstart_refuses_a_port_where_another_server_answers() {
    if !itwinai_repository() {
        return;
    }
    if !engine_available() {
        return;
    }
    let mut other = Registry::start();
    let asked = other.access_log();
    let cargo = fake_cargo(None);
    let q = Quickstart::run(&[cargo.path()], Some(other.port));
    q.run.expect(2);
    let line = q.run.stderr.trim();
    assert!(
        line.starts_with(&format!(
            "quickstart: something already answers on {}; ",
            other.host()
        )) && !line.contains('\n'),
        "{line}"
    );
    // The other registry is untouched: running, and asked for nothing.
    assert!(other.child.try_wait().unwrap().is_none(), "it still runs");
    assert!(TcpStream::connect(other.host()).is_ok(), "it still answers");
    assert_eq!(other.access_log(), asked);
    assert_eq!(q.files_left(), Vec::<String>::new(), "left behind");
}

/// The script checks that what answers on the port is the registry it
/// started (a random token in a header of its own configuration), so a
/// registry without that token is refused, and the process the script
/// started is stopped. Here `docker-registry` drops the header.
#[test]
fn the_quickstart_refuses_a_registry_that_is_not_its_own() {
    if !itwinai_repository() {
        return;
    }
    if !engine_available() {
        return;
    }
    let impostor = program_wrapper(
        "impostor-registry",
        "docker-registry",
        "sed '/headers:/,$d' \"$2\" > \"$DIR/other.yml\"\nexec \"$REAL\" serve \"$DIR/other.yml\"",
    );
    let cargo = fake_cargo(None);
    let q = Quickstart::run(&[cargo.path(), impostor.path()], Some(free_port()));
    let (host, pid) = q.registry();
    let left = q.leftovers(&host, pid);
    q.run.expect(1);
    assert!(
        q.run.stderr.contains(&format!(
            "quickstart: the registry this demo started does not answer on {host}"
        )),
        "{}",
        q.run.stderr
    );
    assert!(!q.run.stderr.contains("docker push"), "{}", q.run.stderr);
    assert_eq!(left, Vec::<String>::new(), "left behind");
}

/// Two flavours on the seeded jammy base: `fix` declares the alias
/// `fix-latest`, `bare` none; both are gated by a test.
fn two_flavours(host: &str) -> String {
    let test = "test = [\"python3\", \"-m\", \"platform\"]\n";
    format!(
        "{}\n[flavours.bare]\ndockerfile = \"env-files/fix/Dockerfile\"\nframework = \"tf\"\n\
         framework-version = \"2.16\"\ndistro = \"jammy\"\n{test}",
        catalog(host, test)
    )
}

/// Forgets every local image named under a registry when dropped.
struct ForgetImages(String);

impl Drop for ForgetImages {
    fn drop(&mut self) {
        forget_local_images(&format!("{}/", self.0));
    }
}

/// The workflow of docs/ci.md after `marker`, run step by step on a
/// fixture checkout. A fake `cargo build` puts this build's binary (a
/// wrapper naming the checkout as --root) where the workflow expects the
/// one it builds.
fn ci_runner(ws: &Workspace, host: &str, marker: &str) -> (workflow::Runner, TempDir) {
    let bin = TempDir::new("ci-cargo");
    let wrapper = bin.path().join("xtask");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec '{}' --root '{}' \"$@\"\n",
            env!("CARGO_BIN_EXE_xtask"),
            ws.root().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cargo = bin.path().join("cargo");
    std::fs::write(
        &cargo,
        format!(
            "#!/bin/sh\nif [ \"$1\" = build ]; then\n  mkdir -p target/debug && cp '{}' target/debug/xtask\n  exit\nfi\necho \"unexpected: cargo $*\" >&2\nexit 3\n",
            wrapper.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
    let yaml = doc_block("docs/ci.md", marker, "```yaml");
    let parsed = workflow::parse(&yaml);
    // The reader saw every step the text has: each `run:` and `uses:`.
    for key in ["run", "uses"] {
        let written = yaml
            .lines()
            .filter(|l| {
                let t = l.trim_start();
                t.strip_prefix("- ")
                    .unwrap_or(t)
                    .starts_with(&format!("{key}:"))
            })
            .count();
        let read = parsed
            .get("jobs")
            .unwrap()
            .entries()
            .iter()
            .map(|(_, job)| {
                let steps = job.get("steps").unwrap().list();
                steps.iter().filter(|s| s.get(key).is_some()).count()
            });
        assert_eq!(read.sum::<usize>(), written, "{key}: steps");
    }
    let runner = workflow::Runner {
        workflow: parsed,
        workspace: ws.root().to_path_buf(),
        path_first: bin.path().to_path_buf(),
        registry: Some(host.to_string()),
    };
    (runner, bin)
}

/// The layers of `reference` as the registry serves it (pulled here).
fn served_layers(reference: &str) -> String {
    docker(&["pull", "--quiet", reference]);
    image_layers(reference)
}

/// docs/ci.md's GitHub Actions workflow, its `run:` steps in order: a push
/// to main publishes development images only; the release of that commit
/// promotes them (never built again) with the alias; a release that does
/// not name the version publishes nothing; a pre-release is published
/// without moving the alias; a flavour without alias never gets one.
#[test]
fn the_ci_example_publishes_tested_development_images_on_release() {
    if !itwinai_repository() {
        return;
    }
    let Some(EngineTest { registry, ws, .. }) =
        EngineTest::start_with("ci-example", JAMMY, two_flavours)
    else {
        return;
    };
    let host = registry.host();
    let _forget = ForgetImages(host.clone());
    ws.write(".gitignore", "/target\n");
    ws.commit();
    let (ci, _bin) = ci_runner(&ws, &host, "<!-- ci-workflow -->");
    let ok = |run: &workflow::WorkflowRun| assert!(run.ok, "{}", run.log);

    // A push to main: development images of that commit, nothing released.
    let hex = ws.head()[..12].to_string();
    let run = ci.run(&workflow::Event::Push);
    ok(&run);
    assert_eq!(run.log.matches("Login Succeeded").count(), 2, "{}", run.log);
    let dev = |version: &str, hex: &str| {
        vec![
            format!("{version}-tf2.16-jammy-{hex}"),
            format!("{version}-torch2.6-jammy-{hex}"),
        ]
    };
    assert_eq!(registry.tags("itwinai-dev"), dev("0.2.2", &hex));
    assert_eq!(registry.tags("itwinai"), Vec::<String>::new());

    // A release that does not name pyproject.toml's version: refused.
    let run = ci.run(&workflow::Event::Release("v9.9.9".into()));
    assert!(!run.ok, "{}", run.log);
    assert!(
        run.log
            .contains("::error::release v9.9.9 does not name pyproject.toml's version 0.2.2"),
        "{}",
        run.log
    );
    assert_eq!(registry.tags("itwinai"), Vec::<String>::new());

    // Its release: the tested development images, promoted, and the alias.
    let run = ci.run(&workflow::Event::Release("v0.2.2".into()));
    ok(&run);
    // Written in the registry: nothing is built, pulled or pushed by docker.
    assert!(
        !run.log.lines().any(|l| l.starts_with("+ docker ")),
        "the engine was used on release: {}",
        run.log
    );
    assert_eq!(
        registry.tags("itwinai"),
        ["0.2.2-tf2.16-jammy", "0.2.2-torch2.6-jammy", "fix-latest"]
    );
    let release = registry.digest("itwinai", "0.2.2-torch2.6-jammy");
    assert!(release.is_some());
    assert_eq!(registry.digest("itwinai", "fix-latest"), release);
    for (tag, dev_tag) in ["0.2.2-tf2.16-jammy", "0.2.2-torch2.6-jammy"]
        .iter()
        .zip(dev("0.2.2", &hex))
    {
        assert_eq!(
            served_layers(&format!("{host}/itwinai:{tag}")),
            served_layers(&format!("{host}/itwinai-dev:{dev_tag}")),
            "{tag} is {dev_tag}, relabelled"
        );
    }

    // A pre-release: pushed to main, then released without moving the alias.
    ws.xtask(&["version", "set", "0.2.3rc1"], None, &[])
        .expect(0);
    ws.commit();
    let hex = ws.head()[..12].to_string();
    ok(&ci.run(&workflow::Event::Push));
    let mut want = dev("0.2.2", &ws.git(&["rev-parse", "HEAD~1"])[..12]);
    want.extend(dev("0.2.3rc1", &hex));
    want.sort();
    assert_eq!(registry.tags("itwinai-dev"), want);
    ok(&ci.run(&workflow::Event::Release("v0.2.3rc1".into())));
    assert_eq!(
        registry.tags("itwinai"),
        [
            "0.2.2-tf2.16-jammy",
            "0.2.2-torch2.6-jammy",
            "0.2.3rc1-tf2.16-jammy",
            "0.2.3rc1-torch2.6-jammy",
            "fix-latest"
        ]
    );
    assert_eq!(registry.digest("itwinai", "fix-latest"), release);
}

const AMD64: &str = "linux/amd64";
const ARM64: &str = "linux/arm64";

/// One entry of an index as its registry serves it: its platform, its
/// manifest digest, its layers, its config (JSON).
struct Entry {
    platform: String,
    digest: String,
    layers: Vec<String>,
    config: Json,
}

impl Entry {
    fn label(&self, key: &str) -> Option<&str> {
        self.config
            .get("config")
            .and_then(|c| c.get("Labels"))
            .and_then(|l| l.get(key))
            .and_then(Json::as_str)
    }
}

/// The entries of the index `name:tag`, read through the registry API
/// (the index, then each entry's manifest and config blob); panics when the
/// tag serves no index.
fn served_index(registry: &Registry, name: &str, tag: &str) -> Vec<Entry> {
    assert_eq!(
        registry.media_type(name, tag).as_deref(),
        Some(MANIFEST_LIST),
        "{name}:{tag} is an index"
    );
    let body = |path: String| {
        let text = registry
            .body(&path)
            .unwrap_or_else(|| panic!("{path}: not served"));
        Json::parse(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    let index = body(format!("/v2/{name}/manifests/{tag}"));
    let s = |v: &Json, k: &str| v.get(k).and_then(Json::as_str).unwrap().to_string();
    let mut entries: Vec<Entry> = index
        .get("manifests")
        .and_then(Json::as_array)
        .unwrap()
        .iter()
        .map(|m| {
            let p = m.get("platform").unwrap();
            let digest = s(m, "digest");
            let manifest = body(format!("/v2/{name}/manifests/{digest}"));
            let config = s(manifest.get("config").unwrap(), "digest");
            Entry {
                platform: format!("{}/{}", s(p, "os"), s(p, "architecture")),
                layers: manifest
                    .get("layers")
                    .and_then(Json::as_array)
                    .unwrap()
                    .iter()
                    .map(|l| s(l, "digest"))
                    .collect(),
                config: body(format!("/v2/{name}/blobs/{config}")),
                digest,
            }
        })
        .collect();
    entries.sort_by(|a, b| a.platform.cmp(&b.platform));
    entries
}

/// The log of each run of `job` in the log of a workflow run: from its
/// `== job JOB on …` line (which shows its runner and matrix entry) to the
/// next job's.
fn job_logs<'a>(log: &'a str, job: &str) -> Vec<&'a str> {
    let head = format!("{job} on ");
    log.split("== job ")
        .filter(|part| part.starts_with(&head))
        .collect()
}

/// The platform of each `docker build` in `log`.
fn builds(log: &str) -> Vec<&'static str> {
    log.lines()
        .filter(|l| l.starts_with("+ docker build "))
        .map(|l| {
            [AMD64, ARM64]
                .into_iter()
                .find(|p| l.contains(&format!(" --platform {p} ")))
                .unwrap_or("?")
        })
        .collect()
}

/// A registry serving a base for linux/amd64 and linux/arm64 (jammy, torch
/// and tensorflow), and a checkout of two flavours built on it: `fix`
/// declared for both platforms, `bare` without `platforms`.
fn native_arm64_fixture() -> Option<(Registry, MultiPlatformBase, Workspace)> {
    if !itwinai_repository() || !engine_available() || !emulation_available(ARM64) {
        return None;
    }
    let registry = Registry::start();
    let host = registry.host();
    let base = make_multi_platform_base_with(
        &registry,
        &format!("ci-arm64-base-{}", std::process::id()),
        &[("torch", "2.6.0"), ("tensorflow", "2.16.1")],
        &[(AMD64, "jammy"), (ARM64, "jammy")],
    );
    let alias = "latest = \"fix-latest\"\n";
    let both = format!("{alias}platforms = [\"{AMD64}\", \"{ARM64}\"]\n");
    let catalog = two_flavours(&host).replacen(alias, &both, 1);
    let ws = unique_workspace("ci-arm64", &base.reference, &catalog);
    ws.write(".gitignore", "/target\n");
    ws.commit();
    Some((registry, base, ws))
}

/// The native-arm64 workflow of docs/ci.md, its `run:` steps in order (the
/// arm64 runner stood in for by QEMU, see `workflow::stand_in`): a push
/// builds, tests and pushes amd64 in the `images` jobs, then arm64 in
/// `images-arm64` (for `fix` alone), and the development tag serves one
/// index of both platforms of that commit, no per-platform tag; its release
/// promotes both platforms, and the arm64 job does not run for it.
#[test]
fn the_native_arm64_ci_example_assembles_one_index_and_releases_both_platforms() {
    let Some((registry, base, ws)) = native_arm64_fixture() else {
        return;
    };
    let host = registry.host();
    let _forget = ForgetImages(host.clone());
    let (ci, _bin) = ci_runner(&ws, &host, "<!-- ci-workflow-native-arm64 -->");
    let head = ws.head();

    let run = ci.run(&workflow::Event::Push);
    assert!(run.ok, "{}", run.log);
    let dev = [
        format!("0.2.2-tf2.16-jammy-{}", &head[..12]),
        format!("0.2.2-torch2.6-jammy-{}", &head[..12]),
    ];
    assert_eq!(registry.tags("itwinai-dev"), dev, "no per-platform tag");
    assert_eq!(registry.tags("itwinai"), Vec::<String>::new());
    // amd64 on the amd64 runner for both flavours, then arm64 on the arm64
    // runner for `fix` alone.
    let images = job_logs(&run.log, "images");
    let arm64 = job_logs(&run.log, "images-arm64");
    assert_eq!(images.len(), 2, "{}", run.log);
    assert_eq!(arm64.len(), 1, "{}", run.log);
    assert!(
        arm64[0]
            .starts_with("images-arm64 on ubuntu-24.04-arm (linux/arm64) [(\"flavour\", \"fix\")]"),
        "{}",
        arm64[0]
    );
    for (log, want) in [(images[0], AMD64), (images[1], AMD64), (arm64[0], ARM64)] {
        assert_eq!(builds(log), [want], "{log}");
    }
    // One index of both platforms, one build: this commit on that base.
    let index = served_index(&registry, "itwinai-dev", &dev[1]);
    let platforms: Vec<&str> = index.iter().map(|e| e.platform.as_str()).collect();
    assert_eq!(platforms, [AMD64, ARM64]);
    let base_digest = format!(
        "{host}/ci-arm64-base-{}@{}",
        std::process::id(),
        base.digest
    );
    for e in &index {
        let arch = e.config.get("architecture").and_then(Json::as_str);
        assert_eq!(arch, e.platform.strip_prefix("linux/"), "{}", e.digest);
        assert_eq!(
            e.label("org.opencontainers.image.revision"),
            Some(head.as_str())
        );
        assert_eq!(
            e.label("org.opencontainers.image.base.digest"),
            Some(base_digest.as_str())
        );
    }
    assert_ne!(
        registry.media_type("itwinai-dev", &dev[0]).as_deref(),
        Some(MANIFEST_LIST),
        "bare is one image"
    );

    // Its release: both platforms promoted from that index; no arm64 job.
    let run = ci.run(&workflow::Event::Release("v0.2.2".into()));
    assert!(run.ok, "{}", run.log);
    assert!(
        run.log
            .contains("== job images-arm64: skipped (if: github.event_name == 'push' && "),
        "{}",
        run.log
    );
    assert_eq!(
        registry.tags("itwinai"),
        ["0.2.2-tf2.16-jammy", "0.2.2-torch2.6-jammy", "fix-latest"]
    );
    let release = served_index(&registry, "itwinai", "0.2.2-torch2.6-jammy");
    let reference = format!("{host}/itwinai:0.2.2-torch2.6-jammy");
    assert_eq!(release.len(), index.len());
    for (r, d) in release.iter().zip(&index) {
        assert_eq!(r.platform, d.platform);
        assert_eq!(r.layers, d.layers, "{}: the development layers", r.platform);
        assert_eq!(
            r.label("org.opencontainers.image.ref.name"),
            Some(reference.as_str())
        );
        assert_eq!(
            r.label("org.opencontainers.image.revision"),
            Some(head.as_str())
        );
    }
    assert_eq!(
        registry.digest("itwinai", "fix-latest"),
        registry.digest("itwinai", "0.2.2-torch2.6-jammy")
    );
}
