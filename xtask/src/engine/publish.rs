//! Carrying out a plan's registry writes (`plan/write.rs`) through the
//! registry client: an image by its ID's exact content, a manifest under a
//! tag, an index. Nothing is pushed by a local name, so nothing another
//! process tags meanwhile can be published in place of the checked image.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::engine::executor::Executor;
use crate::model::reference::Reference;
use crate::oci::distribution::{Body, Endpoint};
use crate::oci::manifest::{self, Descriptor};
use crate::plan::arg::{Arg, Slot};
use crate::plan::step::Step;
use crate::plan::write::Write;

/// A folder of the tool's cache that holds one upload's files, removed
/// when dropped.
pub(super) struct Scratch(pub(super) PathBuf);

impl Scratch {
    pub(super) fn new() -> Result<Scratch> {
        let cache = crate::support::cache::dir().ok_or_else(|| {
            crate::support::error::invalid(
                "cannot name a cache directory for the upload: set HOME or an absolute XDG_CACHE_HOME",
            )
        })?;
        let dir = cache.join("uploads").join(format!(
            ".up-{}-{:x}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot make the upload folder {}", dir.display()))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A blob ready to go: its digest, size and file.
struct Blob {
    digest: String,
    size: u64,
    file: PathBuf,
}

fn shown(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

impl Executor<'_> {
    /// Carry out one write (`--dry-run`: say what it would write).
    pub(super) fn write(&mut self, write: &Write) -> Result<()> {
        if self.gw.dry_run() {
            self.print(&format!("# {}", write.describe(self.gw.values())));
            return Ok(());
        }
        self.write_one(write)
            .with_context(|| format!("writing {}", write.target()))
    }

    fn write_one(&mut self, write: &Write) -> Result<()> {
        match write {
            Write::Image { id, into } => {
                let id = self.gw.resolve(id)?;
                let digest = self.write_image(&id, into)?;
                self.gw.learn(
                    Slot::ManifestDigest {
                        reference: into.clone(),
                    },
                    digest,
                );
                Ok(())
            }
            Write::Tag { digest, target } => {
                let digest = self.gw.resolve(digest)?;
                self.write_tag(&digest, target)
            }
            Write::Index { target, entries } => self.write_index(target, entries),
            Write::Promote(p) => {
                let digest = self.write_promotion(p)?;
                self.gw.learn(
                    Slot::ManifestDigest {
                        reference: p.into.clone(),
                    },
                    digest,
                );
                Ok(())
            }
            Write::Evidence(e) => {
                let subject = self.gw.resolve(&e.subject)?;
                let record = crate::oci::evidence::Evidence {
                    flavour: e.flavour.clone(),
                    image_id: self.gw.resolve(&e.id)?,
                    platform: e.platform.clone(),
                    test: e.vouch.key(),
                    result: e.vouch.result().to_string(),
                    tool: crate::engine::evidence::tool(),
                    created: crate::engine::evidence::now(),
                };
                self.write_evidence(&e.into, &subject, &record).map(|_| ())
            }
        }
    }

    /// The local image `id` into the repository of `into`, by digest: its
    /// manifest digest.
    fn write_image(&mut self, id: &str, into: &Reference) -> Result<String> {
        let scratch = Scratch::new()?;
        let (config, layers) = self.saved_blobs(id, &scratch.0)?;
        let endpoint = Endpoint::of_host(into.registry().host());
        let name = into.api_name();
        let mut sent = std::collections::BTreeSet::new();
        for blob in layers.iter().chain(std::iter::once(&config)) {
            if !sent.insert(blob.digest.clone()) {
                continue;
            }
            if !self
                .registry
                .blob_exists(&mut self.gw, &endpoint, &name, &blob.digest)?
            {
                self.registry.upload_blob(
                    &mut self.gw,
                    &endpoint,
                    &name,
                    &blob.digest,
                    &Body::File(blob.file.clone()),
                )?;
            }
        }
        let descriptor = |b: &Blob, media_type: &str| Descriptor {
            media_type: media_type.to_string(),
            digest: b.digest.clone(),
            size: b.size,
        };
        let layer_descriptors: Vec<Descriptor> = layers
            .iter()
            .map(|b| descriptor(b, manifest::LAYER_TYPE))
            .collect();
        let text = manifest::image(
            &descriptor(&config, manifest::CONFIG_TYPE),
            &layer_descriptors,
        )
        .map_err(|e| anyhow::anyhow!("{id}: {e}"))?;
        let digest = crate::support::sha256::digest(text.as_bytes());
        self.registry.put_manifest(
            &mut self.gw,
            &endpoint,
            &name,
            &digest,
            manifest::IMAGE_TYPE,
            &text,
        )?;
        // Read back: the registry serves exactly that image.
        let back =
            self.registry
                .manifest(&mut self.gw, &endpoint, &name, &digest, &into.repository())?;
        match back {
            Some((d, crate::oci::distribution::Manifest::Image { config: c }))
                if d == digest && c == id => {}
            other => anyhow::bail!(
                "{} does not serve the manifest {digest} of {id} it accepted (it serves {other:?})",
                into.repository()
            ),
        }
        Ok(digest)
    }

    /// `docker save` of `id`, checked and compressed: the config blob and
    /// the layer blobs, in order.
    fn saved_blobs(&mut self, id: &str, dir: &Path) -> Result<(Blob, Vec<Blob>)> {
        let archive = dir.join("image.tar");
        let unpacked = dir.join("image");
        std::fs::create_dir_all(&unpacked)?;
        self.must(&Step::Save {
            image: Arg::Lit(id.to_string()),
            file: shown(&archive),
        })?;
        self.must(&Step::Unpack {
            file: shown(&archive),
            dir: shown(&unpacked),
        })?;
        let _ = std::fs::remove_file(&archive);
        let read = |rel: &str| {
            std::fs::read(unpacked.join(rel))
                .with_context(|| format!("docker save of {id} wrote no readable {rel}"))
        };
        let saved = manifest::parse_saved(&String::from_utf8_lossy(&read("manifest.json")?))
            .map_err(|e| anyhow::anyhow!("docker save of {id}: {e}"))?;
        let config_bytes = read(&saved.config)?;
        let config_digest = crate::support::sha256::digest(&config_bytes);
        anyhow::ensure!(
            config_digest == id,
            "docker save of {id} wrote the config of {config_digest}, another image; nothing was uploaded"
        );
        let diff_ids =
            crate::oci::distribution::config_diff_ids(&String::from_utf8_lossy(&config_bytes))
                .map_err(|e| anyhow::anyhow!("{id}: {e}"))?;
        anyhow::ensure!(
            diff_ids.len() == saved.layers.len(),
            "docker save of {id} wrote {} layers, its config names {}",
            saved.layers.len(),
            diff_ids.len()
        );
        let mut files: Vec<String> = Vec::new();
        for l in &saved.layers {
            let f = shown(&unpacked.join(l));
            if !files.contains(&f) {
                files.push(f);
            }
        }
        let hashes = self.hash_files(&files)?;
        for (k, (layer, want)) in saved.layers.iter().zip(&diff_ids).enumerate() {
            let at = files
                .iter()
                .position(|f| *f == shown(&unpacked.join(layer)));
            let got = at.map(|i| hashes[i].as_str());
            anyhow::ensure!(
                got == Some(want.as_str()),
                "layer {} of {id} as docker save wrote it is not the layer its config names ({want}); an engine that saves compressed layers (the containerd image store) is not supported yet",
                k + 1
            );
        }
        self.must(&Step::Compress {
            files: files.clone(),
        })?;
        let compressed: Vec<String> = files.iter().map(|f| format!("{f}.gz")).collect();
        let digests = self.hash_files(&compressed)?;
        let mut blobs = Vec::new();
        for layer in &saved.layers {
            let i = files
                .iter()
                .position(|f| *f == shown(&unpacked.join(layer)))
                .context("a layer file went missing")?;
            let file = PathBuf::from(&compressed[i]);
            let size = std::fs::metadata(&file)
                .with_context(|| format!("cannot read {}", file.display()))?
                .len();
            blobs.push(Blob {
                digest: digests[i].clone(),
                size,
                file,
            });
        }
        let config = Blob {
            digest: config_digest,
            size: config_bytes.len() as u64,
            file: unpacked.join(&saved.config),
        };
        Ok((config, blobs))
    }

    /// The sha256 of each file, in order.
    fn hash_files(&mut self, files: &[String]) -> Result<Vec<String>> {
        let out = self
            .must(&Step::HashFiles {
                files: files.to_vec(),
            })?
            .context("hashing runs whenever an upload does")?;
        crate::exec::coreutils::parse_sha256sum(&out, files).map_err(anyhow::Error::msg)
    }

    /// The manifest `digest` of `target`'s repository under `target`'s tag.
    fn write_tag(&mut self, digest: &str, target: &Reference) -> Result<()> {
        let endpoint = Endpoint::of_host(target.registry().host());
        let name = target.api_name();
        let served = self.served_manifest(target, digest, "is not in the registry")?;
        let written = self.registry.put_manifest(
            &mut self.gw,
            &endpoint,
            &name,
            target.tag(),
            &served.media_type,
            &served.text,
        )?;
        anyhow::ensure!(
            written == digest,
            "{target}: the manifest written is {written}, not {digest}"
        );
        Ok(())
    }

    /// An index of `entries` (manifests of `target`'s repository) under
    /// `target`'s tag.
    fn write_index(
        &mut self,
        target: &Reference,
        entries: &[(crate::model::platform::Platform, Arg)],
    ) -> Result<()> {
        let endpoint = Endpoint::of_host(target.registry().host());
        let name = target.api_name();
        let mut listed = Vec::new();
        for (platform, digest) in entries {
            let digest = self.gw.resolve(digest)?;
            let served = self.served_manifest(
                target,
                &digest,
                &format!("({platform}) is not in the registry"),
            )?;
            listed.push((
                platform.clone(),
                Descriptor {
                    media_type: served.media_type,
                    digest,
                    size: served.text.len() as u64,
                },
            ));
        }
        let text = manifest::index(&listed).map_err(|e| anyhow::anyhow!("{target}: {e}"))?;
        let digest = self.registry.put_manifest(
            &mut self.gw,
            &endpoint,
            &name,
            target.tag(),
            manifest::INDEX_TYPE,
            &text,
        )?;
        self.gw.learn(
            Slot::IndexDigest {
                reference: target.clone(),
            },
            digest,
        );
        Ok(())
    }
}
