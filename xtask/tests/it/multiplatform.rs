//! A flavour declared for linux/amd64 and linux/arm64, end to end against a
//! real engine (arm64 under QEMU emulation) and a real registry on
//! 127.0.0.1: built and checked per platform, tested, published as one
//! index, aliased, promoted; read back through the registry API.

use crate::support::*;
use xtask::support::json::Json;

const AMD64: &str = "linux/amd64";
const ARM64: &str = "linux/arm64";
const PLATFORMS: &str = "platforms = [\"linux/amd64\", \"linux/arm64\"]\n";

/// The fixture with `fix` declared for both platforms, and a test that
/// runs the image's python3 (under emulation on arm64).
fn workspace(label: &str, registry: &Registry, base: &str) -> Workspace {
    let ws = Workspace::fixture(label, &registry.host(), base);
    ws.write(
        "env-files/images.toml",
        &catalog(
            &registry.host(),
            &format!("{PLATFORMS}test = [\"python3\", \"-m\", \"platform\"]\n"),
        ),
    );
    ws.commit();
    ws
}

/// `(platform, manifest digest)` of each entry of the index `reference`.
fn entries(reference: &str) -> Vec<(String, String)> {
    let v = Json::parse(&docker(&["manifest", "inspect", "--insecure", reference])).unwrap();
    let mut out: Vec<(String, String)> = v
        .get("manifests")
        .and_then(Json::as_array)
        .unwrap_or_else(|| panic!("{reference} is not an index"))
        .iter()
        .map(|m| {
            let p = m.get("platform").unwrap();
            let s = |k: &str| p.get(k).and_then(Json::as_str).unwrap().to_string();
            (
                format!("{}/{}", s("os"), s("architecture")),
                m.get("digest").and_then(Json::as_str).unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

/// Pull one entry of an index by its digest, as its platform: its platform
/// and labels as the engine sees its config.
fn entry_image(repository: &str, platform: &str, digest: &str) -> (String, Vec<(String, String)>) {
    let pinned = format!("{repository}@{digest}");
    docker(&["pull", "-q", "--platform", platform, &pinned]);
    let seen = (image_platform(&pinned), labels(&pinned));
    docker(&["rmi", &pinned]);
    seen
}

/// The preamble of every test here: an engine that runs arm64 (else the
/// test fails, or skips under XTASK_DOCKER_TESTS=skip), a registry, and a
/// base `<host>/<name>-<pid>:1` for linux/amd64 and linux/arm64 whose
/// images say the codename given for each.
fn two_platform_base(name: &str, codenames: [&str; 2]) -> Option<(Registry, MultiPlatformBase)> {
    if !engine_available() || !emulation_available(ARM64) {
        return None;
    }
    let registry = Registry::start();
    let base = make_multi_platform_base_with(
        &registry,
        &format!("{name}-{}", std::process::id()),
        &[("torch", "2.6.0")],
        &[(AMD64, codenames[0]), (ARM64, codenames[1])],
    );
    Some((registry, base))
}

fn json(stdout: &str) -> Json {
    Json::parse(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn get<'a>(v: &'a Json, key: &str) -> &'a Json {
    v.get(key).unwrap_or_else(|| panic!("no {key} in {v:?}"))
}

#[test]
fn a_two_platform_flavour_is_built_checked_tested_published_aliased_and_promoted() {
    let Some((registry, base)) = two_platform_base("mp-base", ["jammy", "jammy"]) else {
        return;
    };
    let host = registry.host();
    let base_name = format!("mp-base-{}", std::process::id());
    let ws = workspace("mp-release", &registry, &base.reference);
    let tag = "0.2.2-torch2.6-jammy";
    let reference = format!("{host}/itwinai:{tag}");
    let local = |r: &str, p: &str| format!("{r}-{}", p.replace('/', "-"));
    let dev = |t: &str, p: &str| format!("{host}/itwinai-dev:{t}-{}", p.replace('/', "-"));
    let _cleanup = Cleanup::new(&[
        &local(&reference, AMD64),
        &local(&reference, ARM64),
        &dev(tag, AMD64),
        &dev(tag, ARM64),
    ]);

    // Build: one image per platform, each checked as itself.
    let run = ws.xtask(&["image", "build", "fix", "--json"], None, &[]);
    run.expect(0);
    // Long work says where it is, and sums up.
    let counted: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(
        counted,
        [
            format!(
                "[1/6] pulling base image {} ({AMD64}) to learn its digest",
                base.reference
            ),
            format!("[2/6] building {}", local(&reference, AMD64)),
            format!("[3/6] checking {}", local(&reference, AMD64)),
            format!(
                "[4/6] pulling base image {} ({ARM64}) to learn its digest",
                base.reference
            ),
            format!("[5/6] building {}", local(&reference, ARM64)),
            format!("[6/6] checking {}", local(&reference, ARM64)),
        ],
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("summary: 6 of 6 steps in "),
        "{}",
        run.stderr
    );
    let built = json(&run.stdout);
    let row = &built.as_array().unwrap()[0];
    let platforms = get(row, "platforms").as_array().unwrap();
    let listed: Vec<&str> = platforms
        .iter()
        .map(|p| get(p, "platform").as_str().unwrap())
        .collect();
    assert_eq!(listed, [AMD64, ARM64]);
    let base_digest = format!("{host}/{base_name}@{}", base.digest);
    for (p, platform) in platforms.iter().zip([AMD64, ARM64]) {
        let name = local(&reference, platform);
        assert_eq!(get(p, "local").as_str(), Some(name.as_str()));
        assert_eq!(image_platform(&name), platform, "{name}");
        let l = labels(&name);
        let label = |k: &str| l.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        // The base digest is the index's, the same on every platform.
        assert_eq!(
            label("org.opencontainers.image.base.digest"),
            Some(base_digest.as_str())
        );
        assert_eq!(
            label("org.opencontainers.image.ref.name"),
            Some(reference.as_str())
        );
        assert_eq!(get(p, "image_id").as_str(), Some(image_id(&name).as_str()));
    }
    assert!(
        run.stderr.contains(&format!(
            "docker pull --platform {ARM64} -- {}",
            base.reference
        )),
        "{}",
        run.stderr
    );
    assert!(
        !docker_ok(&["image", "inspect", &reference]),
        "no plain local image"
    );

    // The test runs on each platform; arm64 under emulation.
    let run = ws.xtask(&["image", "test", "fix", "--json"], None, &[]);
    run.expect(0);
    assert!(
        run.stderr.contains(&format!("--platform {ARM64}")),
        "{}",
        run.stderr
    );
    let tested = json(&run.stdout);
    let statuses: Vec<(&str, &str)> = tested
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                get(r, "platform").as_str().unwrap(),
                get(r, "status").as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(statuses, [(AMD64, "passed"), (ARM64, "passed")]);

    // --dry-run shows every per-platform write and the index write.
    let run = ws.xtask(&["image", "push", "fix", "--dry-run"], None, &[]);
    run.expect(0);
    let tests: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("docker run "))
        .collect();
    // The test gate: run now unless recorded (it passed above), per platform.
    assert_eq!(tests.len(), 2, "{tests:?}");
    assert!(
        tests[1].contains(&format!("--platform {ARM64}")),
        "{tests:?}"
    );
    // No docker command writes; the images go by digest into the
    // production repository, no tag of their own, then the index.
    assert!(
        run.stdout
            .lines()
            .all(|l| l.starts_with('#') || l.starts_with("docker run ")),
        "{}",
        run.stdout
    );
    let writes: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("# write "))
        .collect();
    let image = |p: &str| {
        format!(
            "# write the image {} into {host}/itwinai by digest: docker save of the ID, each blob the registry lacks uploaded, the manifest by digest",
            image_id(&local(&reference, p))
        )
    };
    let evidence = |p: &str| {
        format!(
            "# write the test evidence of {} next to {host}/itwinai@<digest of {} as read back>",
            image_id(&local(&reference, p)),
            local(&reference, p)
        )
    };
    assert_eq!(
        writes,
        [
            image(AMD64),
            evidence(AMD64),
            image(ARM64),
            evidence(ARM64),
            format!(
                "# write the index of {AMD64} <digest of {} as read back>, {ARM64} <digest of {} as read back> under {reference}",
                local(&reference, AMD64),
                local(&reference, ARM64)
            ),
        ]
    );
    assert_eq!(registry.tags("itwinai"), Vec::<String>::new());

    // Push: one index of exactly both platforms; the production repository
    // gets only the index tag (its platforms' images by digest), the
    // development one nothing.
    let run = ws.xtask(&["image", "push", "fix", "--json"], None, &[]);
    run.expect(0);
    let pushed = json(&run.stdout);
    let row = &pushed.as_array().unwrap()[0];
    assert_eq!(get(row, "status").as_str(), Some("pushed"));
    let index_digest = registry.digest("itwinai", tag).expect("the index");
    assert_eq!(get(row, "digest").as_str(), Some(index_digest.as_str()));
    assert_eq!(
        registry.media_type("itwinai", tag).as_deref(),
        Some(MANIFEST_LIST)
    );
    assert_eq!(registry.tags("itwinai"), [tag]);
    assert_eq!(registry.tags("itwinai-dev"), Vec::<String>::new());
    let served = entries(&reference);
    let served_platforms: Vec<&str> = served.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(served_platforms, [AMD64, ARM64]);
    for (platform, digest) in &served {
        let (config_platform, l) = entry_image(&format!("{host}/itwinai"), platform, digest);
        assert_eq!(config_platform, *platform);
        assert!(
            l.contains(&(
                "org.opencontainers.image.base.digest".into(),
                base_digest.clone()
            )),
            "{l:?}"
        );
        let json_digest = get(row, "platforms")
            .as_array()
            .unwrap()
            .iter()
            .find(|p| get(p, "platform").as_str() == Some(platform))
            .and_then(|p| get(p, "digest").as_str().map(str::to_string));
        assert_eq!(json_digest.as_ref(), Some(digest), "{platform}");
    }

    // Again: already published, nothing written.
    let run = ws.xtask(&["image", "push", "fix", "--json"], None, &[]);
    run.expect(0);
    assert_eq!(
        get(&json(&run.stdout).as_array().unwrap()[0], "status").as_str(),
        Some("already-published")
    );
    for write in ["+ docker save", "--request PUT", "--request POST"] {
        assert!(!run.stderr.contains(write), "{}", run.stderr);
    }

    // The alias follows the index.
    let run = ws.xtask(&["image", "push", "fix", "--latest"], None, &[]);
    run.expect(0);
    assert_eq!(entries(&format!("{host}/itwinai:fix-latest")), served);

    // A rebuilt index (other content) is refused, then taken with --force.
    ws.write(
        "pyproject.toml",
        &PYPROJECT.replace("[tool.other]", "[tool.x]"),
    );
    ws.commit();
    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    let run = ws.xtask(&["image", "push", "fix"], None, &[]);
    run.expect(1);
    // The registry API reads the index's own digest too.
    let line = run.error_line();
    assert!(
        line.contains("already published with other content (index sha256:")
            && line.contains(" (linux/amd64, linux/arm64))"),
        "{}",
        run.stderr
    );
    assert_eq!(registry.digest("itwinai", tag), Some(index_digest.clone()));
    ws.xtask(&["image", "push", "fix", "--force"], None, &[])
        .expect(0);
    let forced = registry.digest("itwinai", tag).unwrap();
    assert_ne!(forced, index_digest);
    assert_ne!(entries(&reference), served);

    // The alias does not go back: a release of 0.2.1 leaves it where it is.
    ws.write("pyproject.toml", &PYPROJECT.replace("0.2.2", "0.2.1"));
    ws.commit();
    let old = format!("{host}/itwinai:0.2.1-torch2.6-jammy");
    let _old = Cleanup::new(&[&local(&old, AMD64), &local(&old, ARM64)]);
    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    let run = ws.xtask(&["image", "push", "fix", "--latest"], None, &[]);
    run.expect(1);
    assert!(run.error_line().contains("backwards"), "{}", run.stderr);
    assert_eq!(entries(&format!("{host}/itwinai:fix-latest")), served);
    assert_eq!(registry.digest("itwinai", "0.2.1-torch2.6-jammy"), None);

    // Promotion: the development index of 0.2.3, tested, promoted to the
    // release per platform (same layers), and the release index written.
    ws.write("pyproject.toml", &PYPROJECT.replace("0.2.2", "0.2.3"));
    ws.commit();
    let dev_tag = format!("0.2.3-torch2.6-jammy-{}", &ws.head()[..12]);
    let dev_ref = format!("{host}/itwinai-dev:{dev_tag}");
    let release = format!("{host}/itwinai:0.2.3-torch2.6-jammy");
    let _promoted = Cleanup::new(&[&local(&dev_ref, AMD64), &local(&dev_ref, ARM64)]);
    ws.xtask(&["image", "build", "fix", "--dev"], None, &[])
        .expect(0);
    ws.xtask(&["image", "test", "fix", "--dev"], None, &[])
        .expect(0);
    ws.xtask(&["image", "push", "fix", "--dev"], None, &[])
        .expect(0);
    assert_eq!(
        registry.media_type("itwinai-dev", &dev_tag).as_deref(),
        Some(MANIFEST_LIST)
    );
    assert_eq!(
        registry.tags("itwinai-dev"),
        [dev_tag.as_str()],
        "no staging tags"
    );
    let run = ws.xtask(
        &["image", "tag", "fix", "--from", &dev_ref, "--json"],
        None,
        &[],
    );
    run.expect(0);
    assert!(
        !run.stderr.contains("+ docker "),
        "no engine: {}",
        run.stderr
    );
    let tagged = json(&run.stdout);
    let row = &tagged.as_array().unwrap()[0];
    assert_eq!(get(row, "reference").as_str(), Some(release.as_str()));
    let promoted_ids: Vec<(String, String)> = get(row, "platforms")
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                get(p, "platform").as_str().unwrap().to_string(),
                get(p, "image_id").as_str().unwrap().to_string(),
            )
        })
        .collect();
    // The release index, as its registry serves it: both platforms, each
    // image's config the one the report names, relabelled (not the
    // development config), on the development image's very layers.
    let promoted = entries(&release);
    let dev_entries = entries(&dev_ref);
    assert_eq!(
        promoted.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
        [AMD64, ARM64]
    );
    let served_ids: Vec<(String, String)> = promoted
        .iter()
        .map(|(p, d)| (p.clone(), registry.config_digest("itwinai", d).unwrap()))
        .collect();
    assert_eq!(promoted_ids, served_ids);
    for ((platform, digest), (_, dev_digest)) in promoted.iter().zip(&dev_entries) {
        assert_ne!(digest, dev_digest, "{platform}: ref.name was relabelled");
        assert_eq!(
            layers_of(&registry, "itwinai", digest),
            layers_of(&registry, "itwinai-dev", dev_digest),
            "{platform}: the same layers"
        );
        let (seen_platform, labels) = entry_image(&format!("{host}/itwinai"), platform, digest);
        assert_eq!(&seen_platform, platform);
        let ref_name = labels
            .iter()
            .find(|(k, _)| k == "org.opencontainers.image.ref.name");
        assert_eq!(ref_name.map(|(_, v)| v.as_str()), Some(release.as_str()));
    }
    // The alias stays where it was: a promotion moves none.
    assert_eq!(
        registry.tags("itwinai"),
        [tag, "0.2.3-torch2.6-jammy", "fix-latest"]
    );
    assert_eq!(
        entries(&format!("{host}/itwinai:fix-latest")),
        served,
        "the alias serves what it served"
    );
}

