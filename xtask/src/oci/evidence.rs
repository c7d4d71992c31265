//! Test evidence that travels with the image: an OCI artifact whose
//! `subject` is the image's manifest, holding what was tested and how it
//! ended, found through the registry's referrers API or, where the
//! registry lacks it, the referrers tag (`sha256-<hex>`, an index of the
//! subject's referrers), as OCI distribution 1.1 describes. Pure data here:
//! the texts written and the parsers of what is read.

use crate::model::platform::Platform;
use crate::oci::manifest::Descriptor;
use crate::support::json::Json;

/// The artifact type of a test result.
pub const ARTIFACT_TYPE: &str = "application/vnd.itwinai.xtask.test-result.v1+json";

/// An OCI image manifest (the artifact's own type).
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// An OCI image index (what the referrers API and tag answer).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// The empty config an artifact has: `{}`.
pub const EMPTY_TYPE: &str = "application/vnd.oci.empty.v1+json";
pub const EMPTY: &str = "{}";

/// What a test result says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub flavour: String,
    /// The image ID (config digest) the test ran on.
    pub image_id: String,
    pub platform: Option<Platform>,
    /// The test as its key (`Test::key`): what ran and how.
    pub test: String,
    /// `passed` (its test passed) or `checked` (no test declared: the push
    /// that wrote it checked the image); a failure is never recorded.
    pub result: String,
    /// The tool that ran it (`xtask <version>`).
    pub tool: String,
    /// RFC 3339 time it was recorded.
    pub created: String,
}

impl Evidence {
    /// The blob's text.
    pub fn payload(&self) -> String {
        Json::object([
            ("flavour", Json::str(&self.flavour)),
            ("image_id", Json::str(&self.image_id)),
            (
                "platform",
                Json::opt_str(self.platform.as_ref().map(ToString::to_string)),
            ),
            ("test", Json::str(&self.test)),
            ("result", Json::str(&self.result)),
            ("tool", Json::str(&self.tool)),
            ("created", Json::str(&self.created)),
        ])
        .render()
    }

    /// Read a payload back; anything else is not evidence.
    pub fn parse(text: &str) -> Result<Evidence, String> {
        let doc = Json::parse(text).map_err(|e| format!("test evidence that is not JSON ({e})"))?;
        let field = |k: &str| {
            doc.get(k)
                .and_then(Json::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("test evidence without {k}"))
        };
        let image_id = field("image_id")?;
        crate::support::digest::check_sha256(&image_id)?;
        let platform = match doc.get("platform") {
            None | Some(Json::Null) => None,
            Some(p) => Some(
                p.as_str()
                    .and_then(|s| Platform::parse(s).ok())
                    .ok_or("test evidence with a platform that is not one")?,
            ),
        };
        Ok(Evidence {
            flavour: field("flavour")?,
            image_id,
            platform,
            test: field("test")?,
            result: field("result")?,
            tool: field("tool")?,
            created: field("created")?,
        })
    }
}

/// The artifact's manifest: the empty config, the payload as its one
/// layer, the image's manifest as its subject.
pub fn artifact(payload: &Descriptor, subject: &Descriptor, created: &str) -> String {
    let descriptor = |d: &Descriptor| {
        Json::object([
            ("mediaType", Json::str(&d.media_type)),
            ("digest", Json::str(&d.digest)),
            ("size", Json::Number(d.size as f64)),
        ])
    };
    Json::object([
        ("schemaVersion", Json::Number(2.0)),
        ("mediaType", Json::str(OCI_MANIFEST)),
        ("artifactType", Json::str(ARTIFACT_TYPE)),
        ("config", descriptor(&empty())),
        ("layers", Json::Array(vec![descriptor(payload)])),
        ("subject", descriptor(subject)),
        (
            "annotations",
            Json::object([("org.opencontainers.image.created", Json::str(created))]),
        ),
    ])
    .render()
}

/// The empty config's descriptor.
pub fn empty() -> Descriptor {
    Descriptor {
        media_type: EMPTY_TYPE.to_string(),
        digest: crate::support::sha256::digest(EMPTY.as_bytes()),
        size: EMPTY.len() as u64,
    }
}

/// The tag that stands in for the referrers API: `sha256-<hex>`.
pub fn referrers_tag(subject: &str) -> Result<String, String> {
    crate::support::digest::check_sha256(subject)?;
    Ok(subject.replacen(':', "-", 1))
}

/// One referrer as an index lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrer {
    pub descriptor: Descriptor,
    pub artifact_type: Option<String>,
}

/// The referrers an index lists (the referrers API's answer, or the
/// referrers tag's index).
pub fn parse_referrers(text: &str) -> Result<Vec<Referrer>, String> {
    let doc = Json::parse(text).map_err(|e| format!("a referrers list that is not JSON ({e})"))?;
    let entries = doc
        .get("manifests")
        .and_then(Json::as_array)
        .ok_or("a referrers list without manifests")?;
    entries
        .iter()
        .map(|e| {
            let s = |k: &str| e.get(k).and_then(Json::as_str).map(str::to_string);
            let digest = s("digest").ok_or("a referrer without a digest")?;
            crate::support::digest::check_sha256(&digest)?;
            let size = e
                .get("size")
                .and_then(|n| match n {
                    Json::Number(n) if *n >= 0.0 && n.fract() == 0.0 => Some(*n as u64),
                    _ => None,
                })
                .ok_or("a referrer without a size")?;
            Ok(Referrer {
                descriptor: Descriptor {
                    media_type: s("mediaType").unwrap_or_else(|| OCI_MANIFEST.to_string()),
                    digest,
                    size,
                },
                artifact_type: s("artifactType"),
            })
        })
        .collect()
}

