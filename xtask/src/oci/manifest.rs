//! The manifests the tool writes, as text: one image (Docker's schema 2, as
//! `docker push` writes it, which every engine and CVMFS's unpacker read)
//! and an index of platform images (Docker's manifest list, as `docker
//! manifest push` writes it). And what `docker save` wrote: its
//! `manifest.json`, which names the config and the layer files.

use crate::model::platform::Platform;
use crate::support::json::Json;

pub const IMAGE_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const INDEX_TYPE: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const CONFIG_TYPE: &str = "application/vnd.docker.container.image.v1+json";
pub const LAYER_TYPE: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// The largest manifest written (it goes to curl as one argument, below
/// Linux's 128 KiB per argument): Docker allows 127 layers, about 25 KiB.
pub const MAX_MANIFEST: usize = 100 * 1024;

/// A blob as a manifest names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

impl Descriptor {
    fn json(&self) -> Json {
        Json::object([
            ("mediaType", Json::str(&self.media_type)),
            ("digest", Json::str(&self.digest)),
            // Sizes are far below 2^53: exact as JSON numbers.
            ("size", Json::Number(self.size as f64)),
        ])
    }
}

/// The manifest of one image: its config and its layers, in order.
pub fn image(config: &Descriptor, layers: &[Descriptor]) -> Result<String, String> {
    bounded(Json::object([
        ("schemaVersion", Json::Number(2.0)),
        ("mediaType", Json::str(IMAGE_TYPE)),
        ("config", config.json()),
        (
            "layers",
            Json::Array(layers.iter().map(Descriptor::json).collect()),
        ),
    ]))
}

/// The index of platform images: each entry an image manifest of this
/// repository, with its platform.
pub fn index(entries: &[(Platform, Descriptor)]) -> Result<String, String> {
    let entry = |(p, d): &(Platform, Descriptor)| {
        let mut platform = vec![
            ("architecture", Json::str(&p.arch)),
            ("os", Json::str(&p.os)),
        ];
        if let Some(v) = &p.variant {
            platform.push(("variant", Json::str(v)));
        }
        let Json::Object(mut fields) = d.json() else {
            unreachable!("a descriptor is an object")
        };
        fields.insert("platform".into(), Json::object(platform));
        Json::Object(fields)
    };
    bounded(Json::object([
        ("schemaVersion", Json::Number(2.0)),
        ("mediaType", Json::str(INDEX_TYPE)),
        (
            "manifests",
            Json::Array(entries.iter().map(entry).collect()),
        ),
    ]))
}

/// One image's manifest as read: its media type, config and layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageManifest {
    pub media_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// Read one image's manifest (Docker schema 2 or OCI); an index or
/// anything else is an error.
pub fn parse_image(text: &str) -> Result<ImageManifest, String> {
    let doc = Json::parse(text).map_err(|e| format!("a manifest that is not JSON ({e})"))?;
    let media_type = doc
        .get("mediaType")
        .and_then(Json::as_str)
        .unwrap_or("application/vnd.oci.image.manifest.v1+json")
        .to_string();
    if media_type != IMAGE_TYPE && media_type != "application/vnd.oci.image.manifest.v1+json" {
        return Err(format!("a manifest of type {media_type}, not one image's"));
    }
    let descriptor = |d: &Json| -> Result<Descriptor, String> {
        let digest = d
            .get("digest")
            .and_then(Json::as_str)
            .ok_or("a descriptor without a digest")?;
        crate::support::digest::check_sha256(digest)?;
        let size = match d.get("size") {
            Some(Json::Number(n)) if *n >= 0.0 && n.fract() == 0.0 => *n as u64,
            _ => return Err(format!("the descriptor of {digest} has no whole size")),
        };
        Ok(Descriptor {
            media_type: d
                .get("mediaType")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_string(),
            digest: digest.to_string(),
            size,
        })
    };
    let config = descriptor(doc.get("config").ok_or("a manifest without a config")?)?;
    let layers = doc
        .get("layers")
        .and_then(Json::as_array)
        .ok_or("a manifest without layers")?
        .iter()
        .map(descriptor)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ImageManifest {
        media_type,
        config,
        layers,
    })
}

/// The manifest of one image of `media_type` (Docker schema 2 or OCI).
pub fn image_of(
    media_type: &str,
    config: &Descriptor,
    layers: &[Descriptor],
) -> Result<String, String> {
    bounded(Json::object([
        ("schemaVersion", Json::Number(2.0)),
        ("mediaType", Json::str(media_type)),
        ("config", config.json()),
        (
            "layers",
            Json::Array(layers.iter().map(Descriptor::json).collect()),
        ),
    ]))
}

fn bounded(doc: Json) -> Result<String, String> {
    let text = doc.render();
    if text.len() > MAX_MANIFEST {
        return Err(format!(
            "the manifest would be {} bytes, more than the {MAX_MANIFEST} this tool writes",
            text.len()
        ));
    }
    Ok(text)
}

