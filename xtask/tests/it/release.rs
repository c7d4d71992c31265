//! The release routine against a real engine and a real registry on
//! 127.0.0.1: push, no clobbering, the -latest budget, promotion without
//! rebuild, and a registry that goes away in the middle of a push.

use crate::support::*;
use xtask::support::json::Json;

/// The catalog of two flavours, fix (alias fix-latest) and other (no
/// alias), on the registry `host`.
fn two_flavours(host: &str) -> String {
    let other = "\n[flavours.other]\ndockerfile = \"env-files/fix/Dockerfile\"\nframework = \"tf\"\nframework-version = \"2.16\"\ndistro = \"jammy\"\n";
    catalog(host, "") + other
}

/// The lines of a `--dry-run` listing that would change something (not the
/// `#` comments: read-only steps and checks).
fn changes(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

fn field<'a>(json: &'a str, key: &str) -> Vec<&'a str> {
    json.split(&format!("\"{key}\":"))
        .skip(1)
        .map(|rest| rest.split([',', '}']).next().unwrap().trim_matches('"'))
        .collect()
}

/// A test of flavours not all built names the build of the missing ones
/// only, and nothing of how a promoted release's alias moves (a push's
/// concern).
#[test]
fn a_test_of_an_unbuilt_flavour_names_its_build_only() {
    let test = "test = [\"python3\", \"-c\", \"pass\"]\n";
    let Some(EngineTest { registry, base, ws }) = EngineTest::start_with(
        "rel-unbuilt",
        JAMMY,
        |host| {
            catalog(host, test)
            + "\n[flavours.two]\ndockerfile = \"env-files/fix/Dockerfile\"\nframework = \"tf\"\nframework-version = \"2.16\"\ndistro = \"jammy\"\n"
            + test
        },
    ) else {
        return;
    };
    let fix = format!("{}/itwinai:0.2.2-torch2.6-jammy", registry.host());
    let two = format!("{}/itwinai:0.2.2-tf2.16-jammy", registry.host());
    let _cleanup = Cleanup::new(&[&fix, &two, &base]);
    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    let run = ws.xtask(&["image", "test", "--all"], None, &[]);
    run.expect(1);
    assert_eq!(
        run.error_line(),
        format!(
            "error: not in the local engine: {two}; build first with `cargo xtask image build two`"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn push_is_idempotent_and_never_clobbers_a_release() {
    let Some(EngineTest { registry, base, ws }) = EngineTest::start("rel-push", JAMMY) else {
        return;
    };
    let tag = "0.2.2-torch2.6-jammy";
    let reference = format!("{}/itwinai:{tag}", registry.host());

    // Not built yet: the error names the build command.
    let run = ws.xtask(&["image", "push", "fix"], None, &[]);
    run.expect(1);
    assert!(
        run.error_line()
            .contains("build first with `cargo xtask image build fix`"),
        "{}",
        run.stderr
    );

    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    let run = ws.xtask(&["image", "push", "fix", "--json"], None, &[]);
    run.expect(0);
    let published = registry
        .digest("itwinai", tag)
        .expect("pushed tag is in the registry");
    assert_eq!(field(&run.stdout, "status"), ["pushed"]);
    assert_eq!(field(&run.stdout, "digest"), [published.as_str()]);
    assert_eq!(field(&run.stdout, "latest"), ["null"]);

    // Again: already published, nothing pushed.
    let run = ws.xtask(&["image", "push", "fix", "--json"], None, &[]);
    run.expect(0);
    assert_eq!(field(&run.stdout, "status"), ["already-published"]);
    assert!(!wrote_to_registry(&run.stderr), "{}", run.stderr);

    // Different content under the same release tag: refused, registry untouched.
    ws.write(
        "pyproject.toml",
        &PYPROJECT.replace("[tool.other]", "# changed\n[tool.other]"),
    );
    ws.commit();
    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    let run = ws.xtask(&["image", "push", "fix"], None, &[]);
    run.expect(1);
    assert!(
        run.error_line()
            .contains("is already published with other content"),
        "{}",
        run.stderr
    );
    assert_eq!(registry.digest("itwinai", tag), Some(published.clone()));
    // --force replaces it.
    let run = ws.xtask(&["image", "push", "fix", "--force", "--json"], None, &[]);
    run.expect(0);
    let replaced = registry.digest("itwinai", tag).unwrap();
    assert_ne!(replaced, published);
    assert_eq!(field(&run.stdout, "digest"), [replaced.as_str()]);
    // No alias was created by any of it.
    assert_eq!(registry.tags("itwinai"), [tag]);
    let _ = docker_ok(&["rmi", &reference, &base]);
}

#[test]
fn latest_aliases_follow_the_budget() {
    let Some(EngineTest { registry, base, ws }) =
        EngineTest::start_with("rel-latest", JAMMY, two_flavours)
    else {
        return;
    };
    ws.xtask(&["image", "build", "--all"], None, &[]).expect(0);

    // An undeclared alias and --latest with --dev are refused before anything runs.
    let run = ws.xtask(&["image", "push", "other", "--latest"], None, &[]);
    run.expect(2);
    assert!(run
        .error_line()
        .contains("flavour 'other' declares no 'latest' alias"));
    ws.xtask(&["image", "push", "fix", "--latest", "--dev"], None, &[])
        .expect(2);
    ws.xtask(&["image", "tag", "other", "--latest"], None, &[])
        .expect(2);

    // Exactly the declared alias, pointing at the same manifest.
    ws.xtask(&["image", "push", "fix", "--latest"], None, &[])
        .expect(0);
    assert_eq!(
        registry.tags("itwinai"),
        ["0.2.2-torch2.6-jammy", "fix-latest"]
    );
    assert_eq!(
        registry.digest("itwinai", "fix-latest"),
        registry.digest("itwinai", "0.2.2-torch2.6-jammy")
    );

    // Backwards (0.2.1 after 0.2.2) and pre-release moves are refused.
    for version in ["0.2.1", "0.3.0rc1"] {
        ws.xtask(&["version", "set", version], None, &[]).expect(0);
        ws.commit();
        ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
        let before = registry.digest("itwinai", "fix-latest");
        // A dry run decides it too: the alias's version is read from its
        // config in the registry, with no pull.
        for args in [
            &["image", "push", "fix", "--latest", "--dry-run"][..],
            &["image", "push", "fix", "--latest"][..],
        ] {
            let run = ws.xtask(args, None, &[]);
            run.expect(1);
            let line = run.error_line();
            assert!(
                line.contains("refusing to move") && line.contains("fix-latest"),
                "{args:?}: {line}"
            );
        }
        assert_eq!(
            registry.digest("itwinai", "fix-latest"),
            before,
            "alias untouched"
        );
        let tags = registry.tags("itwinai");
        assert!(
            !tags.iter().any(|t| t.starts_with(version)),
            "nothing pushed: {tags:?}"
        );
    }
    let _ = docker_ok(&["rmi", &base]);
}

/// A test that runs the image's own python3 and passes.
const PASSING: &str = r#"["python3", '-c', "import importlib.metadata as m; assert m.version('torch').startswith('2.6')"]"#;

/// The request lines (`METHOD /path`) of a registry's access log.
fn requests(log: &[String]) -> Vec<String> {
    log.iter()
        .filter_map(|l| {
            let quoted = l.split('"').nth(1)?;
            let mut words = quoted.split_whitespace();
            Some(format!("{} {}", words.next()?, words.next()?))
        })
        .collect()
}

/// A config blob's JSON without its ref.name label.
fn config_but_ref_name(text: &str) -> Json {
    let mut doc = Json::parse(text).unwrap();
    if let Json::Object(top) = &mut doc {
        if let Some(Json::Object(config)) = top.get_mut("config") {
            if let Some(Json::Object(labels)) = config.get_mut("Labels") {
                labels.remove("org.opencontainers.image.ref.name");
            }
        }
    }
    doc
}

/// The promotion of a tested development image that is not in the engine,
/// on a machine whose cache never saw it: gated on the evidence in the
/// registry, written in the registry (mounts, one config, the manifest),
/// no layer read or uploaded, no local image; the release's config is the
/// development one but for ref.name.
#[test]
fn promotion_ships_the_tested_layers() {
    let Some(EngineTest { registry, base, ws }) =
        EngineTest::start_with("rel-promo", JAMMY, |host| {
            catalog(host, &format!("test = {PASSING}\n"))
        })
    else {
        return;
    };
    let tag = format!("0.2.2-torch2.6-jammy-{}", &ws.head()[..12]);
    let dev = format!("{}/itwinai-dev:{tag}", registry.host());
    let prod = format!("{}/itwinai:0.2.2-torch2.6-jammy", registry.host());
    let _cleanup = Cleanup::new(&[&dev, &prod, &base]);
    ws.xtask(&["image", "build", "fix", "--dev"], None, &[])
        .expect(0);
    // Pushed before its test passed: no evidence, and it says so.
    let run = ws.xtask(&["image", "push", "fix", "--dev"], None, &[]);
    run.expect(0);
    assert!(
        run.stderr.contains("no test evidence is written"),
        "{}",
        run.stderr
    );
    ws.xtask(&["image", "test", "fix", "--dev"], None, &[])
        .expect(0);
    ws.xtask(&["image", "push", "fix", "--dev"], None, &[])
        .expect(0);
    let dev_id = image_id(&dev);
    docker(&["rmi", &dev]);
    // Another machine: a cache of its own, so only the registry can say
    // that the test passed.
    let cache = TempDir::new("promo-cache");
    let elsewhere = [("XDG_CACHE_HOME", cache.path().to_str().unwrap())];

    let run = ws.xtask(
        &["image", "tag", "fix", "--from", &dev, "--dry-run"],
        None,
        &elsewhere,
    );
    run.expect(0);
    assert!(
        changes(&run.stdout).is_empty(),
        "no command writes:\n{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("evidence in the registry")
            && run.stdout.contains(" blobs mounted from "),
        "{}",
        run.stdout
    );
    assert_eq!(registry.digest("itwinai", "0.2.2-torch2.6-jammy"), None);

    let before = registry.access_log().len();
    let run = ws.xtask(
        &["image", "tag", "fix", "--from", &dev, "--json"],
        None,
        &elsewhere,
    );
    run.expect(0);
    assert!(run.stderr.contains("evidence recorded"), "{}", run.stderr);
    let log = requests(&registry.access_log()[before..]);
    // Blobs: only configs and the evidence are read; only the new config
    // and the evidence are uploaded; every layer is mounted.
    let layers = image_layers_in(&registry, "itwinai-dev", &tag);
    for l in &layers {
        assert!(
            !log.iter()
                .any(|r| r.starts_with("GET ") && r.contains(l.as_str())),
            "{l} read: {log:?}"
        );
        assert!(
            log.iter().any(|r| r.starts_with("POST ")
                && r.contains(&format!("mount={}", l.replace(':', "%3A")))),
            "{l} not mounted: {log:?}"
        );
    }
    let uploads = log
        .iter()
        .filter(|r| r.starts_with("PUT ") && r.contains("/blobs/uploads/"))
        .count();
    assert!(
        uploads <= 3,
        "the config, the evidence and its empty config at most: {log:?}"
    );
    // The release's config differs from the development one in ref.name alone.
    let release_config = registry
        .config_digest("itwinai", "0.2.2-torch2.6-jammy")
        .unwrap();
    assert_ne!(release_config, dev_id);
    // No local image: neither the release's name nor its ID, nor the
    // development image pulled back.
    for local in [&prod, &release_config, &dev_id, &dev] {
        assert!(!docker_ok(&["image", "inspect", local]), "{local} is local");
    }
    let text = |d: &str| registry.body(&format!("/v2/itwinai/blobs/{d}")).unwrap();
    assert_eq!(
        config_but_ref_name(&text(&release_config)),
        config_but_ref_name(&text(&dev_id))
    );
    assert!(text(&release_config)
        .contains(&format!("\"org.opencontainers.image.ref.name\":\"{prod}\"")));

    // Again: nothing to write.
    let before = registry.access_log().len();
    let run = ws.xtask(&["image", "tag", "fix", "--from", &dev], None, &elsewhere);
    run.expect(0);
    assert!(
        run.stderr.contains("already the promotion"),
        "{}",
        run.stderr
    );
    assert!(!requests(&registry.access_log()[before..])
        .iter()
        .any(|r| r.starts_with("PUT ") || r.starts_with("POST ")));

    // Without evidence (another cache, the referrers tag gone), refused.
    // A source at another version is refused.
    ws.xtask(&["version", "set", "0.2.3"], None, &[]).expect(0);
    ws.commit();
    let run = ws.xtask(&["image", "tag", "fix", "--from", &dev], None, &elsewhere);
    run.expect(1);
    assert!(
        run.error_line().contains("pyproject.toml says 0.2.3"),
        "{}",
        run.stderr
    );
}

/// The layer digests of `name:tag` as its registry lists them.
fn image_layers_in(registry: &Registry, name: &str, tag: &str) -> Vec<String> {
    let m = Json::parse(
        &registry
            .body(&format!("/v2/{name}/manifests/{tag}"))
            .unwrap(),
    )
    .unwrap();
    m.get("layers")
        .and_then(Json::as_array)
        .unwrap()
        .iter()
        .map(|l| l.get("digest").and_then(Json::as_str).unwrap().to_string())
        .collect()
}

#[test]
fn a_registry_that_goes_away_mid_push_leaves_a_clean_report() {
    let Some(EngineTest {
        mut registry,
        base,
        ws,
    }) = EngineTest::start_with("rel-stop", JAMMY, two_flavours)
    else {
        return;
    };
    ws.xtask(&["image", "build", "--all"], None, &[]).expect(0);
    let catalog_with_alias = catalog(&registry.host(), "")
        + "\n[flavours.other]\ndockerfile = \"env-files/fix/Dockerfile\"\nframework = \"tf\"\nframework-version = \"2.16\"\ndistro = \"jammy\"\nlatest = \"other-latest\"\n";
    ws.write("env-files/images.toml", &catalog_with_alias);
    ws.commit();
    ws.xtask(&["image", "build", "--all"], None, &[]).expect(0);

    // The registry stops when the second upload starts (its requests are
    // retried, quickly here, then it fails).
    let wrapper = docker_that_stops_registry_at_upload(2, registry.child.id());
    let run = ws.xtask(
        &["image", "push", "--all", "--latest", "--json"],
        Some(wrapper.path()),
        &[("XTASK_REGISTRY_BACKOFF_MS", "10")],
    );
    run.expect(1);
    let line = run.error_line();
    assert!(line.contains("Pushed: 127.0.0.1"), "{line}");
    assert!(line.contains("failed: 127.0.0.1"), "{line}");
    assert!(line.contains("no -latest alias was moved"), "{line}");
    // Each reference's status, and its alias's.
    let statuses = |stdout: &str| -> Vec<(String, String)> {
        let rows = xtask::support::json::Json::parse(stdout.trim()).unwrap();
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let s = |v: Option<&xtask::support::json::Json>| {
                    v.and_then(xtask::support::json::Json::as_str)
                        .unwrap()
                        .to_string()
                };
                (
                    s(r.get("status")),
                    s(r.get("latest").and_then(|l| l.get("status"))),
                )
            })
            .collect()
    };
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        statuses(&run.stdout),
        [pair("pushed", "not-moved"), pair("failed", "not-moved")]
    );
    assert!(line.contains("not pushed: 127.0.0.1"), "{line}");

    registry.restart();
    assert_eq!(
        registry.tags("itwinai"),
        ["0.2.2-torch2.6-jammy"],
        "one pushed, no alias"
    );
    let run = ws.xtask(&["image", "push", "--all", "--latest", "--json"], None, &[]);
    run.expect(0);
    assert_eq!(
        statuses(&run.stdout),
        [
            pair("already-published", "created"),
            pair("pushed", "created")
        ]
    );
    assert_eq!(
        registry.tags("itwinai"),
        [
            "0.2.2-tf2.16-jammy",
            "0.2.2-torch2.6-jammy",
            "fix-latest",
            "other-latest"
        ]
    );
    let _ = docker_ok(&["rmi", &base]);
}

