//! What `docker image inspect` prints: never panics; an image's
//! `behaviour` (compared to tell a faithful promotion) is canonical JSON,
//! which reads back and prints the same; its runtime ends with exactly one
//! WorkingDir and one User; picking its repository digest never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xtask::exec::docker_output::{parse_inspect, pick_repo_digest};
use xtask::support::json::Json;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(images) = parse_inspect(s) else { return };
    for info in &images {
        let behaviour = Json::parse(&info.behaviour)
            .unwrap_or_else(|e| panic!("behaviour {:?} is not JSON: {e}", info.behaviour));
        assert_eq!(behaviour.render(), info.behaviour);
        let n = info.runtime.len();
        assert!(n >= 2, "{info:?}");
        assert!(info.runtime[n - 2].starts_with("WorkingDir="), "{info:?}");
        assert!(info.runtime[n - 1].starts_with("User="), "{info:?}");
        assert!(
            info.runtime[..n - 2].iter().all(|r| r.starts_with("Env=")),
            "{info:?}"
        );
        for image in ["base:1", "ghcr.io/x/y:2"] {
            let image = xtask::model::reference::AnyRef::parse(image).unwrap();
            if let Ok(d) = pick_repo_digest(&image, &info.repo_digests) {
                assert!(info.repo_digests.contains(&d));
            }
        }
    }
});
