//! The test infrastructure for multi-platform images (linux/amd64 and
//! linux/arm64) against a real engine and a real registry on 127.0.0.1: an
//! arm64 base whose python3 runs under QEMU emulation, and a multi-platform
//! base (a manifest list) whose every platform pulls as itself. Without an
//! engine or the emulator they fail, unless XTASK_DOCKER_TESTS=skip
//! (`.ci/run` sets both up).

use crate::support::*;
use xtask::support::json::Json;

const AMD64: &str = "linux/amd64";
const ARM64: &str = "linux/arm64";

/// What `python3 -` reads on stdin in the tests: the machine it runs on and
/// the version of torch its `importlib.metadata` finds.
const PROBE: &str =
    "import platform, importlib.metadata as m\nprint(platform.machine(), m.version('torch'))\n";

/// `python3` of `image` as `platform`, with no network, running `program`.
fn python(image: &str, platform: &str, program: &str) -> String {
    let args = [
        "run",
        "--rm",
        "-i",
        "--network",
        "none",
        "--platform",
        platform,
        "--entrypoint",
        "python3",
        image,
        "-",
    ];
    docker_with_input(&args, program).trim().to_string()
}

#[test]
fn an_arm64_base_runs_its_python_under_emulation() {
    if !engine_available() || !emulation_available(ARM64) {
        return;
    }
    let image = python_image_for(ARM64);
    assert_eq!(image_platform(&image), ARM64, "{image}");
    assert_eq!(python_image_for(ARM64), image, "made once per process");
    assert_ne!(image, python_image(), "not this machine's python image");

    let registry = Registry::start();
    let base = make_base_with_platform(&registry, "arm", "jammy", &[("torch", "2.6.0")], ARM64);
    assert!(
        !docker_ok(&["image", "inspect", &base]),
        "the local tag is removed"
    );
    docker(&["pull", "-q", "--platform", ARM64, &base]);
    assert_eq!(image_platform(&base), ARM64);
    assert_eq!(python(&base, ARM64, PROBE), "aarch64 2.6.0");
    assert_eq!(
        python(&base, ARM64, "print(open('/etc/os-release').read())"),
        "ID=ubuntu\nVERSION_CODENAME=jammy"
    );
    docker(&["rmi", &base]);
}

#[test]
fn a_multi_platform_base_serves_each_platform_as_itself() {
    if !engine_available() || !emulation_available(ARM64) {
        return;
    }
    let registry = Registry::start();
    let base = make_multi_platform_base(
        &registry,
        "multi",
        "jammy",
        &[("torch", "2.6.0")],
        &[AMD64, ARM64],
    );
    assert_eq!(base.reference, format!("{}/multi:1", registry.host()));
    assert_eq!(
        registry.media_type("multi", "1").as_deref(),
        Some(MANIFEST_LIST)
    );
    assert!(base.digest.starts_with("sha256:"), "{}", base.digest);

    // The list names exactly the two platforms, each the image pushed for it.
    let list = |reference: &str| {
        Json::parse(&docker(&["manifest", "inspect", "--insecure", reference])).unwrap()
    };
    let inspected = list(&base.reference);
    assert_eq!(
        inspected.get("mediaType").and_then(Json::as_str),
        Some(MANIFEST_LIST)
    );
    let mut entries: Vec<(String, String)> = inspected
        .get("manifests")
        .and_then(Json::as_array)
        .expect("manifests")
        .iter()
        .map(|m| {
            let p = m.get("platform").expect("platform");
            assert_eq!(p.get("variant"), None, "{m:?}");
            let platform = format!(
                "{}/{}",
                p.get("os").and_then(Json::as_str).unwrap(),
                p.get("architecture").and_then(Json::as_str).unwrap()
            );
            (
                platform,
                m.get("digest").and_then(Json::as_str).unwrap().to_string(),
            )
        })
        .collect();
    entries.sort();
    let platforms: Vec<&str> = entries.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(platforms, [AMD64, ARM64]);
    for (platform, image) in &base.images {
        let tag = image.rsplit_once(':').unwrap().1;
        let pushed = registry.digest("multi", tag);
        let listed = entries.iter().find(|(p, _)| p == platform).map(|(_, d)| d);
        assert_eq!(pushed.as_ref(), listed, "{platform}: {image}");
    }
    // The digest is the list's: by digest, the registry serves the same list.
    let by_digest = format!("{}/multi@{}", registry.host(), base.digest);
    assert_eq!(list(&by_digest), inspected);

    // Each platform pulls as itself, and its python3 runs as that machine.
    // (Each is removed before the next pull takes its tag: none is left.)
    for platform in [AMD64, ARM64] {
        docker(&["pull", "-q", "--platform", platform, &base.reference]);
        assert_eq!(image_platform(&base.reference), platform);
        let machine = fixture_platform(platform).machine;
        assert_eq!(
            python(&base.reference, platform, PROBE),
            format!("{machine} 2.6.0")
        );
        docker(&["rmi", &base.reference]);
    }
}
