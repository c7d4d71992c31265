//! A promotion in the registry, shared by `image tag --from` and
//! `release`: gather the development image (manifest or index, each
//! platform's manifest and config) from the registry; decide what the
//! release is (each config relabelled in ref.name alone, the same layers,
//! the manifests and their digests known before anything is written);
//! plan the gate, the writes and the read-back. No pull, no build, no local
//! image.

use anyhow::{Context, Result};

use crate::engine::executor::Executor;
use crate::model::labels;
use crate::model::platform::Platform;
use crate::model::reference::Reference;
use crate::model::remote::Remote;
use crate::oci::distribution::Endpoint;
use crate::oci::manifest::{self, Descriptor, ImageManifest};
use crate::plan::arg::Arg;
use crate::plan::check::{Check, EvidenceGate, Item, RemoteExpect};
use crate::plan::write::{Promote, Vouch, Write};

/// One platform's image of the source, as its registry serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceImage {
    pub platform: Option<Platform>,
    /// Its manifest digest.
    pub digest: String,
    pub manifest: ImageManifest,
    /// Its config blob, as served (its digest is the image ID).
    pub config_text: String,
}

/// Read the source from its registry: its images, one per platform of
/// `platforms` (a single image when empty). `None`: it is not there.
/// `remedy` says what to do about a platform the source lacks.
pub fn gather(
    exec: &mut Executor,
    source: &Reference,
    platforms: &[Platform],
    remedy: &dyn Fn(&Platform) -> String,
) -> Result<Option<Vec<SourceImage>>> {
    let Some(served) = exec.registry(source)? else {
        return Ok(None);
    };
    let wanted: Vec<(Option<Platform>, String)> = if platforms.is_empty() {
        anyhow::ensure!(
            !served.is_index(),
            "{source} is an index ({}), but the flavour declares no platforms",
            served.shown()
        );
        vec![(None, served.digest.clone().unwrap_or_default())]
    } else {
        let mut out = Vec::new();
        for p in platforms {
            let m = served
                .members
                .iter()
                .find(|m| m.platform == *p)
                .with_context(|| {
                    format!(
                        "{source} has no {p} image ({}); {}",
                        served.shown(),
                        remedy(p)
                    )
                })?;
            out.push((Some(p.clone()), m.digest.clone()));
        }
        out
    };
    let endpoint = Endpoint::of_host(source.registry().host());
    let name = source.api_name();
    let mut images = Vec::new();
    for (platform, digest) in wanted {
        let shown = format!("{}@{digest}", source.repository());
        let text = exec.served_manifest(source, &digest, "is listed but not served")?;
        let manifest = manifest::parse_image(&text.text)
            .map_err(|e| anyhow::anyhow!("{shown}: its registry served {e}"))?;
        // The registry client holds it to its digest.
        let config_text = exec.config_blob(&endpoint, &name, &manifest.config.digest, &shown)?;
        images.push(SourceImage {
            platform,
            digest,
            manifest,
            config_text,
        });
    }
    Ok(Some(images))
}

/// What one platform's promotion writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub source: SourceImage,
    pub write: Promote,
    /// The promoted image's manifest and its image ID.
    pub manifest_digest: String,
    pub image_id: String,
}

/// What the source must show, besides its test evidence.
pub struct Rules {
    pub version: String,
    /// The source must be a development image of the flavour at this
    /// version.
    pub source_of: crate::plan::expectation::DevelopmentOf,
    /// The flavour's declared base (`base.name`).
    pub base: String,
    /// The commit the source must be built from (`revision`), when the
    /// promotion claims one: a release is HEAD's.
    pub commit: Option<String>,
}

