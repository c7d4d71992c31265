//! A plan's writes to a registry: the executor carries each out through the
//! registry client (`engine/publish.rs`), a few requests each; `--dry-run`
//! prints what each writes and runs none.

use crate::model::platform::Platform;
use crate::model::reference::Reference;
use crate::plan::arg::{Arg, Slot};

/// One write to a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// The local image `id`, exactly its content (`docker save` of the ID,
    /// each layer checked against the config, the config against the ID),
    /// into the repository of `into` by digest: each blob found there or
    /// uploaded, then the manifest under its digest; no tag. Its digest
    /// goes to `ManifestDigest { reference: into }`.
    Image { id: Arg, into: Reference },
    /// The manifest (or index) `digest` of the repository of `target`
    /// under `target`'s tag: the same bytes, so the same digest.
    Tag { digest: Arg, target: Reference },
    /// An index of `entries` (each platform's manifest digest, in the
    /// repository of `target`) under `target`'s tag; its digest goes to
    /// `IndexDigest { reference: target }`.
    Index {
        target: Reference,
        entries: Vec<(Platform, Arg)>,
    },
    /// The record that the flavour's `test` passed on the image `id`,
    /// written next to its manifest `subject` in the repository of `into`
    /// (an OCI artifact with that subject), for any runner's gate to read.
    Evidence(Box<Evidence>),
    /// A promotion in the registry: the blobs of the source image mounted
    /// from its repository (nothing downloaded or uploaded but the new
    /// config), the relabelled config uploaded, the manifest written by
    /// digest and read back. Its digest goes to
    /// `ManifestDigest { reference: into }`.
    Promote(Box<Promote>),
}

/// What [`Write::Promote`] writes, all decided before it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promote {
    /// The source's repository (the development image's reference).
    pub from: Reference,
    /// The name the written manifest's digest is known by (in the
    /// target's repository; never written as a tag).
    pub into: Reference,
    /// The blobs mounted from `from`: the layers, and the source's config
    /// (so that a gate can compare the two configs later).
    pub mount: Vec<String>,
    pub config: crate::oci::manifest::Descriptor,
    pub config_text: String,
    pub manifest_type: String,
    pub manifest_text: String,
}

/// What [`Write::Evidence`] records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub into: Reference,
    pub subject: Arg,
    pub id: Arg,
    pub flavour: String,
    pub platform: Option<Platform>,
    pub vouch: Vouch,
}

/// What an evidence record vouches for: the image passed the checks of
/// the push that wrote it (a flavour that declares no test), or its test
/// passed as well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vouch {
    Checked,
    Passed(crate::project::catalog::Test),
}

impl Vouch {
    /// What the flavour's record must say: its test passed, or (no test
    /// declared) the image was checked.
    pub fn of(test: Option<&crate::project::catalog::Test>) -> Vouch {
        test.map_or(Vouch::Checked, |t| Vouch::Passed(t.clone()))
    }

    /// The record's `test` (the test's key; empty when none ran).
    pub fn key(&self) -> String {
        match self {
            Vouch::Checked => String::new(),
            Vouch::Passed(t) => t.key(),
        }
    }

    /// The record's `result`.
    pub fn result(&self) -> &'static str {
        match self {
            Vouch::Checked => "checked",
            Vouch::Passed(_) => "passed",
        }
    }

    /// What it vouches for, in words (progress, errors).
    pub fn shown(&self) -> &'static str {
        match self {
            Vouch::Checked => "checks",
            Vouch::Passed(_) => "test",
        }
    }
}

impl Write {
    /// The digest a write of an image leaves, for the writes after it.
    pub fn image_digest(into: &Reference) -> Arg {
        Arg::slot(Slot::ManifestDigest {
            reference: into.clone(),
        })
    }

    /// What it writes, for `--dry-run` and progress.
    pub fn describe(&self, values: &std::collections::BTreeMap<Slot, String>) -> String {
        match self {
            Write::Image { id, into } => format!(
                "write the image {} into {} by digest: docker save of the ID, each blob the registry lacks uploaded, the manifest by digest",
                id.resolve(values),
                into.repository()
            ),
            Write::Tag { digest, target } => {
                format!("write the manifest {} under {target}", digest.resolve(values))
            }
            Write::Evidence(e) => format!(
                "write the {} evidence of {} next to {}@{}",
                e.vouch.shown(),
                e.id.resolve(values),
                e.into.repository(),
                e.subject.resolve(values)
            ),
            Write::Promote(p) => format!(
                "write {} into {} by digest: {} blobs mounted from {}, the config {} relabelled, the manifest {}",
                p.into,
                p.into.repository(),
                p.mount.len(),
                p.from.repository(),
                p.config.digest,
                crate::support::sha256::digest(p.manifest_text.as_bytes())
            ),
            Write::Index { target, entries } => format!(
                "write the index of {} under {target}",
                entries
                    .iter()
                    .map(|(p, d)| format!("{p} {}", d.resolve(values)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// The reference it writes (or writes into), which a failure is
    /// reported against.
    pub fn target(&self) -> &Reference {
        match self {
            Write::Image { into, .. } => into,
            Write::Evidence(e) => &e.into,
            Write::Promote(p) => &p.into,
            Write::Tag { target, .. } | Write::Index { target, .. } => target,
        }
    }
}