/// Before each `docker push`: touch `marker`, then wait until `go` exists
/// (60 s at most).
fn docker_that_holds_its_push(marker: &std::path::Path, go: &std::path::Path) -> TempDir {
    docker_wrapper(
        "held-push",
        &format!(
            "if [ \"$1\" = save ]; then\n  touch '{}'\n  \
             t=0; until [ -e '{go}' ] || [ $t -ge 600 ]; do sleep 0.1; t=$((t+1)); done\nfi",
            marker.display(),
            go = go.display()
        ),
    )
}

#[test]
fn concurrent_latest_pushes_never_move_an_alias_backwards() {
    let Some(EngineTest {
        registry,
        base,
        ws: old,
    }) = EngineTest::start("rel-conc-old", JAMMY)
    else {
        return;
    };
    // Two checkouts on one machine: 0.2.2 (slowed down) and 0.3.0.
    let new = unique_workspace("rel-conc-new", &base, &catalog(&registry.host(), ""));
    new.xtask(&["version", "set", "0.3.0"], None, &[]).expect(0);
    new.commit();
    // One cache directory, so both runs see the same lock (and the pushes
    // find the builds recorded there).
    let cache = TempDir::new("conc-cache");
    let cache_env = cache.path().to_str().unwrap().to_string();
    let shared = [("XDG_CACHE_HOME", cache_env.as_str())];
    old.xtask(&["image", "build", "fix"], None, &shared)
        .expect(0);
    new.xtask(&["image", "build", "fix"], None, &shared)
        .expect(0);
    let marker = cache.path().join("old-is-pushing");
    let go = cache.path().join("old-may-push");
    let slow = docker_that_holds_its_push(&marker, &go);
    let mut cmd = old.xtask_command(&["image", "push", "fix", "--latest"], Some(slow.path()));
    cmd.env("XDG_CACHE_HOME", &cache_env)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !marker.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the slowed push never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // 0.3.0 starts while 0.2.2 is between its reads and its alias move,
    // which waits until 0.3.0 says that it waits for the lock.
    let mut cmd = new.xtask_command(&["image", "push", "fix", "--latest"], None);
    cmd.env("XDG_CACHE_HOME", &cache_env);
    let pushing_new = Watched::spawn(cmd);
    pushing_new.wait_for_stderr(
        "waiting for another push to",
        std::time::Duration::from_secs(60),
    );
    // Checked below; either way 0.2.2 goes on, so nothing is left running.
    std::fs::write(&go, "").unwrap();
    let run_old = Run::from(child.wait_with_output().unwrap());
    let run_new = pushing_new.finish();
    run_old.expect(0);
    run_new.expect(0);
    assert!(
        run_new.stderr.contains("waiting for another push to"),
        "{}",
        run_new.stderr
    );
    assert_eq!(
        registry.digest("itwinai", "fix-latest"),
        registry.digest("itwinai", "0.3.0-torch2.6-jammy"),
        "the alias ends on the newer release"
    );
    assert_eq!(
        registry.tags("itwinai"),
        ["0.2.2-torch2.6-jammy", "0.3.0-torch2.6-jammy", "fix-latest"]
    );
    let _ = docker_ok(&["rmi", &base]);
}

