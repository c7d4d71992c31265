//! Variants, tag formats and the test gate against a real engine and a real
//! registry on 127.0.0.1: the upstream image set (skinny, slim, jlab-slim)
//! built, tested and published under the names its tag formats make; a
//! failing `test` publishes and promotes nothing; a recorded pass is reused
//! for the same image ID only; `--dry-run` shows the gate; `dev-hash-length`.

use crate::support::*;
use xtask::support::json::Json;

const OCI: &str = "org.opencontainers.image";

/// The echo of the test step (`Step::Test`) of a python3 test, up to the
/// image ID: the program is the container's process, not the image's
/// entrypoint's argument.
const TEST_RUN: &str =
    "+ docker run --rm --network none --pull never --entrypoint=python3 -- sha256:";

/// The program [`PASSING`] gives python3.
const PROGRAM: &str = "import importlib.metadata as m; assert m.version('torch').startswith('2.6')";

/// A test that runs the image's own python3 and passes: torch 2.6 is there.
/// (The option is a TOML literal string: `tidy::no_shell_in_the_sources`
/// refuses a double-quoted dash-c anywhere but the tool's probe.)
const PASSING: &str = r#"["python3", '-c', "import importlib.metadata as m; assert m.version('torch').startswith('2.6')"]"#;

/// [`PASSING`]'s arguments after its program, as the tool prints them
/// (shell-quoted).
const PASSING_SHOWN: &str = r#"-c 'import importlib.metadata as m; assert m.version('\''torch'\'').startswith('\''2.6'\'')'"#;

/// The standard one-flavour catalog (`fix`, alias `fix-latest`) with `test`.
fn fix_with_test(host: &str, test: &str) -> String {
    catalog(host, &format!("test = {test}\n"))
}

fn json(text: &str) -> Vec<Json> {
    Json::parse(text.trim())
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
        .as_array()
        .unwrap_or_else(|| panic!("not a JSON array:\n{text}"))
        .to_vec()
}

fn s<'a>(row: &'a Json, key: &str) -> &'a str {
    row.get(key)
        .and_then(Json::as_str)
        .unwrap_or_else(|| panic!("no string {key:?} in {row:?}"))
}

/// The lines of stderr that echo the test step, without the container
/// name the executor gives each run (`--name xtask-PID-RANDOM-N`).
fn test_runs(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .map(without_container_name)
        .filter(|l| l.starts_with(TEST_RUN))
        .collect()
}

fn without_container_name(line: &str) -> String {
    match line.find(" --name ") {
        Some(i) => {
            let rest = &line[i + " --name ".len()..];
            let end = rest.find(' ').unwrap_or(rest.len());
            format!("{}{}", &line[..i], &rest[end..])
        }
        None => line.to_string(),
    }
}

