//! Test evidence in the registry: an OCI artifact whose subject is the
//! published image's manifest, found through the referrers tag on a
//! registry without the referrers API (Debian's docker-registry).

use crate::support::*;
use xtask::support::json::Json;

/// A test that runs the image's own python3 and passes.
const PASSING: &str = r#"["python3", '-c', "import importlib.metadata as m; assert m.version('torch').startswith('2.6')"]"#;

const TAG: &str = "0.2.2-torch2.6-jammy";

/// The test evidence the registry lists for the manifest `digest` of
/// `itwinai`: each payload, as JSON.
pub fn evidence_of(registry: &Registry, digest: &str) -> Vec<Json> {
    let tag = digest.replacen(':', "-", 1);
    let Some(index) = registry.body(&format!("/v2/itwinai/manifests/{tag}")) else {
        return Vec::new();
    };
    let index = Json::parse(&index).unwrap();
    let mut out = Vec::new();
    for entry in index.get("manifests").and_then(Json::as_array).unwrap() {
        let d = entry.get("digest").and_then(Json::as_str).unwrap();
        let artifact = Json::parse(
            &registry
                .body(&format!("/v2/itwinai/manifests/{d}"))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            artifact
                .get("subject")
                .and_then(|s| s.get("digest"))
                .and_then(Json::as_str),
            Some(digest)
        );
        let payload = artifact.get("layers").and_then(Json::as_array).unwrap()[0]
            .get("digest")
            .and_then(Json::as_str)
            .unwrap()
            .to_string();
        let text = registry
            .body(&format!("/v2/itwinai/blobs/{payload}"))
            .unwrap();
        out.push(Json::parse(&text).unwrap());
    }
    out
}

#[test]
fn a_push_records_the_test_next_to_the_image() {
    let Some(EngineTest { registry, base, ws }) =
        EngineTest::start_with("ev-push", JAMMY, |host| {
            catalog(host, &format!("test = {PASSING}\n"))
        })
    else {
        return;
    };
    let reference = format!("{}/itwinai:{TAG}", registry.host());
    let _cleanup = Cleanup::new(&[&reference, &base]);
    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    let id = image_id(&reference);
    ws.xtask(&["image", "push", "fix"], None, &[]).expect(0);
    let digest = registry.digest("itwinai", TAG).expect("pushed");
    let found = evidence_of(&registry, &digest);
    assert_eq!(found.len(), 1, "{found:?}");
    let e = &found[0];
    let s = |k: &str| e.get(k).and_then(Json::as_str).map(str::to_string);
    assert_eq!(s("image_id"), Some(id));
    assert_eq!(s("flavour").as_deref(), Some("fix"));
    assert_eq!(s("result").as_deref(), Some("passed"));
    assert!(s("test").unwrap().contains("network=none python3"), "{e:?}");
    // The referrers tag is the only tag besides the release's.
    let mut tags = registry.all_tags("itwinai");
    tags.sort();
    assert_eq!(tags, vec![TAG.to_string(), digest.replacen(':', "-", 1)]);
}
