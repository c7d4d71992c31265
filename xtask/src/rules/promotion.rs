//! The promotion rule (`image tag --from`, `release`): a release's config is
//! its development image's config with `ref.name` alone relabelled.

use crate::model::labels;
use crate::support::json::Json;

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

/// Where an image shows a development tag of the default form.
#[derive(Debug, Clone, Copy)]
pub enum TagSeen<'a> {
    /// Its own `ref.name` label.
    Label(&'a str),
    /// The reference it was read under (a registry-side copy keeps its
    /// label but not its tag).
    ReadAs(&'a str),
}

/// Why an image with a development tag of the default form (`hex` its
/// digits) is not what that tag says, if it is not: its hex digits must
/// begin its `revision` label, the commit it was built from. A tag given by
/// hand, or a copy of another commit's image under that tag, is not that
/// commit's build and is not promoted.
pub fn dev_tag_names_its_commit(seen: TagSeen, hex: &str, revision: &str) -> Result<(), String> {
    if !hex.is_empty() && revision.starts_with(hex) {
        return Ok(());
    }
    let (seen, what) = match seen {
        TagSeen::Label(r) => (
            format!("its {} label is '{r}'", labels::REF_NAME),
            "a tag given by hand that looks like a default one is not promoted, build and push the commit with `--dev` and its default tag",
        ),
        TagSeen::ReadAs(r) => (
            format!("it is read as {r}, a tag that names commit {hex}"),
            "it is another commit's image copied under that tag; promote that commit's own development tag, or build, test and push this one (`--dev`)",
        ),
    };
    Err(format!(
        "{seen}, but {hex} is not its commit: its {} label is {}; {what}",
        labels::REVISION,
        label_shown(revision)
    ))
}

/// A label's value for a message: quoted, or `missing`.
fn label_shown(value: &str) -> String {
    if value.is_empty() {
        "missing".to_string()
    } else {
        format!("'{value}'")
    }
}

/// A manifest and its config list the same number of layers (docker
/// refuses to pull an image whose do not: a promotion would publish a
/// release nobody can pull).
pub fn layers_match(config_text: &str, manifest_layers: usize) -> Result<(), String> {
    let diff_ids = crate::oci::distribution::config_diff_ids(config_text)?;
    if diff_ids.len() == manifest_layers {
        return Ok(());
    }
    Err(format!(
        "its manifest lists {manifest_layers} layers but its config {}: docker would refuse to pull it",
        diff_ids.len()
    ))
}

/// A release is HEAD's commit: the image found under HEAD's development
/// tag must have been built from it (`revision`), whatever tag it sits
/// under (a registry-side copy of another commit's image is not HEAD's).
pub fn built_from(revision: &str, commit: &str) -> Result<(), String> {
    if revision == commit {
        return Ok(());
    }
    let shown = label_shown(revision);
    Err(format!(
        "its {} label is {shown}, not HEAD's commit {commit}: a release is HEAD's build, whatever tag the image was read under; build, test and push HEAD (`--dev`) and promote that",
        labels::REVISION
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let got = dev_tag_names_its_commit(TagSeen::Label(&format!("{r}{hex}")), hex, revision);
            assert_eq!(got.is_ok(), ok, "{hex} {revision}: {got:?}");
            if let Err(why) = got {
                assert!(why.contains(&format!("{hex} is not its commit")), "{why}");
                assert!(why.contains(labels::REVISION), "{why}");
            }
        }
        assert!(dev_tag_names_its_commit(TagSeen::Label("x"), "", &commit).is_err());
    }

    #[test]
    fn a_manifest_and_its_config_list_as_many_layers() {
        let config = |n: usize| {
            let ids: Vec<String> = (0..n)
                .map(|i| format!("\"sha256:{}\"", format!("{i:x}").repeat(64)))
                .collect();
            format!(
                r#"{{"rootfs":{{"type":"layers","diff_ids":[{}]}}}}"#,
                ids.join(",")
            )
        };
        assert_eq!(layers_match(&config(2), 2), Ok(()));
        assert_eq!(layers_match(&config(0), 0), Ok(()));
        let why = layers_match(&config(2), 3).unwrap_err();
        assert!(why.contains("lists 3 layers but its config 2"), "{why}");
        assert!(layers_match(&config(1), 0).is_err());
        assert!(layers_match("not json", 0).is_err());
    }

    #[test]
    fn a_source_read_under_a_default_tag_is_that_commit_s() {
        let hex = "0123456789ab";
        let r = format!("r/itwinai-dev:0.2.2-torch2.6-jammy-{hex}");
        assert_eq!(
            dev_tag_names_its_commit(TagSeen::ReadAs(&r), hex, &format!("{hex}cdef")),
            Ok(())
        );
        for revision in ["fedcba9876543210", "", "0123456789AB"] {
            let why = dev_tag_names_its_commit(TagSeen::ReadAs(&r), hex, revision).unwrap_err();
            assert!(
                why.contains(&format!("a tag that names commit {hex}")),
                "{why}"
            );
        }
        assert!(dev_tag_names_its_commit(TagSeen::ReadAs(&r), "", "x").is_err());
    }

    #[test]
    fn a_release_source_is_built_from_head() {
        let head = "0123456789abcdef0123456789abcdef01234567";
        let cases = [
            (head, true),
            ("0123456789abcdef0123456789abcdef01234568", false),
            ("0123456789ab", false),
            ("0123456789ABCDEF0123456789ABCDEF01234567", false),
            ("", false),
        ];
        for (revision, ok) in cases {
            let got = built_from(revision, head);
            assert_eq!(got.is_ok(), ok, "{revision}: {got:?}");
            if let Err(why) = got {
                assert!(why.contains(&format!("not HEAD's commit {head}")), "{why}");
            }
        }
    }
}
