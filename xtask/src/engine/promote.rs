//! Carrying out a promotion in the registry (`plan/write.rs`,
//! `Write::Promote`): mounts, one config upload, the manifest by digest,
//! read back. No layer is read or written; the local engine is not used.

use anyhow::{Context, Result};

use crate::engine::executor::Executor;
use crate::oci::distribution::{Body, Endpoint};
use crate::plan::write::Promote;

impl Executor<'_> {
    /// The promoted manifest's digest.
    pub(super) fn write_promotion(&mut self, p: &Promote) -> Result<String> {
        let endpoint = Endpoint::of_host(p.into.registry().host());
        let name = p.into.api_name();
        let from = p.from.api_name();
        anyhow::ensure!(
            p.from.registry().host() == p.into.registry().host(),
            "{} and {} are on two registries; a promotion mounts within one",
            p.from.repository(),
            p.into.repository()
        );
        for digest in &p.mount {
            if self
                .registry
                .blob_exists(&mut self.gw, &endpoint, &name, digest)?
            {
                continue;
            }
            let mounted =
                self.registry
                    .mount_blob(&mut self.gw, &endpoint, &name, digest, &from)?;
            anyhow::ensure!(
                mounted,
                "{} did not mount {digest} from {} into {} (it opened an upload instead); nothing was promoted",
                endpoint.host,
                p.from.repository(),
                p.into.repository()
            );
        }
        if !self
            .registry
            .blob_exists(&mut self.gw, &endpoint, &name, &p.config.digest)?
        {
            // Small ones go as an argument of curl, others from a file
            // (an argument holds at most 128 KiB).
            let scratch;
            let body = if p.config_text.len() <= 64 * 1024 {
                Body::Json {
                    content_type: p.config.media_type.clone(),
                    text: p.config_text.clone(),
                }
            } else {
                scratch = crate::engine::publish::Scratch::new()?;
                let file = scratch.0.join("config.json");
                std::fs::write(&file, &p.config_text)
                    .with_context(|| format!("cannot write {}", file.display()))?;
                Body::File(file)
            };
            self.registry
                .upload_blob(&mut self.gw, &endpoint, &name, &p.config.digest, &body)?;
        }
        let digest = crate::support::sha256::digest(p.manifest_text.as_bytes());
        self.registry.put_manifest(
            &mut self.gw,
            &endpoint,
            &name,
            &digest,
            &p.manifest_type,
            &p.manifest_text,
        )?;
        let back = self
            .registry
            .manifest_text(
                &mut self.gw,
                &endpoint,
                &name,
                &digest,
                &p.into.repository(),
            )?
            .with_context(|| {
                format!(
                    "{} does not serve the manifest {digest} it accepted",
                    p.into.repository()
                )
            })?;
        anyhow::ensure!(
            back.text == p.manifest_text,
            "{} serves other bytes under {digest} than it accepted",
            p.into.repository()
        );
        Ok(digest)
    }
}
