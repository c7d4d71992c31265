//! Against a real Docker engine and a real registry on 127.0.0.1: bases are
//! made with `docker import` (nothing is pulled from outside), pushed to the
//! registry and removed locally, then built on with `--root` fixtures.
//! Without an engine these tests fail, unless XTASK_DOCKER_TESTS=skip.

mod support;

use support::*;

const OCI: &str = "org.opencontainers.image";

/// A unique base name per test run, so parallel tests never share one.
fn unique(name: &str) -> String {
    format!("{name}-{}", std::process::id())
}

#[test]
fn build_records_true_provenance() {
    let Some(EngineTest { registry, base, ws }) =
        EngineTest::start("build_records_true_provenance", "e2e-build", JAMMY)
    else {
        return;
    };
    let reference = format!("{}/itwinai:0.2.2-torch2.6-jammy", registry.host());

    let run = ws.xtask(&["image", "build", "fix", "--json"], None, &[]);
    run.expect(0);

    // Every label, against the facts: git, pyproject, the pinned clock, and
    // the digest the registry itself reports for the base.
    let base_name = base.rsplit_once(':').unwrap().0.split_once('/').unwrap().1;
    let registry_digest = registry
        .digest(base_name, "1")
        .expect("registry knows the base");
    let labels = labels(&reference);
    let label = |k: &str| {
        labels
            .iter()
            .find(|(key, _)| key == &format!("{OCI}.{k}"))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(label("revision"), Some(ws.head()));
    assert_eq!(label("version"), Some("0.2.2".into()));
    assert_eq!(label("created"), Some(CREATION_DATE.into()));
    assert_eq!(label("ref.name"), Some(reference.clone()));
    assert_eq!(label("base.name"), Some(base.clone()));
    assert_eq!(
        label("base.digest"),
        Some(format!("{}/{base_name}@{registry_digest}", registry.host()))
    );

    // The JSON names the image that is really there.
    let id = image_id(&reference);
    assert!(
        run.stdout
            .contains(&format!("\"image_id\":\"{}\"", id.trim())),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.trim_start().starts_with('['),
        "stdout is only JSON: {}",
        run.stdout
    );
    assert!(
        run.stderr.contains(&format!("checked {reference}")),
        "{}",
        run.stderr
    );
    // No -latest alias was created by the build.
    assert!(!docker_ok(&[
        "image",
        "inspect",
        &format!("{}/itwinai:fix-latest", registry.host())
    ]));

    // A dev build goes under the development name with HEAD's 12 hex digits.
    let run = ws.xtask(&["image", "build", "fix", "--dev"], None, &[]);
    run.expect(0);
    let dev = format!(
        "{}/itwinai-dev:0.2.2-torch2.6-jammy-{}",
        registry.host(),
        &ws.head()[..12]
    );
    assert!(docker_ok(&["image", "inspect", &dev]));

    let _ = docker_ok(&["rmi", &reference, &dev, &base]);
}

#[test]
fn build_refuses_images_that_would_lie() {
    // The catalog says jammy; the base is noble.
    let Some(EngineTest { registry, base, ws }) =
        EngineTest::start("build_refuses_images_that_would_lie", "e2e-distro", NOBLE)
    else {
        return;
    };
    let run = ws.xtask(&["image", "build", "fix"], None, &[]);
    run.expect(1);
    let line = run.error_line();
    assert!(
        line.contains("VERSION_CODENAME=noble, but the catalog's distro is 'jammy'"),
        "{line}"
    );

    // A Dockerfile that drops a label is refused before any docker command.
    let ws = Workspace::fixture("e2e-label", &registry.host(), &base);
    let text = dockerfile(&base).replace(&format!("{OCI}.revision=\"${{COMMIT_HASH}}\""), "x=1");
    ws.write("env-files/fix/Dockerfile", &text);
    ws.commit();
    let run = ws.xtask(&["image", "build", "fix"], None, &[]);
    run.expect(2);
    let line = run.error_line();
    assert!(
        line.contains("env-files/fix/Dockerfile:2:")
            && line.contains(&format!("{OCI}.revision from ${{COMMIT_HASH}}")),
        "{line}"
    );
    assert!(!run.stderr.contains("+ docker"), "{}", run.stderr);
    let _ = docker_ok(&["rmi", &base]);
}

#[test]
fn unresolvable_base_stops_before_the_build() {
    if !engine_available("unresolvable_base_stops_before_the_build") {
        return;
    }
    let registry = Registry::start();
    let missing = format!("{}/{}:1", registry.host(), unique("never-pushed"));
    let ws = Workspace::fixture("e2e-missing", &registry.host(), &missing);
    let reference = format!("{}/itwinai:0.2.2-torch2.6-jammy", registry.host());
    // An earlier run that drew the same port may have left this name.
    let _ = docker_ok(&["rmi", &reference]);
    let run = ws.xtask(&["image", "build", "fix"], None, &[]);
    run.expect(1);
    let line = run.error_line();
    assert!(
        line.contains(&format!("pulling base image {missing}")),
        "{line}"
    );
    assert!(
        !run.stderr.contains("+ docker build --force-rm -f"),
        "the build must not start: {}",
        run.stderr
    );
    assert!(!docker_ok(&["image", "inspect", &reference]));

    // A local image that never came from a registry has no digest: refused too.
    let local = format!("{}:1", unique("local-only-base"));
    import_image(&local, "jammy");
    let ws = Workspace::fixture("e2e-local", "", &local);
    let run = ws.xtask(&["image", "build", "fix"], None, &[]);
    run.expect(1);
    assert!(
        !run.stderr.contains("+ docker build --force-rm -f"),
        "{}",
        run.stderr
    );
    let _ = docker_ok(&["rmi", &local]);
}