/// The referrers index with `added` in it (once): the text to write under
/// the referrers tag.
pub fn with_referrer(existing: &[Referrer], added: &Referrer) -> String {
    let mut all: Vec<&Referrer> = existing
        .iter()
        .filter(|r| r.descriptor.digest != added.descriptor.digest)
        .collect();
    all.push(added);
    let entry = |r: &&Referrer| {
        let mut fields = vec![
            ("mediaType", Json::str(&r.descriptor.media_type)),
            ("digest", Json::str(&r.descriptor.digest)),
            ("size", Json::Number(r.descriptor.size as f64)),
        ];
        if let Some(t) = &r.artifact_type {
            fields.push(("artifactType", Json::str(t)));
        }
        Json::object(fields)
    };
    Json::object([
        ("schemaVersion", Json::Number(2.0)),
        ("mediaType", Json::str(OCI_INDEX)),
        ("manifests", Json::Array(all.iter().map(entry).collect())),
    ])
    .render()
}

/// The payload descriptor of an artifact manifest: its one layer, when it
/// is a test result.
/// The digest of the manifest an artifact names as its `subject`.
pub fn subject_of(manifest: &str) -> Option<String> {
    let doc = Json::parse(manifest).ok()?;
    let digest = doc.get("subject")?.get("digest")?.as_str()?;
    Some(digest.to_string())
}

pub fn payload_of(manifest: &str) -> Result<Descriptor, String> {
    let doc = Json::parse(manifest).map_err(|e| format!("an artifact that is not JSON ({e})"))?;
    if doc.get("artifactType").and_then(Json::as_str) != Some(ARTIFACT_TYPE) {
        return Err("an artifact of another type".into());
    }
    let layer = doc
        .get("layers")
        .and_then(Json::as_array)
        .and_then(|l| l.first())
        .ok_or("an artifact without its payload")?;
    let s = |k: &str| layer.get(k).and_then(Json::as_str).map(str::to_string);
    let digest = s("digest").ok_or("a payload without a digest")?;
    crate::support::digest::check_sha256(&digest)?;
    let size = match layer.get("size") {
        Some(Json::Number(n)) if *n >= 0.0 && n.fract() == 0.0 && *n <= 1_048_576.0 => *n as u64,
        _ => return Err("a payload whose size is not a small whole number".into()),
    };
    Ok(Descriptor {
        media_type: s("mediaType").unwrap_or_default(),
        digest,
        size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn evidence() -> Evidence {
        Evidence {
            flavour: "torch".into(),
            image_id: A.into(),
            platform: Some(Platform::parse("linux/arm64").unwrap()),
            test: "entrypoint=false network=none python3\u{1f}-c\u{1f}pass".into(),
            result: "passed".into(),
            tool: "xtask 0.1.0".into(),
            created: "2026-12-03T12:00:00Z".into(),
        }
    }

    #[test]
    fn evidence_reads_back_as_written() {
        let e = evidence();
        assert_eq!(Evidence::parse(&e.payload()).unwrap(), e);
        let single = Evidence {
            platform: None,
            ..evidence()
        };
        assert_eq!(Evidence::parse(&single.payload()).unwrap(), single);
        for bad in [
            "[]",
            r#"{"flavour":"f"}"#,
            &e.payload().replace(A, "sha256:zz"),
            &e.payload().replace("linux/arm64", "arm64"),
        ] {
            assert!(Evidence::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_artifact_names_its_subject_and_payload() {
        let payload = Descriptor {
            media_type: ARTIFACT_TYPE.into(),
            digest: B.into(),
            size: 120,
        };
        let subject = Descriptor {
            media_type: crate::oci::manifest::IMAGE_TYPE.into(),
            digest: A.into(),
            size: 500,
        };
        let text = artifact(&payload, &subject, "2026-12-03T12:00:00Z");
        let doc = Json::parse(&text).unwrap();
        assert_eq!(
            doc.get("subject")
                .and_then(|s| s.get("digest"))
                .and_then(Json::as_str),
            Some(A)
        );
        assert_eq!(payload_of(&text).unwrap(), payload);
        assert_eq!(subject_of(&text).as_deref(), Some(A));
        assert_eq!(subject_of(&text.replace("\"subject\"", "\"other\"")), None);
        assert_eq!(
            empty().digest,
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert!(payload_of(&text.replace(ARTIFACT_TYPE, "application/x")).is_err());
    }

    #[test]
    fn the_referrers_tag_and_index() {
        assert_eq!(referrers_tag(A).unwrap(), A.replace("sha256:", "sha256-"));
        assert!(referrers_tag("latest").is_err());
        let r = |d: &str| Referrer {
            descriptor: Descriptor {
                media_type: OCI_MANIFEST.into(),
                digest: d.into(),
                size: 10,
            },
            artifact_type: Some(ARTIFACT_TYPE.into()),
        };
        let one = with_referrer(&[], &r(A));
        let listed = parse_referrers(&one).unwrap();
        assert_eq!(listed, vec![r(A)]);
        // Added once, the others kept.
        let two = with_referrer(&listed, &r(B));
        let again = with_referrer(&parse_referrers(&two).unwrap(), &r(B));
        assert_eq!(parse_referrers(&again).unwrap(), vec![r(A), r(B)]);
        assert!(parse_referrers("{}").is_err());
    }
}