/// The layer digests of the image manifest `name@digest` its registry serves.
fn layers_of(registry: &Registry, name: &str, digest: &str) -> Vec<String> {
    let body = registry
        .body(&format!("/v2/{name}/manifests/{digest}"))
        .expect("served");
    Json::parse(&body)
        .unwrap()
        .get("layers")
        .and_then(Json::as_array)
        .unwrap()
        .iter()
        .map(|l| l.get("digest").and_then(Json::as_str).unwrap().to_string())
        .collect()
}

#[test]
fn an_arm64_image_that_lies_fails_the_build_and_is_never_published() {
    // The arm64 base says noble where the catalog says jammy.
    let Some((registry, base)) = two_platform_base("mp-liar", ["jammy", "noble"]) else {
        return;
    };
    let host = registry.host();
    let ws = workspace("mp-liar", &registry, &base.reference);
    let reference = format!("{host}/itwinai:0.2.2-torch2.6-jammy");
    let amd_local = format!("{reference}-linux-amd64");
    let arm_local = format!("{reference}-linux-arm64");
    let _cleanup = Cleanup::new(&[&amd_local, &arm_local]);

    // Without emulation an arm64 image cannot run: one line says how to
    // enable it (a docker first on PATH answers as an engine without QEMU).
    let no_qemu = docker_wrapper(
        "no-qemu",
        "if [ \"$1\" = run ]; then case \" $* \" in *\" --platform linux/arm64 \"*) echo 'exec /usr/bin/python3: exec format error' >&2; exit 255;; esac; fi",
    );
    let run = ws.xtask(&["image", "build", "fix"], Some(no_qemu.path()), &[]);
    run.expect(1);
    let line = run.error_line();
    assert!(
        line.contains("no emulation for linux/arm64 is registered")
            && line.contains("qemu-user-static")
            && line.contains("update-binfmts --enable"),
        "{line}"
    );
    assert!(!docker_ok(&["image", "inspect", &arm_local]), "removed");

    let run = ws.xtask(&["image", "build", "fix"], None, &[]);
    run.expect(1);
    let line = run.error_line();
    assert!(line.contains(&arm_local), "{line}");
    assert!(
        run.stderr
            .contains(&format!("[6/6] checking {arm_local}: FAILED")),
        "{}",
        run.stderr
    );
    assert!(
        line.contains(
            "/etc/os-release says VERSION_CODENAME=noble, but the catalog's distro is 'jammy'"
        ),
        "{line}"
    );
    assert!(docker_ok(&["image", "inspect", &amd_local]), "amd64 passed");
    assert!(
        !docker_ok(&["image", "inspect", &arm_local]),
        "the lying image keeps no name"
    );
    let run = ws.xtask(&["image", "push", "fix"], None, &[]);
    run.expect(1);
    assert!(
        run.error_line().contains("not in the local engine"),
        "{}",
        run.stderr
    );
    assert_eq!(registry.tags("itwinai"), Vec::<String>::new());
    assert_eq!(registry.tags("itwinai-dev"), Vec::<String>::new());
}