#[test]
fn the_upstream_image_set_is_built_tested_and_published_by_name() {
    let Some(EngineTest { registry, base, ws }) = EngineTest::start("var-set", JAMMY) else {
        return;
    };
    let host = registry.host();
    let variant_format = "{version}-{variant}-{framework}{framework-version}-{distro}";
    let jlab_format = "jlab-{variant}-{version}-{framework}{framework-version}-{distro}";
    let flavour = |name: &str, extra: &str| {
        format!(
            "\n[flavours.{name}]\ndockerfile = \"env-files/fix/Dockerfile\"\nframework = \"torch\"\n\
             framework-version = \"2.6\"\ndistro = \"jammy\"\n{extra}test = {PASSING}\n"
        )
    };
    let catalog = format!(
        "registry = \"{host}\"\nproduction = \"itwinai\"\ndevelopment = \"itwinai-dev\"\n{}{}{}",
        flavour(
            "skinny",
            &format!("variant = \"skinny\"\ntag-format = \"{variant_format}\"\nlatest = \"torch-skinny-latest\"\n")
        ),
        flavour(
            "slim",
            &format!("variant = \"slim\"\ntag-format = \"{variant_format}\"\nlatest = \"torch-slim-latest\"\n")
        ),
        flavour(
            "jlab-slim",
            &format!("jupyterlab = true\nvariant = \"slim\"\ntag-format = \"{jlab_format}\"\nlatest = \"jlab-slim-latest\"\n")
        ),
    );
    ws.write("env-files/images.toml", &catalog);
    ws.commit();
    // (flavour, variant, format, release tag, alias)
    let set = [
        (
            "skinny",
            "skinny",
            variant_format,
            "0.2.2-skinny-torch2.6-jammy",
            "torch-skinny-latest",
        ),
        (
            "slim",
            "slim",
            variant_format,
            "0.2.2-slim-torch2.6-jammy",
            "torch-slim-latest",
        ),
        (
            "jlab-slim",
            "slim",
            jlab_format,
            "jlab-slim-0.2.2-torch2.6-jammy",
            "jlab-slim-latest",
        ),
    ];
    let name = |tag: &str| format!("{host}/itwinai:{tag}");
    let mut names: Vec<String> = set.iter().flat_map(|f| [name(f.3), name(f.4)]).collect();
    names.push(base.clone());
    let _cleanup = Cleanup::new(&names.iter().map(String::as_str).collect::<Vec<_>>());

    // The catalog, as list shows it.
    let run = ws.xtask(&["image", "list", "--json"], None, &[]);
    run.expect(0);
    let rows = json(&run.stdout);
    assert_eq!(rows.len(), 3, "{}", run.stdout);
    for (row, (flavour, variant, format, tag, alias)) in rows.iter().zip(&set) {
        assert_eq!(s(row, "flavour"), *flavour, "{row:?}");
        assert_eq!(s(row, "variant"), *variant, "{row:?}");
        assert_eq!(s(row, "tag_format"), *format, "{row:?}");
        assert_eq!(s(row, "reference"), name(tag), "{row:?}");
        assert_eq!(s(row, "latest"), name(alias), "{row:?}");
        assert_eq!(
            s(row, "dev_reference"),
            format!("{host}/itwinai-dev:{tag}-{}", &ws.head()[..12]),
            "{row:?}"
        );
        let test = row.get("test").map(Json::strings).unwrap_or_default();
        assert_eq!(test.len(), 3, "{row:?}");
        assert_eq!(test.join(" "), format!("python3 -c {PROGRAM}"), "{row:?}");
    }

    // Built under the names the formats make.
    ws.xtask(&["image", "build", "--all"], None, &[]).expect(0);
    let ids: Vec<String> = set.iter().map(|f| image_id(&name(f.3))).collect();
    for (f, id) in set.iter().zip(&ids) {
        assert!(
            labels(&name(f.3)).contains(&(format!("{OCI}.ref.name"), name(f.3))),
            "{id}"
        );
    }

    // Each test runs in its own image, once, and passes.
    let run = ws.xtask(&["image", "test", "--all", "--json"], None, &[]);
    run.expect(0);
    let rows = json(&run.stdout);
    assert_eq!(rows.len(), 3, "{}", run.stdout);
    for ((row, f), id) in rows.iter().zip(&set).zip(&ids) {
        assert_eq!(s(row, "flavour"), f.0, "{row:?}");
        assert_eq!(s(row, "reference"), name(f.3), "{row:?}");
        assert_eq!(s(row, "status"), "passed", "{row:?}");
        assert_eq!(row.get("exit_code"), Some(&Json::Number(0.0)), "{row:?}");
        assert_eq!(s(row, "image_id"), id.as_str(), "{row:?}");
    }
    let mut ran: Vec<String> = test_runs(&run.stderr);
    ran.sort();
    let mut want: Vec<String> = ids
        .iter()
        .map(|id| format!("+ docker run --rm --network none --pull never --entrypoint=python3 -- {id} {PASSING_SHOWN}"))
        .collect();
    want.sort();
    assert_eq!(ran, want, "{}", run.stderr);

    // Published: exactly the three release tags and their three aliases.
    let run = ws.xtask(&["image", "push", "--all", "--latest"], None, &[]);
    run.expect(0);
    assert!(test_runs(&run.stderr).is_empty(), "{}", run.stderr);
    let mut want: Vec<&str> = set.iter().flat_map(|f| [f.3, f.4]).collect();
    want.sort();
    assert_eq!(registry.tags("itwinai"), want);
    assert_eq!(registry.tags("itwinai-dev"), Vec::<String>::new());
    for (f, id) in set.iter().zip(&ids) {
        let release = registry.digest("itwinai", f.3).expect("release tag served");
        assert_eq!(
            registry.digest("itwinai", f.4).as_deref(),
            Some(release.as_str()),
            "{} points at {}",
            f.4,
            f.3
        );
        assert_eq!(
            registry.config_digest("itwinai", f.3).as_ref(),
            Some(id),
            "{} serves the image built for {}",
            f.3,
            f.0
        );
    }
    // Three images, one per flavour (same layers, other labels).
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "{ids:?}");
    assert!(
        ids.iter()
            .all(|id| image_layers(id) == image_layers(&ids[0])),
        "{ids:?}"
    );
}