/// When the upload starts (`docker save`): first point `reference` at
/// `other` in the local engine.
fn docker_that_retags_at_save(other: &str, reference: &str) -> TempDir {
    program_wrapper(
        "retag",
        "docker",
        &format!("if [ \"$1\" = save ]; then \"$REAL\" tag '{other}' '{reference}'; fi"),
    )
}

/// The push publishes the image it checked, by its ID's content: another
/// process that points the local name at another image as the upload
/// starts changes nothing in what the registry serves.
#[test]
fn push_publishes_only_the_image_it_checked() {
    let Some(EngineTest { registry, base, ws }) = EngineTest::start("rel-swap", JAMMY) else {
        return;
    };
    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    let reference = format!("{}/itwinai:0.2.2-torch2.6-jammy", registry.host());
    let checked = docker(&["image", "inspect", "--format", "{{.Id}}", &reference])
        .trim()
        .to_string();
    let wrapper = docker_that_retags_at_save(&base, &reference);
    let run = ws.xtask(&["image", "push", "fix"], Some(wrapper.path()), &[]);
    run.expect(0);
    // The local name moved to the base while the push ran ...
    let now = docker(&["image", "inspect", "--format", "{{.Id}}", &reference])
        .trim()
        .to_string();
    assert_ne!(now, checked);
    // ... and the registry serves the checked image, not the base.
    assert_eq!(
        registry.config_digest("itwinai", "0.2.2-torch2.6-jammy"),
        Some(checked.clone())
    );
    assert!(
        run.stderr.contains("+ docker save --output ")
            && run.stderr.contains(&format!(" -- {checked}")),
        "{}",
        run.stderr
    );
    assert_eq!(
        registry.tags("itwinai"),
        vec!["0.2.2-torch2.6-jammy".to_string()]
    );
    let _ = docker_ok(&["rmi", &reference, &base]);
}