/// What `docker save` wrote for one image: the paths (inside the archive)
/// of its config and of its layers, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    pub config: String,
    pub layers: Vec<String>,
}

/// Parse `docker save`'s `manifest.json`: exactly one image, every path
/// relative and inside the archive.
pub fn parse_saved(text: &str) -> Result<Saved, String> {
    let doc = Json::parse(text).map_err(|e| format!("manifest.json is not JSON ({e})"))?;
    let images = doc.as_array().ok_or("manifest.json is not a list")?;
    let [one] = images else {
        return Err(format!(
            "manifest.json lists {} images, not the one saved",
            images.len()
        ));
    };
    let path = |v: Option<&Json>, what: &str| -> Result<String, String> {
        let p = v
            .and_then(Json::as_str)
            .ok_or_else(|| format!("manifest.json names no {what}"))?;
        let inside = !p.is_empty()
            && !p.starts_with('/')
            && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..");
        if inside {
            Ok(p.to_string())
        } else {
            Err(format!(
                "manifest.json names the {what} {p:?}, outside the archive"
            ))
        }
    };
    let config = path(one.get("Config"), "config")?;
    let layers = one
        .get("Layers")
        .and_then(Json::as_array)
        .ok_or("manifest.json lists no layers")?
        .iter()
        .map(|l| path(Some(l), "layer"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Saved { config, layers })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn d(media_type: &str, digest: &str, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest: digest.into(),
            size,
        }
    }

    #[test]
    fn an_image_manifest_reads_back_as_written() {
        let text = image(&d(CONFIG_TYPE, A, 1234), &[d(LAYER_TYPE, B, 9_000_000_000)]).unwrap();
        let doc = Json::parse(&text).unwrap();
        assert_eq!(
            doc.get("mediaType").and_then(Json::as_str),
            Some(IMAGE_TYPE)
        );
        assert!(text.contains(r#""size":9000000000"#), "{text}");
        assert_eq!(
            crate::oci::distribution::parse_manifest(&text).unwrap(),
            crate::oci::distribution::Manifest::Image { config: A.into() }
        );
    }

    #[test]
    fn an_image_manifest_is_read_back_whole() {
        let config = d(CONFIG_TYPE, A, 1234);
        let layers = vec![d(LAYER_TYPE, B, 7), d(LAYER_TYPE, A, 8)];
        let text = image(&config, &layers).unwrap();
        assert_eq!(
            parse_image(&text).unwrap(),
            ImageManifest {
                media_type: IMAGE_TYPE.into(),
                config,
                layers
            }
        );
        let index =
            index(&[(Platform::parse("linux/amd64").unwrap(), d(IMAGE_TYPE, A, 1))]).unwrap();
        assert!(parse_image(&index).is_err());
        assert!(parse_image(&text.replace("1234", "-1")).is_err());
    }

    #[test]
    fn an_index_names_each_platform() {
        let arm = Platform::parse("linux/arm/v7").unwrap();
        let amd = Platform::parse("linux/amd64").unwrap();
        let text = index(&[
            (amd.clone(), d(IMAGE_TYPE, A, 10)),
            (arm.clone(), d(IMAGE_TYPE, B, 11)),
        ])
        .unwrap();
        assert_eq!(
            crate::oci::distribution::parse_manifest(&text).unwrap(),
            crate::oci::distribution::Manifest::Index(vec![(amd, A.into()), (arm, B.into())])
        );
    }

    #[test]
    fn too_many_layers_are_refused() {
        let layers = vec![d(LAYER_TYPE, B, 1); 1000];
        assert!(image(&d(CONFIG_TYPE, A, 1), &layers).is_err());
    }

    #[test]
    fn docker_saves_manifest_is_read_with_its_paths_inside() {
        // As engine 20.10 writes it, and as engines with an OCI layout do.
        let old =
            r#"[{"Config":"0123.json","RepoTags":null,"Layers":["aa/layer.tar","bb/layer.tar"]}]"#;
        assert_eq!(
            parse_saved(old).unwrap(),
            Saved {
                config: "0123.json".into(),
                layers: vec!["aa/layer.tar".into(), "bb/layer.tar".into()]
            }
        );
        let oci = r#"[{"Config":"blobs/sha256/01","RepoTags":[],"Layers":["blobs/sha256/aa"]}]"#;
        assert_eq!(parse_saved(oci).unwrap().layers, ["blobs/sha256/aa"]);
        for bad in [
            "{}",
            "[]",
            r#"[{"Config":"a","Layers":[]},{"Config":"b","Layers":[]}]"#,
            r#"[{"Config":"../x","Layers":[]}]"#,
            r#"[{"Config":"/etc/passwd","Layers":[]}]"#,
            r#"[{"Config":"c","Layers":["a/../../b"]}]"#,
            r#"[{"Layers":[]}]"#,
        ] {
            assert!(parse_saved(bad).is_err(), "{bad}");
        }
    }
}