#[test]
fn a_failing_test_publishes_nothing() {
    let Some(EngineTest { registry, base, ws }) =
        EngineTest::start_with("var-fail", JAMMY, |host| {
            fix_with_test(host, "['python3', '-c', 'raise SystemExit(3)']")
        })
    else {
        return;
    };
    let host = registry.host();
    let reference = format!("{host}/itwinai:0.2.2-torch2.6-jammy");
    let alias = format!("{host}/itwinai:fix-latest");
    let dev = format!(
        "{host}/itwinai-dev:0.2.2-torch2.6-jammy-{}",
        &ws.head()[..12]
    );
    let _cleanup = Cleanup::new(&[&reference, &alias, &dev, &base]);

    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    let id = image_id(&reference);

    // image test: exit 1, naming the flavour, the reference and the status.
    let run = ws.xtask(&["image", "test", "fix"], None, &[]);
    run.expect(1);
    let line = run.error_line();
    assert!(
        line.contains(&format!(
            "the test of flavour 'fix' failed on {reference} ({id}): exit status 3"
        )),
        "{line}"
    );
    assert_eq!(test_runs(&run.stderr).len(), 1, "{}", run.stderr);
    let run = ws.xtask(&["image", "test", "fix", "--json"], None, &[]);
    run.expect(1);
    let rows = json(&run.stdout);
    assert_eq!(rows.len(), 1, "{}", run.stdout);
    assert_eq!(s(&rows[0], "status"), "failed");
    assert_eq!(rows[0].get("exit_code"), Some(&Json::Number(3.0)));

    // image push --latest: no pass recorded, so the test runs, and fails.
    let run = ws.xtask(&["image", "push", "fix", "--latest"], None, &[]);
    run.expect(1);
    let line = run.error_line();
    assert!(
        line.contains(&format!(
            "the test of flavour 'fix' failed on {reference} ({id})"
        )) && line.contains("exited with status 3"),
        "{line}"
    );
    assert_eq!(
        test_runs(&run.stderr),
        [format!(
            "+ docker run --rm --network none --pull never --entrypoint=python3 -- {id} -c 'raise SystemExit(3)'"
        )],
        "{}",
        run.stderr
    );
    assert!(!wrote_to_registry(&run.stderr), "{}", run.stderr);
    assert_eq!(registry.tags("itwinai"), Vec::<String>::new());
    assert!(!docker_ok(&["image", "inspect", &alias]), "no local alias");

    // image tag --from the dev image: a development push publishes it (no
    // test gate there) with no evidence, since its test failed here; the
    // promotion reads the registry, finds no pass and promotes nothing. It
    // runs no test itself: any runner may promote what another tested.
    ws.xtask(&["image", "build", "fix", "--dev"], None, &[])
        .expect(0);
    let dev_id = image_id(&dev);
    let run = ws.xtask(&["image", "push", "fix", "--dev"], None, &[]);
    run.expect(0);
    assert_eq!(
        registry.config_digest("itwinai-dev", &dev[dev.rfind(':').unwrap() + 1..]),
        Some(dev_id.clone())
    );
    let run = ws.xtask(&["image", "tag", "fix", "--from", &dev], None, &[]);
    run.expect(1);
    let line = run.error_line();
    assert!(
        line.contains(&format!(
            "no evidence that the test of flavour 'fix' passed on {host}/itwinai-dev@sha256:"
        )) && line.contains(&format!("({dev_id})"))
            && line.contains("nothing was promoted"),
        "{line}"
    );
    assert_eq!(test_runs(&run.stderr).len(), 0, "{}", run.stderr);
    assert!(!run.stderr.contains("+ docker build "), "{}", run.stderr);
    assert_eq!(registry.tags("itwinai"), Vec::<String>::new());
    assert_eq!(
        registry.all_tags("itwinai-dev").len(),
        1,
        "no evidence written"
    );
}