#[test]
fn an_alias_moves_from_an_image_to_an_index_and_back_only_forward() {
    let Some((registry, base)) = two_platform_base("mp-alias", ["jammy", "jammy"]) else {
        return;
    };
    let host = registry.host();
    let ws = Workspace::fixture("mp-alias", &host, &base.reference);
    let alias = format!("{host}/itwinai:fix-latest");
    let release = |v: &str| format!("{host}/itwinai:{v}-torch2.6-jammy");
    let mut names = Vec::new();
    for v in ["0.2.2", "0.2.3", "0.2.4", "0.2.1"] {
        names.push(release(v));
        for p in ["linux-amd64", "linux-arm64"] {
            names.push(format!("{}-{p}", release(v)));
            names.push(format!("{host}/itwinai-dev:{v}-torch2.6-jammy-{p}"));
        }
    }
    names.push(alias.clone());
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let _cleanup = Cleanup::new(&refs);
    // Release `version`, single-platform or for both, and move the alias.
    let publish = |version: &str, platforms: bool| {
        ws.write("pyproject.toml", &PYPROJECT.replace("0.2.2", version));
        ws.write(
            "env-files/images.toml",
            &catalog(&host, if platforms { PLATFORMS } else { "" }),
        );
        ws.commit();
        ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
        ws.xtask(&["image", "push", "fix", "--latest"], None, &[])
    };

    publish("0.2.2", false).expect(0);
    assert_ne!(
        registry.media_type("itwinai", "fix-latest").as_deref(),
        Some(MANIFEST_LIST)
    );
    // An image to an index.
    publish("0.2.3", true).expect(0);
    assert_eq!(
        registry.media_type("itwinai", "fix-latest").as_deref(),
        Some(MANIFEST_LIST)
    );
    assert_eq!(entries(&alias), entries(&release("0.2.3")));
    // An index to an image, forward.
    publish("0.2.4", false).expect(0);
    assert_ne!(
        registry.media_type("itwinai", "fix-latest").as_deref(),
        Some(MANIFEST_LIST)
    );
    assert_eq!(
        registry.digest("itwinai", "fix-latest"),
        registry.digest("itwinai", "0.2.4-torch2.6-jammy")
    );
    // Never back: an index of 0.2.1 does not replace the 0.2.4 image.
    let before = registry.digest("itwinai", "fix-latest");
    let run = publish("0.2.1", true);
    run.expect(1);
    assert!(run.error_line().contains("backwards"), "{}", run.stderr);
    assert_eq!(registry.digest("itwinai", "fix-latest"), before);
}

