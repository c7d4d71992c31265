//! The promotion rules (`image tag --from`): which source may become the
//! flavour's reference, and whether the result is a faithful relabelling.

use std::collections::BTreeMap;

use crate::model::image::ImageInfo;
use crate::model::labels;
use crate::model::version::Version;

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

/// Why a development image whose `ref_name` label has the default form
/// (`…-<hex>[-dirty]`, `hex` its digits) is not what that tag says, if it
/// is not: its hex digits must begin its `revision` label, the commit it
/// was built from. `--dev --tag` may name any tag, a default-looking one
/// too; such an image is not the commit its tag names and is not promoted.
pub fn dev_tag_names_its_commit(ref_name: &str, hex: &str, revision: &str) -> Result<(), String> {
    if !hex.is_empty() && revision.starts_with(hex) {
        return Ok(());
    }
    let shown = if revision.is_empty() {
        "missing".to_string()
    } else {
        format!("'{revision}'")
    };
    Err(format!(
        "its {} label is '{ref_name}', but {hex} is not its commit: its {} label is {shown}; a tag given by hand that looks like a default one is not promoted, build and push the commit with `--dev` and its default tag",
        labels::REF_NAME,
        labels::REVISION
    ))
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

    #[test]
    fn a_default_looking_dev_tag_must_name_the_image_s_commit() {
        let commit = format!("0123456789ab{}", "c".repeat(28));
        let r = "r.io/ns/itwinai-dev:0.3.0-beta-torch2.6-noble-";
        // (hex of the tag, revision label, promotable)
        let cases: [(&str, &str, bool); 7] = [
            ("0123456789ab", &commit, true),
            ("0123456789", &commit, true),
            // The hex is another commit's, or only its end matches.
            ("aaaaaaaaaaaa", &commit, false),
            ("cccccccccccc", &commit, false),
            // No revision label, a shorter one, or a different case.
            ("0123456789ab", "", false),
            ("0123456789ab", "0123456789a", false),
            ("0123456789ab", "0123456789AB", false),
        ];
        for (hex, revision, ok) in cases {
            let got = dev_tag_names_its_commit(&format!("{r}{hex}"), hex, revision);
            assert_eq!(got.is_ok(), ok, "{hex} {revision}: {got:?}");
            if let Err(why) = got {
                assert!(why.contains(&format!("{hex} is not its commit")), "{why}");
                assert!(why.contains(labels::REVISION), "{why}");
            }
        }
        assert!(dev_tag_names_its_commit("x", "", &commit).is_err());
    }
}
