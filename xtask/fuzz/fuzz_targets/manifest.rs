//! What a registry serves as a manifest, an image config or a tag list:
//! never panics; each reading prints back (as JSON of the same shape) to
//! what reads the same, and an index entry's platform formats back to
//! itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xtask::model::platform::Platform;
use xtask::oci::distribution::{
    config_diff_ids, config_labels, parse_manifest, parse_tags, Manifest,
};
use xtask::support::json::Json;

fn strings(items: &[String]) -> Json {
    Json::Array(items.iter().map(|s| Json::str(s.clone())).collect())
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    match parse_manifest(s) {
        Ok(Manifest::Index(entries)) => {
            for (platform, _) in &entries {
                assert_eq!(
                    Platform::parse(&platform.to_string()).as_ref(),
                    Ok(platform)
                );
            }
        }
        Ok(Manifest::Image { config }) => {
            let doc = Json::object([(
                "config",
                Json::object([("digest", Json::str(config.clone()))]),
            )]);
            assert_eq!(
                parse_manifest(&doc.render()),
                Ok(Manifest::Image { config })
            );
        }
        Err(_) => {}
    }
    if let Ok(labels) = config_labels(s) {
        let map = labels
            .iter()
            .map(|(k, v)| (k.clone(), Json::str(v.clone())));
        let doc = Json::object([("config", Json::object([("Labels", Json::object(map))]))]);
        assert_eq!(config_labels(&doc.render()).as_ref(), Ok(&labels));
    }
    if let Ok(ids) = config_diff_ids(s) {
        let doc = Json::object([("rootfs", Json::object([("diff_ids", strings(&ids))]))]);
        assert_eq!(config_diff_ids(&doc.render()).as_ref(), Ok(&ids));
    }
    if let Ok(tags) = parse_tags(s) {
        let doc = Json::object([("tags", strings(&tags))]);
        assert_eq!(parse_tags(&doc.render()).as_ref(), Ok(&tags));
    }
});