#[test]
fn partial_bases_mixed_builds_wrong_platforms_and_stale_lists_are_caught() {
    let Some((registry, base)) = two_platform_base("mp-hazard", ["jammy", "jammy"]) else {
        return;
    };
    let host = registry.host();
    let tag = "0.2.2-torch2.6-jammy";
    let reference = format!("{host}/itwinai:{tag}");
    let amd_local = format!("{reference}-linux-amd64");
    let arm_local = format!("{reference}-linux-arm64");
    let _cleanup = Cleanup::new(&[
        &amd_local,
        &arm_local,
        &format!("{host}/itwinai-dev:{tag}-linux-amd64"),
        &format!("{host}/itwinai-dev:{tag}-linux-arm64"),
    ]);

    // A single-platform base cannot serve two platforms: refused before
    // anything is built.
    let amd_only = &base.images[0].1;
    let ws = workspace("mp-hazard", &registry, amd_only);
    let run = ws.xtask(&["image", "build", "fix"], None, &[]);
    run.expect(1);
    assert!(
        run.error_line().contains(&format!(
            "base image {amd_only} is a single image, not an index, so it cannot be the base of 2 images"
        )),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("+ docker build "), "{}", run.stderr);

    // The platforms' images of one index must be one build: arm64 rebuilt
    // at a later commit does not join amd64 of the earlier one.
    ws.write("env-files/fix/Dockerfile", &dockerfile(&base.reference));
    ws.commit();
    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    ws.write("NOTES", "later\n");
    ws.commit();
    ws.xtask(&["image", "build", "fix", "--platform", ARM64], None, &[])
        .expect(0);
    let run = ws.xtask(&["image", "push", "fix"], None, &[]);
    run.expect(1);
    assert!(
        run.error_line()
            .contains("are not one build: their org.opencontainers.image.revision labels differ"),
        "{}",
        run.stderr
    );
    assert_eq!(registry.tags("itwinai-dev"), Vec::<String>::new());

    // An image of the wrong platform under a platform's name.
    docker(&["tag", &image_id(&amd_local), &arm_local]);
    let run = ws.xtask(&["image", "test", "fix"], None, &[]);
    run.expect(1);
    assert!(
        run.error_line().contains(&format!(
            "{arm_local} is not the {ARM64} image: its config says platform {AMD64}"
        )),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("+ docker run"), "{}", run.stderr);

    // A manifest list a stopped run left in the docker CLI's store does
    // not stand in for the registry: the push still publishes.
    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    let stale = std::process::Command::new("docker")
        .env("DOCKER_CONFIG", ws.home.path().join(".docker"))
        .args(["manifest", "create", "--insecure", &reference, amd_only])
        .output()
        .unwrap();
    assert!(stale.status.success(), "{stale:?}");
    let run = ws.xtask(&["image", "push", "fix", "--json"], None, &[]);
    run.expect(0);
    assert_eq!(
        get(&json(&run.stdout).as_array().unwrap()[0], "status").as_str(),
        Some("pushed")
    );
    assert_eq!(
        registry.media_type("itwinai", tag).as_deref(),
        Some(MANIFEST_LIST)
    );
    let platforms: Vec<String> = entries(&reference).into_iter().map(|(p, _)| p).collect();
    assert_eq!(platforms, [AMD64, ARM64]);
}

