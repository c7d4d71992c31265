//! The real binary on throwaway workspaces, with a recording fake docker:
//! plans, JSON, and refusals (exit 2, one line, no docker call).

use crate::support::*;

const REG: &str = "127.0.0.1:5999";
const BASE: &str = "127.0.0.1:5999/base:1";

fn fixture(label: &str) -> Workspace {
    Workspace::fixture(label, REG, BASE)
}

#[test]
fn list_shows_references_and_aliases() {
    let ws = fixture("list");
    let head = ws.head();
    let run = ws.xtask(&["image", "list"], None, &[]);
    run.expect(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert!(lines[0].starts_with("FLAVOUR"));
    let cols: Vec<&str> = lines[1].split_whitespace().collect();
    let dev = format!(
        "127.0.0.1:5999/itwinai-dev:0.2.2-torch2.6-jammy-{}",
        &head[..12]
    );
    assert_eq!(
        cols,
        [
            "fix",
            "-",
            "native",
            "127.0.0.1:5999/itwinai:0.2.2-torch2.6-jammy",
            &dev,
            "127.0.0.1:5999/itwinai:fix-latest",
            "none",
            "{version}-{framework}{framework-version}-{distro}",
            "env-files/fix/Dockerfile"
        ]
    );
    assert!(
        run.stderr.contains(
            "1 flavour; 1 -latest alias declared: fix-latest; not gated by a test (no 'test'): fix"
        ),
        "{}",
        run.stderr
    );

    let run = ws.xtask(&["image", "list", "--json"], None, &[]);
    run.expect(0);
    let want = format!(
        r#"[{{"dev_reference":"127.0.0.1:5999/itwinai-dev:0.2.2-torch2.6-jammy-{}","dockerfile":"env-files/fix/Dockerfile","flavour":"fix","latest":"127.0.0.1:5999/itwinai:fix-latest","platforms":[],"problem":null,"reference":"127.0.0.1:5999/itwinai:0.2.2-torch2.6-jammy","tag_format":"{{version}}-{{framework}}{{framework-version}}-{{distro}}","test":null,"test_entrypoint":false,"test_network":null,"variant":null}}]"#,
        &head[..12]
    );
    assert_eq!(run.stdout.trim(), want);
}

/// The file the build writes its image's ID into (the PID and the random
/// part written `PID-HEX`, as [`normalized`] writes them).
const IIDFILE: &str = "<cache>/contexts/.iid-PID-HEX";

/// A dry run's listing with what differs from run to run written out:
/// the PID and random part in temporary names, the home's cache folder.
fn normalized(stdout: &str, ws: &Workspace) -> Vec<String> {
    let cache = format!("{}/.cache/itwinai-xtask", ws.home.path().display());
    stdout
        .lines()
        .map(|l| {
            let mut l = l.replace(&cache, "<cache>");
            for mark in ["/.new-", "/.blobs-", "/.dirty-", "/.iid-"] {
                let mut out = String::new();
                let mut rest = l.as_str();
                while let Some(at) = rest.find(mark) {
                    out.push_str(&rest[..at + mark.len()]);
                    rest = &rest[at + mark.len()..];
                    let end = rest
                        .find(|c: char| !c.is_ascii_digit())
                        .unwrap_or(rest.len());
                    out.push_str("PID");
                    rest = &rest[end..];
                    {
                        let end = rest[1..]
                            .find(|c: char| !c.is_ascii_hexdigit())
                            .map_or(rest.len(), |e| e + 1);
                        out.push_str("-HEX");
                        rest = &rest[end..];
                    }
                }
                out.push_str(rest);
                l = out;
            }
            l
        })
        .collect()
}

fn expected_build_line(ws: &Workspace, reference: &str, digest: &str) -> String {
    let context = format!("<cache>/contexts/{}", ws.head());
    format!(
        "{{BUILD}} --platform linux/amd64 -f {context}/env-files/fix/Dockerfile --iidfile {IIDFILE} --build-arg COMMIT_HASH={head} \
         --build-arg BASE_IMG_NAME={BASE} --build-arg {digest} --build-arg ITWINAI_VERSION=0.2.2 \
         --build-arg CREATION_DATE={CREATION_DATE} --build-arg IMAGE_FULL_NAME={reference} \
         --build-arg FRAMEWORK_VERSION=2.6 -- {context}",
        head = ws.head(),
    )
}

const GIT_STATE: &str = "# read-only: git status --porcelain=v2 --branch --untracked-files=normal";

/// The lines a dry run prints first: the git state.
fn expected_start() -> Vec<String> {
    vec![
        GIT_STATE.to_string(),
        "# read-only: git ls-files --stage -v".to_string(),
    ]
}

/// The engine's platform, the buildx probe: listed after the context (a
/// run starts them with the git state and takes them there).
fn expected_probes() -> Vec<String> {
    vec![
        "# read-only: docker version --format '{{.Server.Os}}/{{.Server.Arch}}'".to_string(),
        "# read-only: docker buildx version".to_string(),
    ]
}

/// The steps that list a commit's files and write its context (a dry run
/// only shows the writing): from the blobs, no checkout; the index as
/// listed with the git state (not listed again). The filter attributes are
/// listed where a run takes them, after the context (it starts them before).
fn expected_context(ws: &Workspace) -> Vec<String> {
    vec![
        "# read-only: git rev-parse --show-prefix".to_string(),
        format!("# read-only: git ls-tree -r --full-tree {}", ws.head()),
        "git cat-file --batch --buffer ><cache>/contexts/.blobs-PID-HEX <<'EOF'".to_string(),
        "<3 blob ids, one a line>".to_string(),
        "EOF".to_string(),
        "# read-only: git check-attr --stdin filter <<'EOF'".to_string(),
        "<3 paths, one a line>".to_string(),
        "EOF".to_string(),
    ]
}

/// The lines `--dry-run` prints for the checks after building `reference`,
/// and the move of its name to the checked image.
fn expected_checks(reference: &str, base_digest: &str) -> Vec<String> {
    vec![
        format!("# check that HEAD and the tree did not change while {reference} was built"),
        GIT_STATE.to_string(),
        "# read-only: git ls-files --stage -v".to_string(),
        format!("# check {reference}: a linux/amd64 image (run as linux/amd64), its labels, VERSION_CODENAME=jammy in /etc/os-release, torch 2.6 (and itwinai 0.2.2, if installed) inside, built on its recorded base"),
        format!("# read-only: docker image inspect -- '<image ID built for {reference}>' {base_digest}"),
        format!("# read-only: docker history --no-trunc --quiet -- '<image ID built for {reference}>'"),
        format!(
            "# read-only: docker run --rm --name '<container name>' --platform linux/amd64 --network none --pull never --entrypoint python3 -- '<image ID built for {reference}>' -c {} torch itwinai",
            xtask::support::shell::shell_quote(xtask::plan::step::PROBE_SCRIPT)
        ),
        format!("docker tag -- '<image ID built for {reference}>' {reference}"),
    ]
}

/// The fixture's reference.
const CLASSIC_REFERENCE: &str = "127.0.0.1:5999/itwinai:0.2.2-torch2.6-jammy";

/// What a dry run shows for the base's digest before the pull.
fn base_placeholder() -> String {
    format!("<BASE_IMG_DIGEST of {BASE}, known after the pull>")
}

/// What `image build fix --dry-run` lists for the fixture without buildx,
/// every docker step run by the docker CLI.
fn expected_classic_listing(ws: &Workspace, reference: &str) -> Vec<String> {
    let placeholder = base_placeholder();
    let build = expected_build_line(ws, reference, &format!("'BASE_IMG_DIGEST={placeholder}'"))
        .replace("{BUILD}", "docker build --force-rm");
    let mut want = expected_start();
    want.extend(expected_context(ws));
    want.extend(expected_probes());
    want.push(format!("docker pull --platform linux/amd64 -- {BASE}"));
    want.push(build);
    want.extend(expected_checks(reference, &format!("'{placeholder}'")));
    want
}

#[test]
fn dry_run_without_buildx_pulls_then_builds() {
    let ws = fixture("dry-classic");
    let fake = FakeDocker::new();
    let run = ws.xtask(
        &["image", "build", "fix", "--dry-run"],
        Some(fake.bin()),
        &[],
    );
    run.expect(0);
    assert_eq!(
        normalized(&run.stdout, &ws),
        expected_classic_listing(&ws, CLASSIC_REFERENCE)
    );
    // Only read-only lookups ran: nothing was pulled or built.
    assert_eq!(
        fake.calls(),
        [
            "version --format {{.Server.Os}}/{{.Server.Arch}}",
            "buildx version"
        ]
    );
    // Every external command is echoed, shell-quoted, on stderr.
    assert!(
        run.stderr
            .contains("+ git status --porcelain=v2 --branch --untracked-files=normal"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("+ docker buildx version"),
        "{}",
        run.stderr
    );
}

/// [`expected_probes`] and [`expected_checks`] as a run that reaches the
/// engine through its socket lists them: the engine's platform, the
/// inspect, the history and the tag as the API requests sent instead.
fn through_the_engine_api(lines: Vec<String>, reference: &str, base: &str) -> Vec<String> {
    let id = format!("<image ID built for {reference}>");
    let (repo, tag) = reference.rsplit_once(':').unwrap();
    let mut out = Vec::new();
    for l in lines {
        if l.starts_with("# read-only: docker version ") {
            out.push(
                r#"# read-only: docker info --format '{{json (print .ID "/" .Name)}}'"#.to_string(),
            );
            out.push("# read-only: engine API: GET /_ping".to_string());
            out.push("# read-only: engine API: GET /vAPI/info".to_string());
            out.push("# read-only: engine API: GET /vAPI/version".to_string());
        } else if l.starts_with("# read-only: docker image inspect -- ") {
            out.push(format!(
                "# read-only: engine API: GET /vAPI/images/{id}/json, GET /vAPI/images/{base}/json"
            ));
        } else if l.starts_with("# read-only: docker history ") {
            out.push(format!(
                "# read-only: engine API: GET /vAPI/images/{id}/history"
            ));
        } else if l.starts_with("docker tag -- ") {
            out.push(format!(
                "engine API: POST /vAPI/images/{id}/tag?repo={repo}&tag={tag}"
            ));
        } else {
            out.push(l);
        }
    }
    out
}

/// `lines` with the engine's API version (`/v1.41/`) written `/vAPI/`.
fn api_version_elided(lines: Vec<String>) -> Vec<String> {
    lines
        .into_iter()
        .map(|l| {
            let mut out = String::new();
            let mut rest = l.as_str();
            while let Some(at) = rest.find("/v") {
                out.push_str(&rest[..at]);
                let after = &rest[at + 2..];
                let n = after.find('/').unwrap_or(0);
                let version = &after[..n];
                let is_version = version.split_once('.').is_some_and(|(a, b)| {
                    !a.is_empty()
                        && !b.is_empty()
                        && (a.to_string() + b).bytes().all(|c| c.is_ascii_digit())
                });
                if is_version {
                    out.push_str("/vAPI");
                    rest = &after[n..];
                } else {
                    out.push_str("/v");
                    rest = after;
                }
            }
            out.push_str(rest);
            out
        })
        .collect()
}

#[test]
fn a_dry_run_lists_the_engine_api_requests_a_run_sends() {
    if !engine_available() {
        return;
    }
    let ws = fixture("dry-api");
    let run = ws.xtask(&["image", "build", "fix", "--dry-run"], None, &[]);
    run.expect(0);
    let want = through_the_engine_api(
        expected_classic_listing(&ws, CLASSIC_REFERENCE),
        CLASSIC_REFERENCE,
        &base_placeholder(),
    );
    assert_eq!(api_version_elided(normalized(&run.stdout, &ws)), want);
    // The platform was asked for, and echoed as the request it is.
    run.asked_the_engine_api_for_its_platform();
    assert!(!run.stderr.contains("+ docker version"), "{}", run.stderr);
}

#[test]
fn a_dry_run_goes_on_past_an_unreachable_base_registry_a_build_does_not() {
    let ws = fixture("dry-offline");
    ws.write(
        "env-files/images.toml",
        &catalog(REG, "platforms = [\"linux/amd64\", \"linux/arm64\"]\n"),
    );
    ws.commit();
    let fake = FakeDocker::new();
    // The base's registry does not answer (nothing listens on its port);
    // no retries, so that the test does not wait for them.
    let offline = [("XTASK_REGISTRY_RETRIES", "0")];
    let run = ws.xtask(
        &["image", "build", "fix", "--dry-run"],
        Some(fake.bin()),
        &offline,
    );
    run.expect(0);
    assert!(
        run.stderr.contains(&format!(
            "note: {BASE} could not be looked up in its registry"
        )),
        "{}",
        run.stderr
    );
    let reference = "127.0.0.1:5999/itwinai:0.2.2-torch2.6-jammy";
    for p in ["amd64", "arm64"] {
        assert!(
            run.stdout
                .contains(&format!("docker pull --platform linux/{p} -- {BASE}")),
            "{}",
            run.stdout
        );
        // Built with no name, then named once checked.
        assert!(
            run.stdout.lines().any(|l| l.starts_with("docker tag -- ")
                && l.ends_with(&format!(" {reference}-linux-{p}"))),
            "{}",
            run.stdout
        );
    }
    // A real build stops at the lookup, before any pull or build.
    let run = ws.xtask(&["image", "build", "fix"], Some(fake.bin()), &offline);
    run.expect(1);
    let line = run.error_line();
    assert!(
        line.contains(&format!("cannot reach {REG} for the manifest {BASE}")),
        "{}",
        run.stderr
    );
    // Said as what it is: the flavour, its base, the registry to reach.
    assert!(
        line.contains(&format!(
            "flavour 'fix': its base image {BASE} cannot be looked up in its registry {REG}"
        )),
        "{line}"
    );
    assert!(
        !fake
            .calls()
            .iter()
            .any(|c| c.starts_with("pull ") || c.starts_with("build ")),
        "{:?}",
        fake.calls()
    );
}

/// With buildx the base is not pulled into the engine: its digest is read
/// from its registry by the registry client before the build (one
/// manifest read, shown by the dry run), and that is what the build
/// records. No docker command reads the registry.
#[test]
fn dry_run_with_buildx_reads_the_base_digest_from_its_registry_without_pulling() {
    let Some(EngineTest { registry, base, ws }) = EngineTest::start("dry-buildx", JAMMY) else {
        return;
    };
    let fake = FakeDocker::new();
    let args = [
        "image",
        "build",
        "fix",
        "--dry-run",
        "--builder",
        "remote-k8s",
    ];
    let run = ws.xtask(&args, Some(fake.bin()), &[("FAKE_BUILDX", "1")]);
    run.expect(0);
    let (repository, tag) = base.rsplit_once(':').unwrap();
    let name = repository.split_once('/').unwrap().1;
    let digest = registry
        .digest(name, tag)
        .expect("the seeded base is served");
    assert!(
        run.stdout.lines().any(|l| l == manifest_read_line(&base)),
        "{}",
        run.stdout
    );
    let build = run
        .stdout
        .lines()
        .find(|l| l.starts_with("docker buildx build --load --builder remote-k8s "))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(
        build.contains(&format!(" BASE_IMG_DIGEST={repository}@{digest} ")),
        "{build}"
    );
    assert!(!run.stdout.contains("docker pull"), "{}", run.stdout);
    assert!(
        fake.calls()
            .iter()
            .all(|c| !c.starts_with("pull ") && !c.starts_with("buildx imagetools")),
        "{:?}",
        fake.calls()
    );
}

#[test]
fn dry_run_json_keeps_stdout_for_json() {
    let ws = fixture("dry-json");
    let fake = FakeDocker::new();
    let run = ws.xtask(
        &["image", "build", "fix", "--dev", "--dry-run", "--json"],
        Some(fake.bin()),
        &[],
    );
    run.expect(0);
    let head = ws.head();
    let reference = format!(
        "127.0.0.1:5999/itwinai-dev:0.2.2-torch2.6-jammy-{}",
        &head[..12]
    );
    let want = format!(
        r#"[{{"build_args":{{"BASE_IMG_DIGEST":"<BASE_IMG_DIGEST of {BASE}, known after the pull>","BASE_IMG_NAME":"{BASE}","COMMIT_HASH":"{head}","CREATION_DATE":"{CREATION_DATE}","FRAMEWORK_VERSION":"2.6","IMAGE_FULL_NAME":"{reference}","ITWINAI_VERSION":"0.2.2"}},"error":null,"flavour":"fix","image_id":null,"platforms":[],"reference":"{reference}","status":"planned"}}]"#
    );
    assert_eq!(run.stdout.trim(), want);
    assert!(
        run.stderr
            .contains("docker pull --platform linux/amd64 -- "),
        "{}",
        run.stderr
    );

    // A Dockerfile that does not declare FRAMEWORK_VERSION is not given it.
    ws.write(
        "env-files/fix/Dockerfile",
        &dockerfile(BASE).replace("ARG FRAMEWORK_VERSION\n", ""),
    );
    ws.commit();
    let run = ws.xtask(
        &["image", "build", "fix", "--dry-run"],
        Some(fake.bin()),
        &[],
    );
    run.expect(0);
    assert!(
        run.stdout.contains("--build-arg IMAGE_FULL_NAME="),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("FRAMEWORK_VERSION"), "{}", run.stdout);
}

#[test]
fn local_time_is_used_without_source_date_epoch() {
    let ws = fixture("localtime");
    let fake = FakeDocker::new();
    let mut cmd = ws.xtask_command(&["image", "build", "fix", "--dry-run"], Some(fake.bin()));
    cmd.env_remove("SOURCE_DATE_EPOCH").env("TZ", "Etc/GMT-3");
    let run = Run::from(cmd.output().unwrap());
    run.expect(0);
    let date = run
        .stdout
        .split_whitespace()
        .find_map(|w| w.strip_prefix("CREATION_DATE="))
        .unwrap()
        .to_string();
    // `date +%Y-%m-%dT%H:%M:%S%:z` in a UTC+3 zone.
    assert_eq!(date.len(), 25, "{date}");
    assert!(date.ends_with("+03:00"), "{date}");
}

#[test]
fn dirty_trees_and_git_states() {
    let ws = fixture("dirty");
    let fake = FakeDocker::new();
    ws.write("untracked.txt", "x");
    let run = ws.xtask(
        &["image", "build", "fix", "--dry-run"],
        Some(fake.bin()),
        &[],
    );
    run.expect(2);
    assert!(run.error_line().contains("uncommitted changes"));
    assert!(fake.calls().is_empty());
    let run = ws.xtask(
        &["image", "build", "fix", "--dry-run", "--allow-dirty"],
        Some(fake.bin()),
        &[],
    );
    run.expect(0);
    assert!(run
        .stderr
        .contains("warning: building from a tree with uncommitted changes"));
    let run = ws.xtask(
        &["image", "build", "fix", "--dry-run", "--dev"],
        Some(fake.bin()),
        &[],
    );
    run.expect(0);
    assert!(run.stderr.contains("warning:"));

    // A detached HEAD builds.
    ws.commit();
    let head = ws.head();
    ws.git(&["checkout", "-q", "--detach", &head]);
    let run = ws.xtask(
        &["image", "build", "fix", "--dry-run"],
        Some(fake.bin()),
        &[],
    );
    run.expect(0);
    assert!(run.stdout.contains(&format!("COMMIT_HASH={head}")));
}

#[test]
fn missing_docker_is_one_clear_line() {
    let ws = fixture("nodocker");
    let empty = TempDir::new("empty-path");
    let path = std::env::var("PATH").unwrap();
    let git = std::env::split_paths(&path)
        .map(|d| d.join("git"))
        .find(|p| p.is_file())
        .unwrap();
    std::os::unix::fs::symlink(git, empty.path().join("git")).unwrap();
    let mut cmd = ws.xtask_command(&["image", "build", "fix"], None);
    cmd.env("PATH", empty.path());
    let run = Run::from(cmd.output().unwrap());
    run.expect(1);
    assert!(
        run.error_line()
            .contains("'docker' is not installed (not found on PATH)"),
        "{}",
        run.stderr
    );
}

#[test]
fn help_exits_0() {
    let ws = fixture("help");
    let run = ws.xtask(&["image", "build", "--help"], None, &[]);
    run.expect(0);
    assert!(run.stdout.contains("--dry-run"));
}

/// The names of the `Commands:` section of a `--help`, without `help`.
fn help_commands(help: &str) -> Vec<String> {
    help.split("Commands:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no Commands: in {help}"))
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// `image --help` lists every subcommand the CLI defines, and the line of
/// `image` in `--help` names each of them.
#[test]
fn help_names_every_image_subcommand() {
    use clap::CommandFactory;
    let cli = xtask::cli::Cli::command();
    let defined: Vec<String> = cli
        .find_subcommand("image")
        .unwrap()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    assert!(defined.len() >= 6, "{defined:?}");
    let ws = fixture("help-image");
    let run = ws.xtask(&["image", "--help"], None, &[]);
    run.expect(0);
    assert_eq!(help_commands(&run.stdout), defined);
    let run = ws.xtask(&["--help"], None, &[]);
    run.expect(0);
    let line = run
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("image "))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    for name in &defined {
        assert!(
            line.split(|c: char| !c.is_ascii_alphanumeric())
                .any(|w| w == name),
            "{name} is missing from {line:?}"
        );
    }
    // The length of a default development tag's hash is the catalog's.
    let run = ws.xtask(&["image", "build", "--help"], None, &[]);
    let dev = run
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("--dev "))
        .unwrap();
    assert!(dev.contains("dev-hash-length"), "{dev}");
    assert!(!dev.chars().any(|c| c.is_ascii_digit()), "{dev}");
}