impl Rules {
    /// A promotion of flavour `f` at the project's version, its source a
    /// development image in the repository of `development`, built from
    /// `commit` when the promotion claims one.
    pub fn of(
        project: &crate::project::workspace::Project,
        f: &crate::project::catalog::Flavour,
        development: &Reference,
        commit: Option<&str>,
    ) -> Result<Rules> {
        Ok(Rules {
            version: project.version.to_string(),
            source_of: crate::plan::expectation::DevelopmentOf {
                flavour: f.name.clone(),
                version: project.version.to_string(),
                repository: development.repository(),
                release_tag: f.production_tag(&project.version),
                hash_len: project.catalog.dev_hash_length,
            },
            base: project.base(f, None)?.image.to_string(),
            commit: commit.map(str::to_string),
        })
    }
}

/// What the registry serves under the release once the promotion is
/// written: each platform's promoted image (or the one image).
pub fn expect_of(planned: &[Planned]) -> RemoteExpect {
    match planned {
        [one] if one.source.platform.is_none() => RemoteExpect::Image(one.image_id.clone()),
        many => RemoteExpect::Index(
            many.iter()
                .filter_map(|p| Some((p.source.platform.clone()?, p.image_id.clone())))
                .collect(),
        ),
    }
}

/// Decide the promotion of `images` (of `source`) to `target`: each config
/// relabelled in ref.name alone, every blob mounted, the manifests known.
pub fn decide(
    images: &[SourceImage],
    source: &Reference,
    target: &Reference,
    rules: &Rules,
) -> Result<Vec<Planned>, String> {
    let mut out = Vec::new();
    for image in images {
        let shown = format!("{source} ({})", image.digest);
        source_problems(image, rules, source)
            .map_err(|e| format!("refusing to promote {shown}: {e}"))?;
        let config_text =
            crate::rules::promotion::relabel_config(&image.config_text, &target.to_string())
                .map_err(|e| format!("refusing to promote {shown}: {e}"))?;
        let config = Descriptor {
            media_type: image.manifest.config.media_type.clone(),
            digest: crate::support::sha256::digest(config_text.as_bytes()),
            size: config_text.len() as u64,
        };
        let manifest_text =
            manifest::image_of(&image.manifest.media_type, &config, &image.manifest.layers)?;
        let into = match &image.platform {
            None => target.clone(),
            Some(p) => target.for_platform(p)?,
        };
        let mut mount: Vec<String> = image
            .manifest
            .layers
            .iter()
            .map(|l| l.digest.clone())
            .collect();
        mount.push(image.manifest.config.digest.clone());
        mount.dedup();
        out.push(Planned {
            source: image.clone(),
            manifest_digest: crate::support::sha256::digest(manifest_text.as_bytes()),
            image_id: config.digest.clone(),
            write: Promote {
                from: source.clone(),
                into,
                mount,
                config,
                config_text,
                manifest_type: image.manifest.media_type.clone(),
                manifest_text,
            },
        });
    }
    Ok(out)
}

