//! The release routine against a real engine and a real registry on
//! 127.0.0.1: push, no clobbering, the -latest budget, promotion without
//! rebuild, and a registry that goes away in the middle of a push.

mod support;

use support::*;

/// Two flavours, fix (alias fix-latest) and other (no alias).
fn two_flavours(label: &str, registry: &Registry, base: &str) -> Workspace {
    let ws = Workspace::fixture(label, &registry.host(), base);
    let other = "\n[flavours.other]\ndockerfile = \"env-files/fix/Dockerfile\"\nframework = \"tf\"\nframework-version = \"2.16\"\ndistro = \"jammy\"\n";
    ws.write(
        "env-files/images.toml",
        &(catalog(&registry.host(), "") + other),
    );
    ws.commit();
    ws
}

fn field<'a>(json: &'a str, key: &str) -> Vec<&'a str> {
    json.split(&format!("\"{key}\":"))
        .skip(1)
        .map(|rest| rest.split([',', '}']).next().unwrap().trim_matches('"'))
        .collect()
}

#[test]
fn push_is_idempotent_and_never_clobbers_a_release() {
    if !engine_available("push_is_idempotent_and_never_clobbers_a_release") {
        return;
    }
    let registry = Registry::start();
    let base = make_base(
        &registry,
        &format!("rel-base-{}", std::process::id()),
        "jammy",
    );
    let ws = Workspace::fixture("rel-push", &registry.host(), &base);
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
    assert!(!run.stderr.contains("+ docker push"), "{}", run.stderr);

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
    if !engine_available("latest_aliases_follow_the_budget") {
        return;
    }
    let registry = Registry::start();
    let base = make_base(
        &registry,
        &format!("lat-base-{}", std::process::id()),
        "jammy",
    );
    let ws = two_flavours("rel-latest", &registry, &base);
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
        let run = ws.xtask(&["image", "push", "fix", "--latest"], None, &[]);
        run.expect(1);
        let line = run.error_line();
        assert!(
            line.contains("refusing to move") && line.contains("fix-latest"),
            "{line}"
        );
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

#[test]
fn promotion_ships_the_tested_layers() {
    if !engine_available("promotion_ships_the_tested_layers") {
        return;
    }
    let registry = Registry::start();
    let base = make_base(
        &registry,
        &format!("promo-base-{}", std::process::id()),
        "jammy",
    );
    let ws = Workspace::fixture("rel-promo", &registry.host(), &base);
    ws.xtask(&["image", "build", "fix", "--dev"], None, &[])
        .expect(0);
    let dev = format!(
        "{}/itwinai-dev:0.2.2-torch2.6-jammy-{}",
        registry.host(),
        &ws.head()[..12]
    );
    let prod = format!("{}/itwinai:0.2.2-torch2.6-jammy", registry.host());

    let run = ws.xtask(&["image", "tag", "fix", "--from", &dev], None, &[]);
    run.expect(0);
    let layers = |r: &str| docker(&["image", "inspect", "--format", "{{json .RootFS.Layers}}", r]);
    assert_eq!(layers(&dev), layers(&prod));
    let prod_labels = labels(&prod);
    let dev_labels = labels(&dev);
    let refname = "org.opencontainers.image.ref.name".to_string();
    assert!(prod_labels.contains(&(refname.clone(), prod.clone())));
    let others = |l: &[(String, String)]| {
        l.iter()
            .filter(|(k, _)| *k != refname)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(others(&prod_labels), others(&dev_labels));
    // The promoted image is what push publishes.
    ws.xtask(&["image", "push", "fix"], None, &[]).expect(0);

    // A source at another version is refused.
    ws.xtask(&["version", "set", "0.2.3"], None, &[]).expect(0);
    ws.commit();
    let run = ws.xtask(&["image", "tag", "fix", "--from", &dev], None, &[]);
    run.expect(1);
    assert!(
        run.error_line().contains("pyproject.toml says 0.2.3"),
        "{}",
        run.stderr
    );
    let _ = docker_ok(&["rmi", &prod, &dev, &base]);
}

#[test]
fn a_registry_that_goes_away_mid_push_leaves_a_clean_report() {
    if !engine_available("a_registry_that_goes_away_mid_push_leaves_a_clean_report") {
        return;
    }
    let mut registry = Registry::start();
    let base = make_base(
        &registry,
        &format!("stop-base-{}", std::process::id()),
        "jammy",
    );
    let ws = two_flavours("rel-stop", &registry, &base);
    ws.xtask(&["image", "build", "--all"], None, &[]).expect(0);
    let catalog_with_alias = catalog(&registry.host(), "")
        + "\n[flavours.other]\ndockerfile = \"env-files/fix/Dockerfile\"\nframework = \"tf\"\nframework-version = \"2.16\"\ndistro = \"jammy\"\nlatest = \"other-latest\"\n";
    ws.write("env-files/images.toml", &catalog_with_alias);
    ws.commit();
    ws.xtask(&["image", "build", "--all"], None, &[]).expect(0);

    // The registry stops when the second push starts.
    let wrapper = docker_that_stops_registry_at_push(2, registry.child.id());
    let run = ws.xtask(
        &["image", "push", "--all", "--latest", "--json"],
        Some(wrapper.path()),
        &[],
    );
    run.expect(1);
    let line = run.error_line();
    assert!(line.contains("Pushed: 127.0.0.1"), "{line}");
    assert!(line.contains("failed: 127.0.0.1"), "{line}");
    assert!(line.contains("no -latest alias was moved"), "{line}");
    assert_eq!(field(&run.stdout, "status"), ["pushed", "failed"]);

    registry.restart();
    assert_eq!(
        registry.tags("itwinai"),
        ["0.2.2-torch2.6-jammy"],
        "one pushed, no alias"
    );
    let run = ws.xtask(&["image", "push", "--all", "--latest", "--json"], None, &[]);
    run.expect(0);
    assert_eq!(
        field(&run.stdout, "status"),
        ["already-published", "pushed"]
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