/// Two runners, one platform each (a native arm64 runner beside an amd64
/// one): the second development push adds its platform to the index the
/// first wrote, when it is the same build; another build's index is not
/// replaced by a partial one.
#[test]
fn separate_runners_assemble_one_development_index() {
    let Some((registry, base)) = two_platform_base("mp-runners", ["jammy", "jammy"]) else {
        return;
    };
    let host = registry.host();
    let local = |r: &str, p: &str| format!("{r}-{}", p.replace('/', "-"));
    let ws = workspace("mp-runners", &registry, &base.reference);
    let dev_tag = format!("0.2.2-torch2.6-jammy-{}", &ws.head()[..12]);
    let dev_ref = format!("{host}/itwinai-dev:{dev_tag}");
    let _cleanup = Cleanup::new(&[&local(&dev_ref, AMD64), &local(&dev_ref, ARM64)]);

    // Runner A: amd64 only. The index holds amd64.
    for args in [
        &["image", "build", "fix", "--dev", "--platform", AMD64][..],
        &["image", "push", "fix", "--dev", "--platform", AMD64],
    ] {
        ws.xtask(args, None, &[]).expect(0);
    }
    let first = entries(&dev_ref);
    assert_eq!(
        first.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
        [AMD64]
    );
    // A release needs every declared platform: it says how to add arm64.
    let run = ws.xtask(&["release", "fix"], None, &[]);
    run.expect(1);
    assert!(
        run.stderr.contains(&format!("fix: {dev_ref} has no {ARM64} image (")) && run.stderr.contains(&format!("); on a {ARM64} runner (or under emulation), `cargo xtask image build fix --dev --platform {ARM64}`, then `image test` and `image push` with the same flags, and release again")),
        "{}",
        run.stderr
    );

    // Runner B: arm64 of the same commit. The index gains arm64; amd64's
    // entry is the very manifest runner A wrote.
    docker(&["rmi", &local(&dev_ref, AMD64)]);
    for args in [
        &["image", "build", "fix", "--dev", "--platform", ARM64][..],
        &["image", "push", "fix", "--dev", "--platform", ARM64],
    ] {
        ws.xtask(args, None, &[]).expect(0);
    }
    let both = entries(&dev_ref);
    assert_eq!(
        both.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
        [AMD64, ARM64]
    );
    assert_eq!(both[0], first[0], "amd64 kept as written");
    assert_eq!(
        registry.tags("itwinai-dev"),
        [dev_tag.as_str()],
        "no staging tags"
    );

    // Pushed again, arm64 replaces only its own entry (here: the same).
    ws.xtask(
        &["image", "push", "fix", "--dev", "--platform", ARM64],
        None,
        &[],
    )
    .expect(0);
    assert_eq!(entries(&dev_ref), both);

    // Another build under the same tag (a later commit, --tag): refused,
    // the index is left as it was.
    let shared = format!("{host}/itwinai-dev:shared");
    let _shared = Cleanup::new(&[&local(&shared, AMD64), &local(&shared, ARM64)]);
    let tagged = |p: &str, verb: &str| {
        ws.xtask(
            &[
                "image",
                verb,
                "fix",
                "--dev",
                "--tag",
                "shared",
                "--platform",
                p,
            ],
            None,
            &[],
        )
    };
    tagged(AMD64, "build").expect(0);
    tagged(AMD64, "push").expect(0);
    let before = entries(&shared);
    ws.write("NOTES", "later\n");
    ws.commit();
    tagged(ARM64, "build").expect(0);
    let run = tagged(ARM64, "push");
    run.expect(1);
    assert!(
        run.error_line()
            .contains("are not one build: their org.opencontainers.image.revision labels differ")
            && run
                .error_line()
                .contains("holds another build's linux/amd64"),
        "{}",
        run.stderr
    );
    assert_eq!(entries(&shared), before);
}

