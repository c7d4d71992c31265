//! The promotion rules (`image tag --from`): which source may become the
//! flavour's reference, and whether the result is a faithful relabelling.

use std::collections::BTreeMap;

use crate::model::image::ImageInfo;
use crate::model::labels;
use crate::model::version::Version;
use crate::support::json::Json;

/// Why a source image may not be promoted to `version`, if it may not.
pub fn check_promotable(source: &str, info: &ImageInfo, version: &Version) -> Result<(), String> {
    let v = info
        .labels
        .get(labels::VERSION)
        .map(String::as_str)
        .unwrap_or("");
    if v != version.to_string() {
        return Err(format!(
            "refusing to promote {source}: its {} is '{v}' but pyproject.toml says {version}; promote an image built at this version",
            labels::VERSION
        ));
    }
    if !info.onbuild.is_empty() {
        return Err(format!(
            "refusing to promote {source}: it has ONBUILD triggers ({}), which a promotion would run and which would change what was tested; drop them from its Dockerfile",
            info.onbuild.join("; ")
        ));
    }
    Ok(())
}

/// What differs between a source and its promoted image, besides the new
/// ref.name: layers must be identical and every other label kept.
pub fn promotion_differences(
    source: &ImageInfo,
    promoted: &ImageInfo,
    target: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    if source.layers != promoted.layers {
        out.push("its layers differ from the source's".to_string());
    }
    if promoted.labels.get(labels::REF_NAME).map(String::as_str) != Some(target) {
        out.push(format!("its {} is not {target}", labels::REF_NAME));
    }
    let others = |i: &ImageInfo| -> BTreeMap<String, String> {
        i.labels
            .iter()
            .filter(|(k, _)| *k != labels::REF_NAME)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    if others(source) != others(promoted) {
        out.push("its labels other than ref.name differ from the source's".to_string());
    }
    if source.behaviour != promoted.behaviour {
        out.push(format!(
            "its config differs from the source's (env, command, entrypoint, user, workdir, ports, volumes or triggers): {} against {}",
            promoted.behaviour, source.behaviour
        ));
    }
    out
}

/// The config of the promoted image: `source` (a config blob's text)
/// with only `config.Labels[ref.name]` set to `ref_name`, the rest of its
/// bytes as they were (the pair is replaced where it stands; the same pair
/// in the build's own `container_config` stays, as a relabelling build
/// would leave it). Checked by [`relabelled_only`].
pub fn relabel_config(source: &str, ref_name: &str) -> Result<String, String> {
    let doc = Json::parse(source).map_err(|e| format!("a config that is not JSON ({e})"))?;
    let old = doc
        .get("config")
        .and_then(|c| c.get("Labels"))
        .and_then(|l| l.get(labels::REF_NAME))
        .and_then(Json::as_str)
        .ok_or_else(|| format!("a config without the label {}", labels::REF_NAME))?;
    let pair = |v: &str| {
        format!(
            "{}:{}",
            Json::str(labels::REF_NAME).render(),
            Json::str(v).render()
        )
    };
    let (from, to) = (pair(old), pair(ref_name));
    for (at, _) in source.match_indices(&from) {
        let candidate = format!("{}{to}{}", &source[..at], &source[at + from.len()..]);
        if relabelled_only(source, &candidate, ref_name).is_ok() {
            return Ok(candidate);
        }
    }
    Err(format!(
        "its config does not hold {} as one JSON pair of config.Labels; it cannot be relabelled in place",
        labels::REF_NAME
    ))
}

/// Whether `promoted` is `source` with only `config.Labels[ref.name]` set
/// to `ref_name`: every other value of the JSON document the same.
pub fn relabelled_only(source: &str, promoted: &str, ref_name: &str) -> Result<(), String> {
    let parse = |t: &str| Json::parse(t).map_err(|e| format!("a config that is not JSON ({e})"));
    let (mut a, mut b) = (parse(source)?, parse(promoted)?);
    let label = |doc: &mut Json| -> Option<Json> {
        let Json::Object(top) = doc else { return None };
        let Some(Json::Object(config)) = top.get_mut("config") else {
            return None;
        };
        let Some(Json::Object(l)) = config.get_mut("Labels") else {
            return None;
        };
        l.remove(labels::REF_NAME)
    };
    let (old, new) = (label(&mut a), label(&mut b));
    if new.as_ref().and_then(Json::as_str) != Some(ref_name) {
        return Err(format!("its {} is not {ref_name}", labels::REF_NAME));
    }
    if old.is_none() {
        return Err(format!("the source config has no {}", labels::REF_NAME));
    }
    if a != b {
        return Err(format!(
            "its config differs from the source's in more than {}",
            labels::REF_NAME
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(version: &str, refname: &str, layers: &[&str]) -> ImageInfo {
        ImageInfo {
            id: "sha256:x".into(),
            repo_digests: vec![],
            labels: [
                (labels::VERSION.to_string(), version.to_string()),
                (labels::REF_NAME.to_string(), refname.to_string()),
            ]
            .into(),
            layers: layers.iter().map(|s| s.to_string()).collect(),
            ..ImageInfo::default()
        }
    }

    #[test]
    fn promotable_sources() {
        let v = Version::parse("0.2.2").unwrap();
        assert!(check_promotable("s", &info("0.2.2", "dev", &[]), &v).is_ok());
        assert!(check_promotable("s", &info("0.2.1", "dev", &[]), &v)
            .unwrap_err()
            .contains("is '0.2.1'"));
        let mut no_labels = info("0.2.2", "dev", &[]);
        no_labels.labels.clear();
        assert!(check_promotable("s", &no_labels, &v).is_err());
        let mut triggers = info("0.2.2", "dev", &[]);
        triggers.onbuild = vec!["RUN [\"true\"]".into()];
        assert!(check_promotable("s", &triggers, &v)
            .unwrap_err()
            .contains("ONBUILD triggers"));
    }

    #[test]
    fn promotion_keeps_layers_and_labels() {
        let src = info("0.2.2", "dev:1", &["l1", "l2"]);
        let good = info("0.2.2", "prod:1", &["l1", "l2"]);
        assert!(promotion_differences(&src, &good, "prod:1").is_empty());
        assert_eq!(
            promotion_differences(&src, &info("0.2.2", "prod:1", &["l1"]), "prod:1").len(),
            1
        );
        assert_eq!(promotion_differences(&src, &good, "other:1").len(), 1);
        assert_eq!(
            promotion_differences(&src, &info("0.2.3", "prod:1", &["l1", "l2"]), "prod:1").len(),
            1
        );
        let mut other_cmd = good.clone();
        other_cmd.behaviour = r#"{"Cmd":["evil"]}"#.into();
        let diffs = promotion_differences(&src, &other_cmd, "prod:1");
        assert_eq!(diffs.len(), 1);
        assert!(diffs[0].contains("its config differs"), "{diffs:?}");
    }

    /// Shaped like what engine 20.10's classic builder writes: the label
    /// in config.Labels, again in container_config.Labels, and in the
    /// LABEL step's text.
    const CONFIG: &str = r##"{"architecture":"amd64","config":{"Env":["PATH=/bin"],"Labels":{"org.opencontainers.image.ref.name":"r/itwinai-dev:1-abc","org.opencontainers.image.version":"1"}},"container_config":{"Cmd":["#(nop) ","LABEL org.opencontainers.image.ref.name=r/itwinai-dev:1-abc"],"Labels":{"org.opencontainers.image.ref.name":"r/itwinai-dev:1-abc"}},"rootfs":{"type":"layers","diff_ids":["sha256:aa"]}}"##;

    #[test]
    fn a_relabelled_config_differs_in_ref_name_alone() {
        let out = relabel_config(CONFIG, "r/itwinai:1").unwrap();
        assert_eq!(relabelled_only(CONFIG, &out, "r/itwinai:1"), Ok(()));
        // Byte for byte the source, but the one value.
        assert_eq!(
            out,
            CONFIG.replacen(
                r#""org.opencontainers.image.ref.name":"r/itwinai-dev:1-abc","org"#,
                r#""org.opencontainers.image.ref.name":"r/itwinai:1","org"#,
                1
            )
        );
        let cases: [(&str, &str); 4] = [
            // Another label changed too.
            (r#"image.version":"1""#, r#"image.version":"2""#),
            // The layers changed.
            (r#""sha256:aa""#, r#""sha256:bb""#),
            // The environment changed.
            (r#""PATH=/bin""#, r#""PATH=/usr/bin""#),
            // The label gone.
            (r#""org.opencontainers.image.ref.name":"r/itwinai:1","#, ""),
        ];
        for (from, to) in cases {
            let bad = out.replacen(from, to, 1);
            assert_ne!(bad, out, "{from}");
            assert!(
                relabelled_only(CONFIG, &bad, "r/itwinai:1").is_err(),
                "{from}"
            );
        }
        assert!(relabelled_only(CONFIG, &out, "r/other:1").is_err());
        assert!(relabel_config(r#"{"config":{"Labels":{}}}"#, "x").is_err());
    }
}