#[test]
fn promotion_refuses_triggers_and_other_flavours_images() {
    let Some(EngineTest { registry, base, ws }) = EngineTest::start("rel-trig", JAMMY) else {
        return;
    };
    let other_base = make_base(
        &registry,
        &format!("trig-other-{}", std::process::id()),
        "jammy",
    );
    let dev = format!(
        "{}/itwinai-dev:0.2.2-torch2.6-jammy-{}",
        registry.host(),
        &ws.head()[..12]
    );
    let prod = format!("{}/itwinai:0.2.2-torch2.6-jammy", registry.host());

    // ONBUILD triggers would run in the promotion and change the image.
    ws.write(
        "env-files/fix/Dockerfile",
        &(dockerfile(&base) + "ONBUILD ENV PYTHONPATH=/opt/attacker\n"),
    );
    ws.commit();
    let dev = dev.replace(&dev[dev.len() - 12..], &ws.head()[..12]);
    ws.xtask(&["image", "build", "fix", "--dev"], None, &[])
        .expect(0);
    ws.xtask(&["image", "push", "fix", "--dev"], None, &[])
        .expect(0);
    let run = ws.xtask(&["image", "tag", "fix", "--from", &dev], None, &[]);
    run.expect(1);
    assert!(
        run.error_line().contains("ONBUILD triggers"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("+ docker build "), "{}", run.stderr);
    assert!(!docker_ok(&["image", "inspect", &prod]));

    // Another flavour's image (built on another base) is not this one's.
    ws.write("env-files/fix/Dockerfile", &dockerfile(&base));
    ws.write(
        "env-files/other/Dockerfile",
        &dockerfile(&other_base).replace(&base, &other_base),
    );
    ws.write(
        "env-files/images.toml",
        &(catalog(&registry.host(), "")
            + "\n[flavours.other]\ndockerfile = \"env-files/other/Dockerfile\"\nframework = \"torch\"\nframework-version = \"2.6\"\ndistro = \"jammy\"\nvariant = \"x\"\ntag-format = \"{version}-{variant}-{framework}{framework-version}-{distro}\"\n"
            + "\n[flavours.twin]\ndockerfile = \"env-files/fix/Dockerfile\"\nframework = \"torch\"\nframework-version = \"2.6\"\ndistro = \"jammy\"\nvariant = \"y\"\ntag-format = \"{version}-{variant}-{framework}{framework-version}-{distro}\"\n"),
    );
    ws.commit();
    ws.xtask(&["image", "build", "other", "--dev"], None, &[])
        .expect(0);
    ws.xtask(&["image", "push", "other", "--dev"], None, &[])
        .expect(0);
    let other_dev = format!(
        "{}/itwinai-dev:0.2.2-x-torch2.6-jammy-{}",
        registry.host(),
        &ws.head()[..12]
    );
    let run = ws.xtask(&["image", "tag", "fix", "--from", &other_dev], None, &[]);
    run.expect(1);
    let line = run.error_line();
    assert!(
        line.contains(&format!(
            "label org.opencontainers.image.base.name is '{other_base}', expected '{base}'"
        )),
        "{line}"
    );
    assert!(!docker_ok(&["image", "inspect", &prod]));

    // Another flavour's image on the very same base and Dockerfile: its
    // ref.name says what it is.
    ws.xtask(&["image", "build", "twin", "--dev"], None, &[])
        .expect(0);
    ws.xtask(&["image", "push", "twin", "--dev"], None, &[])
        .expect(0);
    let twin_dev = format!(
        "{}/itwinai-dev:0.2.2-y-torch2.6-jammy-{}",
        registry.host(),
        &ws.head()[..12]
    );
    let run = ws.xtask(&["image", "tag", "fix", "--from", &twin_dev], None, &[]);
    run.expect(1);
    let line = run.error_line();
    assert!(
        line.contains(&format!(
            "its org.opencontainers.image.ref.name label is '{twin_dev}': it is not a development image of flavour 'fix' at version 0.2.2"
        )),
        "{line}"
    );
    assert!(!run.stderr.contains("+ docker build "), "{}", run.stderr);
    assert!(!docker_ok(&["image", "inspect", &prod]));
    let _ = docker_ok(&["rmi", &dev, &other_dev, &twin_dev, &base, &other_base]);
}

/// A repository that converts its Dockerfiles one at a time: one flavour
/// whose Dockerfile records no provenance refuses only the commands that
/// work on it; the others list, build and push as before.
#[test]
fn one_broken_flavour_refuses_only_itself() {
    let Some(EngineTest { registry, base, ws }) = EngineTest::start_with(
        "rel-broken",
        JAMMY,
        |host| {
            catalog(host, "")
                + "\n[flavours.old]\ndockerfile = \"env-files/old/Dockerfile\"\nframework = \"tf\"\nframework-version = \"2.16\"\ndistro = \"jammy\"\n"
        },
    ) else {
        return;
    };
    // Not converted yet: no provenance ARGs or labels.
    ws.write(
        "env-files/old/Dockerfile",
        &format!("FROM {base}\nCOPY pyproject.toml /old/pyproject.toml\n"),
    );
    ws.commit();
    let old = format!("{}/itwinai:0.2.2-tf2.16-jammy", registry.host());
    let fix = format!("{}/itwinai:0.2.2-torch2.6-jammy", registry.host());
    let _cleanup = Cleanup::new(&[&old, &fix]);

    // image list: every flavour, the broken one marked, exit 0.
    let run = ws.xtask(&["image", "list", "--json"], None, &[]);
    run.expect(0);
    assert_eq!(
        field(&run.stdout, "problem")[0],
        "null",
        "fix has no problem: {}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("\"problem\":\"env-files/old/Dockerfile:1: the final stage (FROM at line 1) must declare ARG"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("unusable: flavour 'old'"),
        "{}",
        run.stderr
    );
    let run = ws.xtask(&["image", "list"], None, &[]);
    run.expect(0);
    assert!(run
        .stdout
        .contains("env-files/old/Dockerfile (unusable, below)"));

    // The broken flavour, named: refused before anything runs.
    for args in [
        &["image", "build", "old"][..],
        &["image", "push", "old"],
        &["image", "tag", "old", "--latest"],
        &["image", "build", "fix", "old"],
    ] {
        let run = ws.xtask(args, None, &[]);
        run.expect(2);
        assert!(
            run.error_line()
                .contains("env-files/old/Dockerfile:1: the final stage"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("+ docker"), "{args:?}: {}", run.stderr);
    }
    assert!(!docker_ok(&["image", "inspect", &fix]));

    // The other flavour builds and pushes as if the broken one were not there.
    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    ws.xtask(&["image", "push", "fix"], None, &[]).expect(0);
    assert_eq!(registry.tags("itwinai"), ["0.2.2-torch2.6-jammy"]);

    // --all works on the usable flavours and names the one it leaves out.
    let run = ws.xtask(&["image", "build", "--all", "--json"], None, &[]);
    run.expect(0);
    assert!(
        run.stderr
            .contains("warning: --all leaves out flavour 'old', whose Dockerfile cannot be used"),
        "{}",
        run.stderr
    );
    assert_eq!(field(&run.stdout, "flavour"), ["fix"]);
    assert!(!docker_ok(&["image", "inspect", &old]));

    // check lists the problem, exit 2.
    let run = ws.xtask(&["check"], None, &[]);
    run.expect(2);
    assert!(
        run.stderr
            .contains("error: env-files/old/Dockerfile:1: the final stage"),
        "{}",
        run.stderr
    );
    let _ = docker_ok(&["rmi", &base]);
}

/// The test gate of a push runs outside the push lock: a flavour whose
/// test hangs holds up no other flavour's push to the same repository.
#[test]
fn a_hanging_test_holds_up_no_other_push() {
    let sleeping = r#"test = ["python3", '-c', "import time; time.sleep(120)"]"#;
    let Some(EngineTest { registry, base, ws }) = EngineTest::start_with(
        "rel-hang",
        JAMMY,
        |host| {
            catalog(host, &format!("{sleeping}\n"))
                + "\n[flavours.other]\ndockerfile = \"env-files/fix/Dockerfile\"\nframework = \"tf\"\nframework-version = \"2.16\"\ndistro = \"jammy\"\ntest = [\"python3\", \"-m\", \"platform\"]\n"
        },
    ) else {
        return;
    };
    let fix = format!("{}/itwinai:0.2.2-torch2.6-jammy", registry.host());
    let other = format!("{}/itwinai:0.2.2-tf2.16-jammy", registry.host());
    let _cleanup = Cleanup::new(&[&fix, &other, &base]);
    ws.xtask(&["image", "build", "--all"], None, &[]).expect(0);

    // fix's push hangs in its test, outside the lock …
    let mut cmd = ws.xtask_command(&["image", "push", "fix"], None);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let hanging = cmd.spawn().unwrap();
    let pid = hanging.id();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !docker(&["ps", "--format", "{{.Names}}"])
        .lines()
        .any(|n| n.starts_with(&format!("xtask-{pid}-")))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "fix's test never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // … while other's push, to the same repository, goes through (a wait
    // for the lock would stop it after 20 s).
    let run = ws.xtask(
        &["image", "push", "other"],
        None,
        &[("XTASK_TRANSFER_TIMEOUT_SECS", "20")],
    );
    run.expect(0);
    assert!(
        !run.stderr.contains("waiting for another push"),
        "{}",
        run.stderr
    );
    assert_eq!(registry.tags("itwinai"), ["0.2.2-tf2.16-jammy"]);

    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let run = Run::from(hanging.wait_with_output().unwrap());
    run.expect(130);
    assert_eq!(registry.tags("itwinai"), ["0.2.2-tf2.16-jammy"]);
}

/// A release or alias is built on the flavour's declared base: an image
/// built on another one (`--base-image`, or a catalog changed since) is
/// never pushed under a release tag, and `image build --base-image` makes
/// development images only.
#[test]
fn a_release_on_another_base_is_not_pushed() {
    let Some(EngineTest { registry, base, ws }) = EngineTest::start("rel-base", JAMMY) else {
        return;
    };
    let noble = make_base(
        &registry,
        &format!("rebase-other-{}", std::process::id()),
        "jammy",
    );
    let reference = format!("{}/itwinai:0.2.2-torch2.6-jammy", registry.host());
    let _cleanup = Cleanup::new(&[&reference]);
    let run = ws.xtask(
        &["image", "build", "fix", "--base-image", &noble],
        None,
        &[],
    );
    run.expect(2);
    assert!(
        run.error_line().contains("builds a development image"),
        "{}",
        run.stderr
    );
    // Built on another base by a catalog that declared it then …
    let catalog_text = std::fs::read_to_string(ws.root().join("env-files/images.toml")).unwrap();
    ws.write(
        "env-files/images.toml",
        &format!("{catalog_text}base-image = \"{noble}\"\n"),
    );
    ws.commit();
    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    // … and pushed after the catalog went back to the Dockerfile's base.
    ws.write("env-files/images.toml", &catalog_text);
    ws.commit();
    let run = ws.xtask(&["image", "push", "fix"], None, &[]);
    run.expect(1);
    let line = run.error_line();
    assert!(
        line.contains(&format!(
            "label org.opencontainers.image.base.name is '{noble}', expected '{base}', the flavour's declared base"
        )),
        "{line}"
    );
    assert_eq!(registry.tags("itwinai"), Vec::<String>::new());
    // A development push of it is fine: --base-image is for those.
    let _ = base;
}