/// Why a source image cannot be promoted: its labels, its triggers, its
/// platform (pure, from its config).
fn source_problems(image: &SourceImage, rules: &Rules, source: &Reference) -> Result<(), String> {
    let doc = crate::support::json::Json::parse(&image.config_text)
        .map_err(|e| format!("its config is not JSON ({e})"))?;
    let labels = crate::oci::distribution::config_labels(&image.config_text)?;
    let label = |k: &str| labels.get(k).map(String::as_str).unwrap_or("");
    if label(labels::VERSION) != rules.version {
        return Err(format!(
            "its {} is '{}' but pyproject.toml says {}; promote an image built at this version",
            labels::VERSION,
            label(labels::VERSION),
            rules.version
        ));
    }
    if label(labels::DIRTY) == "true" {
        return Err(
            "it was built from a working tree with uncommitted changes; only a clean build is released"
                .into(),
        );
    }
    if label(labels::BASE_NAME) != rules.base {
        return Err(format!(
            "label {} is '{}', expected '{}' (the flavour's declared base)",
            labels::BASE_NAME,
            label(labels::BASE_NAME),
            rules.base
        ));
    }
    use crate::rules::promotion::{dev_tag_names_its_commit, TagSeen};
    let revision = label(labels::REVISION);
    let hex = rules.source_of.check(label(labels::REF_NAME))?;
    dev_tag_names_its_commit(TagSeen::Label(label(labels::REF_NAME)), hex, revision)?;
    if let Some(commit) = &rules.commit {
        crate::rules::promotion::built_from(revision, commit)?;
    }
    // Read under a default development tag, it must be that tag's commit,
    // whatever its own ref.name says (a registry-side copy keeps it).
    let read_as = source.to_string();
    if let Ok(hex) = rules.source_of.check(&read_as) {
        dev_tag_names_its_commit(TagSeen::ReadAs(&read_as), hex, revision)?;
    }
    crate::rules::promotion::layers_match(&image.config_text, image.manifest.layers.len())?;
    let onbuild = doc
        .get("config")
        .and_then(|c| c.get("OnBuild"))
        .and_then(crate::support::json::Json::as_array)
        .map_or(0, <[_]>::len);
    if onbuild > 0 {
        return Err("it has ONBUILD triggers, which would run in every image built on the release; drop them from its Dockerfile".into());
    }
    if let Some(p) = &image.platform {
        let s = |k: &str| {
            doc.get(k)
                .and_then(crate::support::json::Json::as_str)
                .unwrap_or("")
        };
        let said = match s("variant") {
            "" => format!("{}/{}", s("os"), s("architecture")),
            v => format!("{}/{}/{v}", s("os"), s("architecture")),
        };
        if Platform::parse(&said).ok().as_ref() != Some(p) {
            return Err(format!(
                "its config says platform {said}, but it is listed as the {p} image"
            ));
        }
    }
    Ok(())
}

/// What the release tag serves already, against the promotion: `true`
/// when it is exactly this promotion (nothing to write).
pub fn already_there(seen: Option<&Remote>, planned: &[Planned]) -> bool {
    let Some(seen) = seen else { return false };
    match planned {
        [one] if one.source.platform.is_none() => {
            seen.digest.as_deref() == Some(one.manifest_digest.as_str())
        }
        many => {
            seen.members.len() == many.len()
                && many.iter().all(|p| {
                    seen.members.iter().any(|m| {
                        Some(&m.platform) == p.source.platform.as_ref()
                            && m.digest == p.manifest_digest
                    })
                })
        }
    }
}

/// The plan of a promotion to `target`: the gate (each source image's test
/// evidence), the writes, the tag (or index), the read-back.
pub fn plan(
    planned: &[Planned],
    source: &Reference,
    target: &Reference,
    flavour: &str,
    test: Option<&crate::project::catalog::Test>,
) -> Vec<Item> {
    let vouch = Vouch::of(test);
    let mut items = Vec::new();
    for p in planned {
        items.push(Item::Check(Check::Evidence(Box::new(EvidenceGate {
            flavour: flavour.to_string(),
            reference: source.clone(),
            subject: p.source.digest.clone(),
            image_id: p.source.manifest.config.digest.clone(),
            platform: p.source.platform.clone(),
            vouch: vouch.clone(),
        }))));
    }
    for p in planned {
        items.push(Item::Write(Write::Promote(Box::new(p.write.clone()))));
        // The source's record, next to the promoted manifest (whose config
        // differs in ref.name alone).
        items.push(Item::Write(Write::Evidence(Box::new(
            crate::plan::write::Evidence {
                into: p.write.into.clone(),
                subject: Write::image_digest(&p.write.into),
                id: Arg::Lit(p.source.manifest.config.digest.clone()),
                flavour: flavour.to_string(),
                platform: p.source.platform.clone(),
                vouch: vouch.clone(),
            },
        ))));
    }
    items.push(Item::Write(match planned {
        [one] if one.source.platform.is_none() => Write::Tag {
            digest: Write::image_digest(&one.write.into),
            target: target.clone(),
        },
        many => Write::Index {
            target: target.clone(),
            entries: many
                .iter()
                .filter_map(|p| {
                    let platform = p.source.platform.clone()?;
                    Some((platform, Write::image_digest(&p.write.into)))
                })
                .collect(),
        },
    }));
    items.push(Item::Check(Check::Registry {
        reference: target.clone(),
        expect: expect_of(planned),
    }));
    items
}