#[test]
fn an_unwritable_output_is_one_line_and_exit_1() {
    let ws = fixture("full");
    // stdout full: one line on stderr naming the write failure.
    let mut cmd = ws.xtask_command(&["image", "list"], None);
    cmd.stdout(std::fs::File::create("/dev/full").unwrap());
    let out = cmd.output().unwrap();
    let run = Run::from(out);
    run.expect(1);
    assert!(
        run.error_line()
            .contains("the output could not all be written to stdout"),
        "{}",
        run.stderr
    );
    // stderr full too: still exit 1, never an abort (134).
    let mut cmd = ws.xtask_command(&["image", "list"], None);
    cmd.stdout(std::fs::File::create("/dev/full").unwrap())
        .stderr(std::fs::File::create("/dev/full").unwrap());
    assert_eq!(cmd.status().unwrap().code(), Some(1));
}

/// Output to `/dev/null` opened read-write (Python's `subprocess.DEVNULL`,
/// a shell's `1<>/dev/null`, process supervisors) is an output like any
/// other: every command exits as it does with its output on pipes.
#[test]
fn every_command_works_with_its_output_on_read_write_dev_null() {
    let ws = fixture("devnull");
    let docker = FakeDocker::new();
    let null = || {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
            .unwrap()
    };
    let cases: [(&[&str], i32); 8] = [
        (&["image", "list"], 0),
        (&["image", "list", "--json"], 0),
        (&["version"], 0),
        (&["version", "set", "0.2.3", "--dry-run"], 0),
        (&["image", "build", "fix", "--dry-run"], 0),
        (&["image", "build", "fix", "--dry-run", "--json"], 0),
        (&["image", "build", "nope"], 2),
        (&["check"], 0),
    ];
    for (args, code) in cases {
        let piped = ws.xtask(args, Some(docker.bin()), &[]);
        assert_eq!(piped.code, Some(code), "{args:?}: {}", piped.stderr);
        let mut cmd = ws.xtask_command(args, Some(docker.bin()));
        cmd.stdout(null()).stderr(null());
        let status = cmd.status().unwrap();
        assert_eq!(
            status.code(),
            Some(code),
            "{args:?} on read-write /dev/null"
        );
    }
    // A real write: the file changes and the command succeeds.
    let mut cmd = ws.xtask_command(&["version", "set", "0.2.3"], Some(docker.bin()));
    cmd.stdout(null()).stderr(null());
    assert_eq!(cmd.status().unwrap().code(), Some(0));
    let text = std::fs::read_to_string(ws.root().join("pyproject.toml")).unwrap();
    assert!(text.contains("version = \"0.2.3\""), "{text}");
}