/// `DOCKER_DEFAULT_PLATFORM` chooses nothing: a flavour without
/// `platforms` is built for the engine's own platform, named explicitly,
/// and an image of another platform under its name is never pushed.
#[test]
fn docker_default_platform_chooses_nothing() {
    let Some((registry, base)) = two_platform_base("mp-default", ["jammy", "jammy"]) else {
        return;
    };
    let host = registry.host();
    let ws = Workspace::fixture("mp-default", &host, &base.reference);
    let reference = format!("{host}/itwinai:0.2.2-torch2.6-jammy");
    let (_, arm_image) = base.images.iter().find(|(p, _)| p == ARM64).unwrap();
    let _cleanup = Cleanup::new(&[&reference, arm_image]);
    let arm = [("DOCKER_DEFAULT_PLATFORM", ARM64)];

    let run = ws.xtask(&["image", "build", "fix"], None, &arm);
    run.expect(0);
    assert!(
        run.stderr.lines().any(|l| l.starts_with("+ docker build ") && l.contains(&format!("--platform {AMD64}"))),
        "{}",
        run.stderr
    );
    assert_eq!(image_platform(&reference), AMD64);

    // An arm64 image under the release's name: push refuses it.
    docker(&["pull", "-q", "--platform", ARM64, arm_image]);
    docker(&["tag", arm_image, &reference]);
    let run = ws.xtask(&["image", "push", "fix"], None, &arm);
    run.expect(1);
    assert!(
        run.error_line().contains(&format!(
            "its config says platform {ARM64}, but it must be the {AMD64} image"
        )),
        "{}",
        run.stderr
    );
    assert_eq!(registry.tags("itwinai"), Vec::<String>::new());
}

