//! What `image push` decides and records per reference: the entries, their
//! platform parts and aliases, who owns each step of the plan, and the
//! status each ends with.

use crate::model::platform::Platform;
use crate::model::reference::Reference;
use crate::model::remote::Remote;
use crate::plan::arg::Arg;
use crate::plan::check::RemoteExpect;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pushed,
    AlreadyPublished,
    Skipped,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pushed => "pushed",
            Status::AlreadyPublished => "already-published",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
        }
    }
}

/// One platform's image of a multi-platform reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub platform: Platform,
    /// Its name in the local engine.
    pub local: Reference,
    /// The name its manifest digest is known by in the plan: the
    /// reference's repository, the tag with the platform's suffix. The
    /// image is written by digest only: that tag is never written.
    pub into: Reference,
    /// The checked local image (a placeholder when a dry run plans a
    /// push of an image not built yet).
    pub id: Arg,
}

/// One reference to publish, what was decided and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub flavour: String,
    pub reference: Reference,
    /// The project version it is published at.
    pub version: String,
    /// The checked local image (single-platform references; a placeholder
    /// when a dry run plans a push of an image not built yet).
    pub id: Arg,
    /// A multi-platform reference's images, published as one index.
    pub parts: Vec<Part>,
    /// Images of other platforms the index under a development tag
    /// already lists for the same build (another runner's): kept in the
    /// index this push writes.
    pub keep: Vec<crate::model::remote::Member>,
    /// What the registry served under the reference when it was read
    /// (`None`: nothing, or not read for a development tag).
    pub seen: Option<Remote>,
    /// Push it (false: already published).
    pub push: bool,
    /// Read the tag before pushing (release tags: no-clobber).
    pub guard: bool,
    /// The alias that is to point at this image after all versioned pushes.
    pub alias: Option<Alias>,
    /// The flavour's test, which must have passed on this image before a
    /// release tag or alias is published.
    pub test: Option<crate::project::catalog::Test>,
    /// The test whose pass is recorded next to each image written: the
    /// gate's (release tags), or for a development tag the one this
    /// machine recorded as passed on every image of it.
    pub evidence: Option<crate::plan::write::Vouch>,
    pub status: Status,
    pub digest: Option<String>,
    pub alias_done: bool,
}

/// A declared alias and what the registry served under it when read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    pub reference: Reference,
    pub seen: Option<Remote>,
    /// False when it already points at the image.
    pub move_it: bool,
    /// The version of what it pointed at (when another image was there
    /// and its label was read).
    pub from: Option<String>,
    /// What became of it.
    pub status: AliasStatus,
}

/// What became of an alias.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AliasStatus {
    /// To be moved (a dry run ends here).
    Planned,
    /// It did not exist; it does now.
    Created,
    /// It pointed at another image; it points at this one now.
    Moved,
    /// It pointed at this image already.
    AlreadyThere,
    /// Its move failed (the `error` is on its row).
    Failed,
    /// Not moved: the push stopped before it.
    NotMoved,
}

impl AliasStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AliasStatus::Planned => "planned",
            AliasStatus::Created => "created",
            AliasStatus::Moved => "moved",
            AliasStatus::AlreadyThere => "already-there",
            AliasStatus::Failed => "failed",
            AliasStatus::NotMoved => "not-moved",
        }
    }
}

/// Whose step a plan entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Version(usize),
    Alias(usize),
}

impl Entry {
    /// `(platform, image ID)` of each part and each image kept, in
    /// platform order.
    pub fn images(&self) -> Vec<(Platform, String)> {
        let mut out: Vec<(Platform, String)> = self
            .parts
            .iter()
            .map(|p| (p.platform.clone(), p.id.shown()))
            .chain(
                self.keep
                    .iter()
                    .map(|m| (m.platform.clone(), m.config.clone().unwrap_or_default())),
            )
            .collect();
        out.sort();
        out
    }

    /// What the registry must serve under its tag (and alias) once written.
    pub(super) fn written(&self) -> RemoteExpect {
        if self.parts.is_empty() {
            RemoteExpect::Image(self.id.shown())
        } else {
            RemoteExpect::Index(self.images())
        }
    }
}

/// The platforms an index serves that `ours` (the images about to take
/// its place; none: one single-platform image) does not: what the users of
/// an alias lose when it moves.
pub(super) fn lost_platforms(seen: &Remote, ours: &[Platform]) -> Option<String> {
    let lost: Vec<String> = seen
        .members
        .iter()
        .filter(|m| !ours.contains(&m.platform))
        .map(|m| m.platform.to_string())
        .collect();
    (!lost.is_empty()).then(|| lost.join(", "))
}
