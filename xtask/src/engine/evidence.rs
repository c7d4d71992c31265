//! Test evidence in the registry (`oci/evidence.rs`): written next to a
//! published image whose test passed, read by the gate of any runner that
//! publishes or promotes it. Each read is checked: the payload's digest,
//! its subject, the image ID it names.

use anyhow::Result;

use crate::engine::executor::Executor;
use crate::model::reference::Reference;
use crate::oci::distribution::{Body, Endpoint};
use crate::oci::evidence::{self, Evidence, Referrer};
use crate::oci::manifest::Descriptor;

/// The tool, as evidence names it.
pub fn tool() -> String {
    format!("xtask {}", env!("CARGO_PKG_VERSION"))
}

/// Now, as evidence records it (UTC).
pub fn now() -> String {
    crate::plan::provenance::creation_date(time::OffsetDateTime::now_utc())
}

impl Executor<'_> {
    /// Record `evidence` for the manifest `subject` of `repository`'s
    /// repository: the payload and the empty config uploaded, the artifact
    /// written by digest, and (where the registry did not take the subject
    /// in itself) listed under the referrers tag. The artifact's digest.
    pub(super) fn write_evidence(
        &mut self,
        repository: &Reference,
        subject: &str,
        evidence: &Evidence,
    ) -> Result<String> {
        let endpoint = Endpoint::of_host(repository.registry().host());
        let name = repository.api_name();
        let shown = format!("{}@{subject}", repository.repository());
        let served = self.served_manifest(repository, subject, "is not in the registry")?;
        let subject_descriptor = Descriptor {
            media_type: served.media_type,
            digest: subject.to_string(),
            size: served.text.len() as u64,
        };
        let payload = evidence.payload();
        let payload_descriptor = Descriptor {
            media_type: evidence::ARTIFACT_TYPE.to_string(),
            digest: crate::support::sha256::digest(payload.as_bytes()),
            size: payload.len() as u64,
        };
        let empty = evidence::empty();
        for (d, text) in [
            (&empty, evidence::EMPTY.to_string()),
            (&payload_descriptor, payload),
        ] {
            if !self
                .registry
                .blob_exists(&mut self.gw, &endpoint, &name, &d.digest)?
            {
                let body = Body::Json {
                    content_type: d.media_type.clone(),
                    text,
                };
                self.registry
                    .upload_blob(&mut self.gw, &endpoint, &name, &d.digest, &body)?;
            }
        }
        let text = evidence::artifact(&payload_descriptor, &subject_descriptor, &evidence.created);
        let digest = crate::support::sha256::digest(text.as_bytes());
        let (_, indexed) = self.registry.put_manifest_of(
            &mut self.gw,
            &endpoint,
            &name,
            &digest,
            evidence::OCI_MANIFEST,
            &text,
        )?;
        if !indexed {
            let added = Referrer {
                descriptor: Descriptor {
                    media_type: evidence::OCI_MANIFEST.to_string(),
                    digest: digest.clone(),
                    size: text.len() as u64,
                },
                artifact_type: Some(evidence::ARTIFACT_TYPE.to_string()),
            };
            let tag = evidence::referrers_tag(subject).map_err(anyhow::Error::msg)?;
            let listed = self.listed_under_tag(&endpoint, &name, &tag, &shown)?;
            let index = evidence::with_referrer(&listed, &added);
            self.registry.put_manifest(
                &mut self.gw,
                &endpoint,
                &name,
                &tag,
                evidence::OCI_INDEX,
                &index,
            )?;
        }
        Ok(digest)
    }

    /// The test results recorded for the manifest `subject` of
    /// `repository`'s repository (any tool, any test: the caller judges).
    pub fn read_evidence(
        &mut self,
        repository: &Reference,
        subject: &str,
    ) -> Result<Vec<Evidence>> {
        let endpoint = Endpoint::of_host(repository.registry().host());
        let name = repository.api_name();
        let shown = format!("{}@{subject}", repository.repository());
        let listed = match self
            .registry
            .referrers(&mut self.gw, &endpoint, &name, subject)?
        {
            Some(text) => evidence::parse_referrers(&text)
                .map_err(|e| anyhow::anyhow!("{shown}: its registry served {e}"))?,
            None => {
                let tag = evidence::referrers_tag(subject).map_err(anyhow::Error::msg)?;
                self.listed_under_tag(&endpoint, &name, &tag, &shown)?
            }
        };
        let mut found = Vec::new();
        for r in listed
            .iter()
            .filter(|r| r.artifact_type.as_deref() == Some(evidence::ARTIFACT_TYPE))
        {
            let d = &r.descriptor.digest;
            let Some(artifact) =
                self.registry
                    .manifest_text(&mut self.gw, &endpoint, &name, d, &shown)?
            else {
                continue;
            };
            let payload = evidence::payload_of(&artifact.text)
                .map_err(|e| anyhow::anyhow!("{shown}: its referrer {d} is {e}"))?;
            // Listed for this image, it must say so itself: a referrers
            // list (or the tag that stands in for one, which anyone who
            // may push can write) is not the artifact's word.
            let about = evidence::subject_of(&artifact.text);
            anyhow::ensure!(
                about.as_deref() == Some(subject),
                "{shown}: its referrer {d} is the test evidence of {}, not of this image, though its registry lists it here; nothing it says is taken",
                about.as_deref().unwrap_or("no image")
            );
            // Held to its digest by the registry client.
            let text = self.registry.config_blob(
                &mut self.gw,
                &endpoint,
                &name,
                &payload.digest,
                &shown,
            )?;
            found.push(Evidence::parse(&text).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?);
        }
        Ok(found)
    }

    /// The gate of a promotion: the test passed on the image `g` names (or,
    /// for a flavour with no test, a push checked it), by evidence in the
    /// registry bound to its manifest whose image ID and test are exactly
    /// these.
    pub(super) fn check_evidence(&mut self, g: &crate::plan::check::EvidenceGate) -> Result<()> {
        let key = g.vouch.key();
        let what = g.vouch.shown();
        let shown = format!("{}@{}", g.reference.repository(), g.subject);
        let tested = matches!(g.vouch, crate::plan::write::Vouch::Passed(_));
        // Only the registry's evidence: it names this manifest as its
        // subject, while this machine's record names only the image ID
        // (its config), which a manifest with other layers shares.
        let found = self.read_evidence(&g.reference, &g.subject)?;
        let fits = |e: &Evidence| {
            e.image_id == g.image_id
                && e.result == g.vouch.result()
                && e.test == key
                && e.flavour == g.flavour
                && (g.platform.is_none() || e.platform == g.platform)
        };
        if let Some(e) = found.iter().find(|e| fits(e)) {
            crate::support::output::stderr_line(&format!(
                "{what} of flavour '{}' passed on {shown} ({}): evidence recorded {} by {}",
                g.flavour, g.image_id, e.created, e.tool
            ));
            return Ok(());
        }
        let others = match found.len() {
            0 => String::new(),
            1 => " (1 record there names another image or test)".to_string(),
            n => format!(" ({n} records there name another image or test)"),
        };
        let redo = if tested {
            format!("run `cargo xtask image test {} --dev` and push it with `cargo xtask image push {} --dev` on any runner", g.flavour, g.flavour)
        } else {
            format!(
                "push it with `cargo xtask image push {} --dev`, which checks it",
                g.flavour
            )
        };
        anyhow::bail!(
            "no evidence that the {what} of flavour '{}' passed on {shown} ({}){others}: {redo}; nothing was promoted",
            g.flavour,
            g.image_id,
        )
    }

    /// The referrers listed under the referrers tag (none when absent).
    fn listed_under_tag(
        &mut self,
        endpoint: &Endpoint,
        name: &str,
        tag: &str,
        shown: &str,
    ) -> Result<Vec<Referrer>> {
        match self
            .registry
            .manifest_text(&mut self.gw, endpoint, name, tag, shown)?
        {
            None => Ok(Vec::new()),
            Some(s) => evidence::parse_referrers(&s.text)
                .map_err(|e| anyhow::anyhow!("{shown}: its referrers tag {tag} holds {e}")),
        }
    }
}