/// The engine's platform is read from the engine's own socket while docker
/// is still asked which engine it talks to, and the base pulled with it;
/// a docker that turns out to talk to another engine is asked for that
/// engine's platform before anything else runs: the same platform goes on
/// as planned, another is planned again (pulled and built for it).
#[test]
fn a_build_planned_for_the_socket_s_engine_goes_to_the_engine_docker_talks_to() {
    let Some((registry, base)) = two_platform_base("mp-other-engine", ["jammy", "jammy"]) else {
        return;
    };
    let host = registry.host();
    let ws = Workspace::fixture("mp-other-engine", &host, &base.reference);
    let reference = format!("{host}/itwinai:0.2.2-torch2.6-jammy");
    let _cleanup = Cleanup::new(&[&reference, &base.reference]);
    // Another engine's ID, named slowly (after the socket named its
    // platform); `docker version` as that engine answers it.
    let other = |label: &str, platform: &str| {
        let answer = match platform {
            "" => String::new(),
            p => format!(r#"[ "$1" = version ] && {{ echo {p}; exit 0; }}"#),
        };
        docker_wrapper(
            label,
            &format!(
                r#"printf '%s\n' "$*" >> "$DIR/calls.log"
[ "$1" = info ] && {{ sleep 1; echo '"ANOTHER:ENGINE:ID/elsewhere"'; exit 0; }}
{answer}"#
            ),
        )
    };
    let engine_steps = |dir: &TempDir| -> Vec<String> {
        std::fs::read_to_string(dir.path().join("calls.log"))
            .unwrap()
            .lines()
            .filter(|l| {
                ["pull ", "version ", "build "]
                    .iter()
                    .any(|v| l.starts_with(v))
            })
            .map(|l| l.split(" -- ").next().unwrap().to_string())
            .collect()
    };
    let pull = |p: &str| format!("pull --platform {p}");
    let version = "version --format {{.Server.Os}}/{{.Server.Arch}}".to_string();

    // Docker's engine is of the socket's platform: the plan goes on.
    let same = other("e2e-other-engine-same", "");
    let run = ws.xtask(&["image", "build", "fix"], Some(same.path()), &[]);
    run.expect(0);
    let steps = engine_steps(&same);
    assert_eq!(steps[..2], [pull(AMD64), version.clone()], "{steps:?}");
    assert!(
        steps[2].starts_with(&format!("build --force-rm --platform {AMD64} ")),
        "{steps:?}"
    );
    assert_eq!(steps.len(), 3, "{steps:?}");
    assert!(!run.stderr.contains("planned again"), "{}", run.stderr);
    assert_eq!(image_platform(&reference), AMD64);
    let amd64_base = image_id(&base.reference);

    // Docker's engine is arm64: nothing is built for amd64; the base is
    // pulled again and the image built, checked and named for arm64.
    let arm = other("e2e-other-engine-arm64", ARM64);
    let run = ws.xtask(&["image", "build", "fix"], Some(arm.path()), &[]);
    run.expect(0);
    let steps = engine_steps(&arm);
    assert_eq!(
        steps[..3],
        [pull(AMD64), version.clone(), pull(ARM64)],
        "{steps:?}"
    );
    assert!(
        steps[3..]
            .iter()
            .all(|s| s.starts_with(&format!("build --force-rm --platform {ARM64} "))),
        "{steps:?}"
    );
    assert_eq!(steps.len(), 4, "{steps:?}");
    assert!(
        run.stderr.contains(&format!(
            "note: docker talks to another engine than the one on /var/run/docker.sock: it is {ARM64}, not {AMD64}; the build is planned again for {ARM64}"
        )),
        "{}",
        run.stderr
    );
    assert_eq!(image_platform(&reference), ARM64);

    // A base with no image for the socket's platform: the pull for it
    // fails, for that platform, and the build is planned again for
    // docker's, where the pull's failure would have stopped it.
    let arm_only = make_multi_platform_base_with(
        &registry,
        &format!("mp-arm-only-{}", std::process::id()),
        &[("torch", "2.6.0")],
        &[(ARM64, "jammy")],
    );
    let _arm_only = Cleanup::new(&[&arm_only.reference]);
    let ws = Workspace::fixture("mp-arm-only", &host, &arm_only.reference);
    let arm = other("e2e-other-engine-arm-only", ARM64);
    let run = ws.xtask(&["image", "build", "fix"], Some(arm.path()), &[]);
    run.expect(0);
    let steps = engine_steps(&arm);
    assert_eq!(steps[..3], [pull(AMD64), version, pull(ARM64)], "{steps:?}");
    assert_eq!(steps.len(), 4, "{steps:?}");
    assert!(
        run.stderr.contains("the build is planned again"),
        "{}",
        run.stderr
    );
    // The first attempt's pull is no failure of the build.
    assert!(!run.stderr.contains("FAILED"), "{}", run.stderr);
    assert_eq!(image_platform(&reference), ARM64);
    // The base's amd64 image, left without its name by the arm64 pull.
    drop(Cleanup::new(&[&reference, &amd64_base]));
}

/// A final stage whose `FROM --platform=` is not a platform its flavour
/// is built for: with declared platforms the files say so, so that flavour
/// alone is unusable (`--all` leaves it out and plans the other one); a
/// native build is refused when its platform is known. Nothing runs.
#[test]
fn a_final_from_platform_another_than_the_one_built_is_refused_before_the_build() {
    let reg = "127.0.0.1:5999";
    let base = "127.0.0.1:5999/base:1";
    let ws = Workspace::fixture(&test_name(), reg, base);
    let two = "\n[flavours.two]\ndockerfile = \"env-files/two/Dockerfile\"\nframework = \"tf\"\nframework-version = \"2.16\"\ndistro = \"jammy\"\n";
    ws.write(
        "env-files/images.toml",
        &(catalog(reg, "") + two + PLATFORMS),
    );
    let pinned_to =
        |p: &str| dockerfile(base).replacen("FROM ", &format!("FROM --platform={p} "), 1);
    ws.write("env-files/two/Dockerfile", &pinned_to(ARM64));
    ws.commit();
    let fake = FakeDocker::new();

    let run = ws.xtask(
        &["image", "build", "--all", "--dry-run"],
        Some(fake.bin()),
        &[],
    );
    run.expect(0);
    assert!(
        run.stderr.contains("warning: --all leaves out flavour 'two', whose Dockerfile cannot be used: env-files/two/Dockerfile:2: the final stage is built FROM --platform=linux/arm64 but this image is built for linux/amd64"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("itwinai:0.2.2-torch2.6-jammy"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("tf2.16"), "{}", run.stdout);

    let run = ws.xtask(
        &["image", "build", "two", "--dry-run"],
        Some(fake.bin()),
        &[],
    );
    run.expect(2);
    assert!(
        run.error_line().contains(
            "env-files/two/Dockerfile:2: the final stage is built FROM --platform=linux/arm64"
        ),
        "{}",
        run.stderr
    );

    // Native (no platforms declared): known once the engine's is.
    ws.write("env-files/images.toml", &catalog(reg, ""));
    ws.write("env-files/fix/Dockerfile", &pinned_to("linux/riscv64"));
    ws.commit();
    let run = ws.xtask(
        &["image", "build", "fix", "--dry-run"],
        Some(fake.bin()),
        &[],
    );
    run.expect(2);
    assert!(run.error_line().contains("env-files/fix/Dockerfile:2: the final stage is built FROM --platform=linux/riscv64 but this image is built for linux/"), "{}", run.stderr);
    assert!(!run.stderr.contains("+ docker build "), "{}", run.stderr);
}