#[test]
fn usage_errors_keep_clap_s_whole_message_and_version_works() {
    let ws = fixture("usage");
    let cases: [(&[&str], &[&str]); 3] = [
        (
            &["image", "tag", "--latest"],
            &[
                "error: the following required arguments were not provided:",
                "<FLAVOUR>",
                "Usage: cargo xtask image tag",
            ],
        ),
        (
            &["version", "bump", "pacth"],
            &[
                "[possible values: major, minor, patch]",
                "a similar value exists: 'patch'",
            ],
        ),
        (
            &["image", "build", "fix", "--dryrun"],
            &[
                "unexpected argument '--dryrun'",
                "a similar argument exists: '--dry-run'",
                "try '--help'",
            ],
        ),
    ];
    for (args, wants) in cases {
        let run = ws.xtask(args, None, &[]);
        run.expect(2);
        assert!(
            run.stderr.starts_with("error: "),
            "{args:?}: {}",
            run.stderr
        );
        for want in wants {
            assert!(
                run.stderr.contains(want),
                "{args:?}: {want}: {}",
                run.stderr
            );
        }
    }
    for flag in ["--version", "-V"] {
        let run = ws.xtask(&[flag], None, &[]);
        run.expect(0);
        assert_eq!(
            run.stdout.trim(),
            format!("cargo xtask {}", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn git_describes_the_workspace_whatever_the_environment_says() {
    let ws = fixture("git-env");
    let other = fixture("git-env-other");
    other.write("NOTES", "another commit\n");
    other.commit();
    assert_ne!(ws.head(), other.head());
    let fake = FakeDocker::new();
    let commit_of = |run: &Run| {
        run.stdout
            .split("COMMIT_HASH=")
            .nth(1)
            .map(|r| r[..40].to_string())
    };

    // GIT_DIR pointing at another repository: still this one's HEAD.
    let git_dir = other.root().join(".git");
    let run = ws.xtask(
        &["image", "build", "fix", "--dry-run"],
        Some(fake.bin()),
        &[("GIT_DIR", git_dir.to_str().unwrap())],
    );
    run.expect(0);
    assert_eq!(commit_of(&run), Some(ws.head()));

    // GIT_WORK_TREE pointing at a clean tree does not hide this one's changes.
    ws.write("UNTRACKED", "x\n");
    let run = ws.xtask(
        &["image", "build", "fix", "--dry-run"],
        Some(fake.bin()),
        &[("GIT_WORK_TREE", other.root().to_str().unwrap())],
    );
    run.expect(2);
    assert!(
        run.error_line().contains("uncommitted changes"),
        "{}",
        run.stderr
    );
    std::fs::remove_file(ws.root().join("UNTRACKED")).unwrap();

    // The repository's fsmonitor hook is not run by the tool's git calls.
    let marker = ws.home.path().join("fsmonitor-ran");
    let hook = ws.home.path().join("fsmonitor-hook");
    std::fs::write(
        &hook,
        format!("#!/bin/sh\ntouch '{}'\nexit 1\n", marker.display()),
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    ws.git(&["config", "core.fsmonitor", hook.to_str().unwrap()]);
    let run = ws.xtask(
        &["image", "build", "fix", "--dry-run"],
        Some(fake.bin()),
        &[],
    );
    run.expect(0);
    assert!(!marker.exists(), "the fsmonitor hook ran");
}

#[test]
fn the_documented_makefile_runs_and_leaves_the_tree_clean() {
    if !itwinai_repository() {
        return;
    }
    let ws = fixture("makefile");
    let makefile = doc_block("docs/ci.md", "## From a Makefile", "```make");
    for need in [
        ".PHONY:",
        ".DELETE_ON_ERROR:",
        "XTASK ?= target/debug/xtask",
    ] {
        assert!(makefile.contains(need), "{need}: {makefile}");
    }
    let dir = TempDir::new("makefile-dir");
    let path = dir.path().join("Makefile");
    std::fs::write(&path, &makefile).unwrap();
    let xtask = format!(
        "{} --root {}",
        env!("CARGO_BIN_EXE_xtask"),
        ws.root().display()
    );
    let make = |target: &str, extra: &[&str]| {
        let mut cmd = std::process::Command::new("make");
        cmd.args(["-s", "-f"])
            .arg(&path)
            .arg("-C")
            .arg(ws.root())
            .arg(target)
            .arg(format!("XTASK={xtask}"))
            .arg("CARGO=true")
            .arg("FLAVOUR=fix")
            .args(extra);
        Run::from(pinned(cmd, ws.home.path()).output().unwrap())
    };
    let run = make("list", &[]);
    run.expect(0);
    let doc = xtask::support::json::Json::parse(run.stdout.trim()).expect("list prints JSON");
    assert_eq!(
        doc.as_array().map(|rows| rows.len()),
        Some(1),
        "{}",
        run.stdout
    );
    assert_eq!(
        ws.git(&["status", "--porcelain"]),
        "",
        "the work tree stays clean"
    );
    // The development chain, as make would run it.
    let run = make("push-dev", &["-n"]);
    run.expect(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let bin = &xtask;
    assert_eq!(
        lines,
        [
            "true build -q -p xtask".to_string(),
            format!("{bin} image build --dev fix"),
            format!("{bin} image test --dev fix"),
            format!("{bin} image push --dev fix"),
        ]
    );
}

#[test]
fn check_lists_every_problem_at_once_and_runs_no_docker() {
    let ws = fixture("check");
    let fake = FakeDocker::new();
    let run = ws.xtask(&["check"], Some(fake.bin()), &[]);
    run.expect(0);
    assert!(run.stderr.contains("no problem"), "{}", run.stderr);

    ws.write(
        "env-files/images.toml",
        &format!(
            "registry = \"{REG}\"\nproduction = \"itwinai\"\ndevelopment = \"itwinai-dev\"\ncolour = \"blue\"\n\n\
             [flavours.fix]\ndockerfile = \"env-files/fix/Dockerfile\"\nframework = \"pytorch\"\nframework-version = \"2.6\"\ndistro = \"jammy\"\n\n\
             [flavours.other]\ndockerfile = \"env-files/fix/Dockerfile\"\nframework = \"tf\"\nframework-version = \"2.16\"\ndistro = \"Jammy\"\n\n\
             [flavours.third]\ndockerfile = \"env-files/third/Dockerfile\"\nframework = \"torch\"\nframework-version = \"2.6\"\ndistro = \"noble\"\n"
        ),
    );
    // A Dockerfile that records no provenance.
    ws.write("env-files/third/Dockerfile", &format!("FROM {BASE}\n"));
    let run = ws.xtask(&["check"], Some(fake.bin()), &[]);
    run.expect(2);
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    let want = [
        "error: env-files/images.toml:4: unknown key 'colour'",
        "error: env-files/images.toml:8: flavour 'fix': 'framework' is 'pytorch'",
        "error: env-files/images.toml:16: flavour 'other': 'distro'",
        "error: env-files/third/Dockerfile:1: ",
        "error: 4 problems found (above)",
    ];
    assert_eq!(errors.len(), want.len(), "{}", run.stderr);
    for (line, want) in errors.iter().zip(want) {
        assert!(
            line.starts_with(want),
            "{line:?} should start with {want:?}:\n{}",
            run.stderr
        );
    }
    // The tree is dirty now: a warning, not a problem.
    assert!(
        run.stderr
            .contains("warning: the working tree has uncommitted changes"),
        "{}",
        run.stderr
    );
    assert_eq!(fake.calls(), Vec::<String>::new(), "no docker command");
}

#[test]
fn a_repository_of_another_user_names_safe_directory() {
    let ws = fixture("dubious");
    let fake = FakeDocker::new();
    // Owned by another user: git refuses it (the tests run as root in CI,
    // where chown works; elsewhere the case cannot be made).
    let chown = std::process::Command::new("chown")
        .args(["-R", "12345"])
        .arg(ws.root())
        .status();
    if !chown.is_ok_and(|s| s.success()) {
        eprintln!("{}: SKIPPED: chown needs root", test_name());
        return;
    }
    let run = ws.xtask(
        &["image", "build", "fix", "--dry-run"],
        Some(fake.bin()),
        &[],
    );
    run.expect(2);
    let line = run.error_line();
    assert!(
        line.contains("owned by another user")
            && line.contains(&format!(
                "git config --global --add safe.directory {}",
                ws.root().display()
            )),
        "{line}"
    );
    assert_eq!(fake.calls(), Vec::<String>::new());
}

/// The binary, run without `--root` from `dir`.
fn xtask_in(dir: &std::path::Path, home: &std::path::Path, args: &[&str]) -> Run {
    let mut cmd = pinned(
        std::process::Command::new(env!("CARGO_BIN_EXE_xtask")),
        home,
    );
    cmd.args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null());
    Run::from(cmd.output().unwrap())
}

/// Without `--root`, the project is the nearest directory, from the
/// current one upward, that holds env-files/images.toml: one binary
/// describes whichever checkout or worktree it is run in.
#[test]
fn the_project_is_found_from_the_current_directory() {
    let ws = fixture("found");
    let home = ws.home.path();
    let run = xtask_in(&ws.root().join("env-files"), home, &["version"]);
    run.expect(0);
    assert_eq!(run.stdout.trim(), "0.2.2");

    // A second worktree of the same repository, at another version.
    let other = TempDir::new("found-worktree");
    let second = other.path().join("second");
    ws.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "second",
        second.to_str().unwrap(),
    ]);
    let pyproject = second.join("pyproject.toml");
    let text = std::fs::read_to_string(&pyproject).unwrap();
    std::fs::write(
        &pyproject,
        text.replace("version = \"0.2.2\"", "version = \"0.3.0\""),
    )
    .unwrap();
    let git = |args: &[&str]| {
        let mut cmd = pinned(std::process::Command::new("git"), home);
        let out = cmd.args(args).current_dir(&second).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    git(&["commit", "-q", "-am", "0.3.0"]);
    let second_head = git(&["rev-parse", "HEAD"]);
    assert_ne!(second_head, ws.head());

    // Each worktree describes itself: its version and its HEAD.
    for (dir, version, head) in [
        (ws.root().to_path_buf(), "0.2.2", ws.head()),
        (second.join("env-files/fix"), "0.3.0", second_head.clone()),
    ] {
        let run = xtask_in(&dir, home, &["image", "list", "--json"]);
        run.expect(0);
        let dev = format!("{REG}/itwinai-dev:{version}-torch2.6-jammy-{}", &head[..12]);
        assert!(
            run.stdout.contains(&dev),
            "{}: {}",
            dir.display(),
            run.stdout
        );
    }

    // Outside a project: one line saying so and how to point at one.
    let nowhere = TempDir::new("found-nowhere");
    let run = xtask_in(nowhere.path(), home, &["image", "list"]);
    run.expect(2);
    let line = run.error_line();
    assert!(
        line.contains("is not inside a project")
            && line.contains("env-files/images.toml")
            && line.contains("--root DIR"),
        "{line}"
    );
    // --root still names any project from anywhere.
    let mut cmd = pinned(
        std::process::Command::new(env!("CARGO_BIN_EXE_xtask")),
        home,
    );
    let out = cmd
        .arg("--root")
        .arg(&second)
        .arg("version")
        .current_dir(nowhere.path())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0.3.0");
}

/// What the adoption section says to copy, as git lists it here (tracked
/// and new files; no build output).
fn tool_files(repo: &std::path::Path) -> Vec<String> {
    let out = std::process::Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
            "--",
        ])
        .args(["Cargo.toml", "Cargo.lock", ".cargo", "xtask"])
        .current_dir(repo)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .split('\0')
        .filter(|f| !f.is_empty() && repo.join(f).is_file())
        .map(str::to_string)
        .collect()
}

/// The tool copied into another project's repository (its own pyproject,
/// catalog, one Dockerfile converted and one not yet, its own README and no
/// CI): `cargo test --workspace --locked` passes there, the engine tests
/// skipped, the checks of itwinai's own files saying they do not apply.
#[test]
fn the_tool_copied_into_another_repository_passes_its_tests() {
    if std::env::var_os("XTASK_COPY_TEST_NESTED").is_some() {
        eprintln!("{}: SKIPPED inside the copy it makes", test_name());
        return;
    }
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    let adopter = TempDir::new("adopter");
    let root = adopter.path();
    let files = tool_files(here);
    assert!(files.iter().any(|f| f == "Cargo.lock"), "{files:?}");
    for f in &files {
        let to = root.join(f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(here.join(f), &to).unwrap();
    }
    let project: [(&str, String); 5] = [
        ("pyproject.toml", "[project]\nname = \"demo\"\nversion = \"1.0.0\"\n".into()),
        (
            "env-files/images.toml",
            catalog(REG, "")
                + "\n[flavours.legacy]\ndockerfile = \"env-files/legacy/Dockerfile\"\nframework = \"tf\"\nframework-version = \"2.16\"\ndistro = \"jammy\"\n",
        ),
        ("env-files/fix/Dockerfile", dockerfile(BASE)),
        // Not converted yet: no provenance.
        ("env-files/legacy/Dockerfile", format!("FROM {BASE}\n")),
        ("README.md", "# demo\n\nOur own README.\n".into()),
    ];
    for (rel, text) in &project {
        let to = root.join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(to, text).unwrap();
    }
    let home = TempDir::new("adopter-home");
    let git = |args: &[&str]| {
        let out = pinned(std::process::Command::new("git"), home.path())
            .args(args)
            .current_dir(root)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "adopt the xtask"]);

    // Its own target directory, kept between runs (a cold build once).
    let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("adopter-target");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    // --show-output: what the tests that do not apply there say.
    cmd.args([
        "test",
        "--workspace",
        "--locked",
        "--offline",
        "--",
        "--show-output",
    ])
    .current_dir(root)
    .env_remove("CARGO_MANIFEST_DIR")
    .env_remove("CARGO_PKG_NAME")
    .env("CARGO_TARGET_DIR", &target)
    // The engine tests are skipped there (they ran here): no engine
    // answers, and XTASK_DOCKER_TESTS=skip lets them say SKIPPED.
    .env("XTASK_DOCKER_TESTS", "skip")
    .env("DOCKER_HOST", "unix:///nonexistent/xtask-copy-test.sock")
    .env("XTASK_COPY_TEST_NESTED", "1")
    .env("HOME", std::env::var_os("HOME").unwrap_or_default())
    .stdin(std::process::Stdio::null());
    let run = Run::from(cmd.output().unwrap());
    let all = format!("{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.code, Some(0), "cargo test in the copy:\n{all}");
    assert!(!all.contains("FAILED"), "{all}");
    let passed: usize = run
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("test result: ok. "))
        .filter_map(|l| l.split(' ').next()?.parse::<usize>().ok())
        .sum();
    assert!(passed > 100, "{passed} tests passed:\n{all}");
    // itwinai's own files are not checked there, and say so; the engine
    // tests say they were skipped.
    assert!(
        all.contains("shipped_release_tags_and_aliases: does not apply"),
        "{all}"
    );
    assert!(all.contains("SKIPPED"), "{all}");
    // The copy's tool works on the copy's project: the unconverted
    // flavour is listed, marked, and the converted one is usable.
    let bin = target.join("debug/xtask");
    let out = pinned(std::process::Command::new(bin), home.path())
        .args(["image", "list", "--json"])
        .current_dir(root.join("env-files"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("\"flavour\":\"legacy\""), "{stdout}");
    assert!(stdout.contains("\"problem\":null"), "{stdout}");
}

/// A relative XDG_CACHE_HOME is ignored as the XDG spec says, and said so
/// once: the cache goes under $HOME/.cache, not under the relative folder.
#[test]
fn a_relative_cache_home_is_ignored_and_said_so_once() {
    let ws = fixture("rel-cache");
    let fake = FakeDocker::new();
    let run = ws.xtask(
        &["image", "build", "fix", "--dry-run"],
        Some(fake.bin()),
        &[("XDG_CACHE_HOME", "rel-cache-dir")],
    );
    run.expect(0);
    let said: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning: XDG_CACHE_HOME=rel-cache-dir is not an absolute path"))
        .collect();
    assert_eq!(said.len(), 1, "{}", run.stderr);
    assert!(!ws.root().join("rel-cache-dir").exists());
}