#[test]
fn a_recorded_pass_is_reused() {
    let Some(EngineTest { registry, base, ws }) =
        EngineTest::start_with("var-reuse", JAMMY, |host| fix_with_test(host, PASSING))
    else {
        return;
    };
    let reference = format!("{}/itwinai:0.2.2-torch2.6-jammy", registry.host());
    let _cleanup = Cleanup::new(&[&reference, &base]);

    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    let id1 = image_id(&reference);
    let layers1 = image_layers(&reference);
    let run = ws.xtask(&["image", "test", "fix"], None, &[]);
    run.expect(0);
    assert_eq!(
        test_runs(&run.stderr),
        [format!(
            "+ docker run --rm --network none --pull never --entrypoint=python3 -- {id1} {PASSING_SHOWN}"
        )],
        "{}",
        run.stderr
    );

    // The pass of this image ID is recorded: push runs no test container.
    let run = ws.xtask(&["image", "push", "fix"], None, &[]);
    run.expect(0);
    assert!(test_runs(&run.stderr).is_empty(), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "test of flavour 'fix' passed before on {reference} ({id1})"
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("+ docker save "), "{}", run.stderr);
    let first = registry.digest("itwinai", "0.2.2-torch2.6-jammy").unwrap();

    // 100 s later: another CREATION_DATE, so another image ID, same layers.
    ws.xtask(
        &["image", "build", "fix"],
        None,
        &[("SOURCE_DATE_EPOCH", "1700000100")],
    )
    .expect(0);
    let id2 = image_id(&reference);
    assert_ne!(id1, id2, "the labels changed");
    assert_eq!(image_layers(&reference), layers1, "the layers did not");

    // The release tag holds the first image: refused without --force, and
    // refused before the gate (no test runs for a push that cannot happen).
    let run = ws.xtask(&["image", "push", "fix"], None, &[]);
    run.expect(1);
    assert!(
        run.error_line()
            .contains("is already published with other content"),
        "{}",
        run.stderr
    );
    assert!(test_runs(&run.stderr).is_empty(), "{}", run.stderr);

    // With --force: the pass was by image ID, so the test runs again.
    let run = ws.xtask(&["image", "push", "fix", "--force"], None, &[]);
    run.expect(0);
    assert_eq!(
        test_runs(&run.stderr),
        [format!(
            "+ docker run --rm --network none --pull never --entrypoint=python3 -- {id2} {PASSING_SHOWN}"
        )],
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("passed before"), "{}", run.stderr);
    let second = registry.digest("itwinai", "0.2.2-torch2.6-jammy").unwrap();
    assert_ne!(first, second);
    assert_eq!(
        registry.config_digest("itwinai", "0.2.2-torch2.6-jammy"),
        Some(id2.clone())
    );
}

