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
}