#[test]
fn push_dry_run_shows_the_test_gate() {
    let Some(EngineTest { registry, base, ws }) =
        EngineTest::start_with("var-dry", JAMMY, |host| fix_with_test(host, PASSING))
    else {
        return;
    };
    let reference = format!("{}/itwinai:0.2.2-torch2.6-jammy", registry.host());
    let alias = format!("{}/itwinai:fix-latest", registry.host());
    let _cleanup = Cleanup::new(&[&reference, &alias, &base]);
    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    let id = image_id(&reference);

    let run = ws.xtask(&["image", "push", "fix", "--dry-run"], None, &[]);
    run.expect(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let gate = format!(
        "# check that the test of flavour 'fix' passed on {reference}: recorded for its image ID, else run now"
    );
    let at = lines
        .iter()
        .position(|l| *l == gate)
        .unwrap_or_else(|| panic!("no line {gate:?} in:\n{}", run.stdout));
    assert_eq!(
        lines.get(at + 1).copied(),
        Some(
            format!("docker run --rm --name '<container name>' --network none --pull never --entrypoint=python3 -- {id} {PASSING_SHOWN}").as_str()
        ),
        "{}",
        run.stdout
    );
    let push = lines
        .iter()
        .position(|l| l.starts_with(&format!("# write the image {id} into ")))
        .unwrap_or_else(|| panic!("no write of the image in:\n{}", run.stdout));
    assert!(at < push, "the gate comes first:\n{}", run.stdout);
    // Nothing ran that changes anything, and no test container.
    assert!(test_runs(&run.stderr).is_empty(), "{}", run.stderr);
    assert!(!wrote_to_registry(&run.stderr), "{}", run.stderr);
    assert_eq!(registry.tags("itwinai"), Vec::<String>::new());

    // Nor was a pass recorded: the real push runs the test.
    let run = ws.xtask(&["image", "push", "fix"], None, &[]);
    run.expect(0);
    assert_eq!(test_runs(&run.stderr).len(), 1, "{}", run.stderr);
    assert_eq!(registry.tags("itwinai"), ["0.2.2-torch2.6-jammy"]);
}

#[test]
fn dev_tags_use_dev_hash_length() {
    let Some(EngineTest { registry, base, ws }) =
        EngineTest::start_with("var-hash", JAMMY, |host| {
            format!("dev-hash-length = 40\n{}", fix_with_test(host, PASSING))
        })
    else {
        return;
    };
    let head = ws.head();
    assert_eq!(head.len(), 40);
    let tag = format!("0.2.2-torch2.6-jammy-{head}");
    let dev = format!("{}/itwinai-dev:{tag}", registry.host());
    let short = format!(
        "{}/itwinai-dev:0.2.2-torch2.6-jammy-{}",
        registry.host(),
        &head[..12]
    );
    let _cleanup = Cleanup::new(&[&dev, &short, &base]);

    let run = ws.xtask(&["image", "list", "--json"], None, &[]);
    run.expect(0);
    assert_eq!(s(&json(&run.stdout)[0], "dev_reference"), dev);

    ws.xtask(&["image", "build", "fix", "--dev"], None, &[])
        .expect(0);
    assert!(docker_ok(&["image", "inspect", &dev]), "{dev} was built");
    assert!(!docker_ok(&["image", "inspect", &short]), "no 12-hex tag");
    assert!(labels(&dev).contains(&(format!("{OCI}.ref.name"), dev.clone())));
    assert!(labels(&dev).contains(&(format!("{OCI}.revision"), head.clone())));

    // push --dev finds it under the same name.
    ws.xtask(&["image", "push", "fix", "--dev"], None, &[])
        .expect(0);
    assert_eq!(registry.tags("itwinai-dev"), [tag.as_str()]);
    assert_eq!(registry.tags("itwinai"), Vec::<String>::new());
}

#[test]
fn a_stopped_test_leaves_no_container() {
    let sleeping = r#"["python3", '-c', "import time; time.sleep(60)"]"#;
    let Some(EngineTest { registry, base, ws }) =
        EngineTest::start_with("var-stop", JAMMY, |host| fix_with_test(host, sleeping))
    else {
        return;
    };
    let reference = format!("{}/itwinai:0.2.2-torch2.6-jammy", registry.host());
    let _cleanup = Cleanup::new(&[&reference, &base]);
    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    // SIGINT exits 130, SIGTERM 143; neither leaves the test's container.
    for (signal, code) in [("-INT", 130), ("-TERM", 143)] {
        let mut cmd = ws.xtask_command(&["image", "test", "fix", "--json"], None);
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let child = cmd.spawn().unwrap();
        let pid = child.id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while containers_of(pid).is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "the test's container never started"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let sent = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let run = Run::from(child.wait_with_output().unwrap());
        run.expect(code);
        assert!(run.error_line().contains("interrupted"), "{}", run.stderr);
        assert_eq!(containers_of(pid), Vec::<String>::new(), "{}", run.stderr);
        // --json: the interrupted test's row, failed, with the error.
        let rows = json(&run.stdout);
        assert_eq!(rows.len(), 1, "{}", run.stdout);
        assert_eq!(s(&rows[0], "status"), "failed", "{}", run.stdout);
        assert!(
            s(&rows[0], "error").contains("interrupted"),
            "{}",
            run.stdout
        );
    }
}

/// A test runs as the container's process, without the image's ENTRYPOINT
/// (a JupyterLab image's start scripts, NVIDIA's banner script), as a CI
/// runs tests in the image; `test-entrypoint = true` runs it through the
/// entrypoint instead, and `test-network = "default"` gives it the engine's
/// default network instead of none.
#[test]
fn a_test_runs_without_the_image_entrypoint_unless_asked() {
    let Some(EngineTest { registry, base, ws }) =
        EngineTest::start_with("var-entrypoint", JAMMY, |host| fix_with_test(host, PASSING))
    else {
        return;
    };
    let reference = format!("{}/itwinai:0.2.2-torch2.6-jammy", registry.host());
    let _cleanup = Cleanup::new(&[&reference, &base]);
    // An entrypoint that fails whatever it is given.
    let dockerfile = std::fs::read_to_string(ws.root().join("env-files/fix/Dockerfile")).unwrap();
    ws.write(
        "env-files/fix/Dockerfile",
        &format!("{dockerfile}ENTRYPOINT [\"python3\", \"-m\", \"no_such_module_xtask\"]\n"),
    );
    ws.commit();
    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    let run = ws.xtask(&["image", "test", "fix"], None, &[]);
    run.expect(0);
    assert_eq!(test_runs(&run.stderr).len(), 1, "{}", run.stderr);

    // Through the entrypoint: the entrypoint's failure is the test's.
    let catalog = std::fs::read_to_string(ws.root().join("env-files/images.toml")).unwrap();
    ws.write(
        "env-files/images.toml",
        &format!("{catalog}test-entrypoint = true\ntest-network = \"default\"\n"),
    );
    ws.commit();
    let run = ws.xtask(&["image", "test", "fix", "--dry-run"], None, &[]);
    run.expect(0);
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("docker run "))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    let line = line.replace(" --name '<container name>'", "");
    assert!(
        line.starts_with("docker run --rm --pull never -- sha256:")
            && line.ends_with(PASSING_SHOWN),
        "no --network none, no --entrypoint, the whole argv after the image: {line}"
    );
    assert!(line.contains(" python3 -c "), "{line}");
    let run = ws.xtask(&["image", "test", "fix"], None, &[]);
    run.expect(1);
    assert!(
        run.error_line()
            .contains("the test of flavour 'fix' failed"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("no_such_module_xtask"),
        "{}",
        run.stderr
    );
}
