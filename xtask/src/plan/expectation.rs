//! What one image must show: the expectation a check holds an image to
//! (`rules/verify.rs` compares, `engine/verify.rs` gathers the facts).

use std::collections::BTreeMap;

use crate::model::image::{Framework, ImageInfo};
use crate::model::labels;
use crate::model::platform::Platform;
use crate::model::reference::{check_repo_digest, AnyRef};
use crate::plan::arg::{Arg, Slot};

/// What the labels must say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Labels {
    /// Right after a build: each label equals what was passed.
    Exact(Vec<(String, Arg)>),
    /// An image made earlier or elsewhere: version and ref.name as
    /// expected, revision a commit of this repository, base.name and
    /// base.digest consistent, a creation date.
    Recorded,
}

/// What one image must show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    /// The local name to check; for a build, the name its image takes
    /// once checked.
    pub image: AnyRef,
    /// What its ref.name label must hold; None for a promotion's source.
    pub ref_name: Option<String>,
    /// What its version label, and an installed itwinai, must hold.
    pub version: String,
    pub labels: Labels,
    pub distro: String,
    pub framework: Framework,
    /// Published under a release tag or alias: an image built from a dirty
    /// tree is refused.
    pub release: bool,
    /// The commit its revision label must name: a default development tag
    /// carries HEAD's hash, so the image must be HEAD's build.
    pub revision: Option<String>,
    /// The base its base.name label must name (a promotion's source must
    /// be built on its flavour's base, not be another flavour's image).
    pub base_name: Option<AnyRef>,
    /// A promotion's source: its ref.name must name a development image of
    /// the flavour at this version.
    pub source_of: Option<crate::plan::expectation::DevelopmentOf>,
    /// Whether it must carry the dirty label: a default development tag
    /// says `-dirty` exactly when it does.
    pub dirty: Option<bool>,
    /// Built by this very plan for this name: the image checked is the
    /// one the build wrote the ID of ([`Slot::Built`]), which has no name
    /// until it passes.
    pub built: Option<crate::model::reference::Reference>,
    /// The one platform of a multi-platform reference this image is: its
    /// config must say so, it runs as that platform (under emulation when
    /// foreign), and its base layers are that platform's of the base.
    pub platform: Option<Platform>,
    /// Built by the classic builder, which takes its base by a local name
    /// another process may move meanwhile: its history must reach the
    /// base image (by the digest pulled) after exactly this many commits
    /// (a base with ONBUILD triggers is refused: `rules::verify::built_on_base`).
    pub commits_on_base: Option<usize>,
}

/// Distributions the probe is asked about.
pub const ITWINAI_DIST: &str = "itwinai";

impl Expectation {
    /// Published where only this tool's own clean build may go: a release
    /// tag or alias, or HEAD's default development tag of a clean tree
    /// (what `release` promotes).
    pub fn needs_own_build(&self) -> bool {
        self.release || (self.revision.is_some() && self.dirty == Some(false))
    }

    /// A build of a clean tree (its image carries no dirty label): what
    /// passes is recorded as this tool's clean build.
    pub fn is_clean_build(&self) -> bool {
        self.built.is_some()
            && matches!(&self.labels, Labels::Exact(l) if !l.iter().any(|(k, _)| k == labels::DIRTY))
    }

    /// The image as messages name it: `image`, or, for a build, the name it
    /// takes and the image built for it.
    pub fn shown(&self) -> String {
        match &self.built {
            Some(name) => format!("{name}, as built"),
            None => self.image.to_string(),
        }
    }

    /// What `docker image inspect` is given: the name, or, for a build,
    /// the ID it wrote.
    pub fn subject(&self) -> Arg {
        match &self.built {
            Some(name) => Arg::slot(Slot::Built { name: name.clone() }),
            None => Arg::Lit(self.image.to_string()),
        }
    }

    /// The image ID the check binds everything after the inspection to.
    pub fn checked_id(&self) -> Arg {
        match &self.built {
            Some(name) => Arg::slot(Slot::Built { name: name.clone() }),
            None => Arg::slot(Slot::ImageId {
                reference: self.image.clone(),
            }),
        }
    }

    pub fn dists(&self) -> Vec<String> {
        vec![self.framework.package.clone(), ITWINAI_DIST.to_string()]
    }

    /// One line for `--dry-run`.
    pub fn describe(&self) -> String {
        format!(
            "check {}: {}its labels, VERSION_CODENAME={} in /etc/os-release, {} {} (and {ITWINAI_DIST} {}, if installed) inside, built on its recorded base{}",
            self.image,
            self.platform
                .as_ref()
                .map_or(String::new(), |p| format!("a {p} image (run as {p}), ")),
            self.distro,
            self.framework.package,
            self.framework.version,
            self.version,
            if self.release { ", from a clean tree" } else { "" }
        )
    }

    /// The base as `--dry-run` shows its lookup: the digest passed, or a
    /// note that it comes from the image's label.
    pub fn base_shown(&self) -> Arg {
        match &self.labels {
            Labels::Exact(list) => list
                .iter()
                .find(|(k, _)| k == labels::BASE_DIGEST)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| Arg::Lit(String::new())),
            Labels::Recorded => Arg::Lit(format!("<{} of {}>", labels::BASE_DIGEST, self.image)),
        }
    }

    /// The base digest passed to the build, once known (`Exact` only).
    pub fn passed_base_digest(&self, values: &BTreeMap<Slot, String>) -> Option<String> {
        match &self.labels {
            Labels::Exact(list) => {
                let (_, v) = list.iter().find(|(k, _)| k == labels::BASE_DIGEST)?;
                if let Arg::Slot { slot, .. } = v {
                    values.get(slot)?;
                }
                let d = v.resolve(values);
                check_repo_digest(&d).ok().map(|()| d)
            }
            Labels::Recorded => None,
        }
    }

    /// The `repository@sha256:…` of the base, from what was passed or,
    /// for a recorded image, from its label.
    pub fn base_digest(
        &self,
        image: &ImageInfo,
        values: &BTreeMap<Slot, String>,
    ) -> Option<String> {
        let d = match &self.labels {
            Labels::Exact(list) => list
                .iter()
                .find(|(k, _)| k == labels::BASE_DIGEST)
                .map(|(_, v)| v.resolve(values))?,
            Labels::Recorded => image.labels.get(labels::BASE_DIGEST)?.clone(),
        };
        check_repo_digest(&d).ok().map(|()| d)
    }

    /// A canonical text of everything a pass depends on besides the image.
    pub fn fingerprint(&self, values: &BTreeMap<Slot, String>, root: &std::path::Path) -> String {
        let labels: Vec<(String, String)> = match &self.labels {
            Labels::Exact(list) => list
                .iter()
                .map(|(k, v)| (k.clone(), v.resolve(values)))
                .collect(),
            Labels::Recorded => Vec::new(),
        };
        format!(
            "v1 {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
            self.platform,
            self.base_name,
            self.source_of,
            self.dirty,
            self.revision,
            self.ref_name,
            self.version,
            labels,
            self.distro,
            self.framework.package,
            self.framework.version,
            self.release,
            root
        )
    }
}

/// What a promotion's source must be: a development image of the flavour
/// at this version, as its `ref.name` label says (`<registry>/<development>:
/// <the flavour's release tag>-<HEAD's hex>[-dirty]`). An image of another
/// flavour, another version, or a release, is not promoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevelopmentOf {
    pub flavour: String,
    pub version: String,
    /// `<registry>/<development>`.
    pub repository: String,
    /// The flavour's release tag at this version.
    pub release_tag: String,
    /// The catalog's `dev-hash-length`.
    pub hash_len: usize,
}

impl DevelopmentOf {
    /// The hex digits of `ref_name` (the source's label), or why it is not
    /// such an image. Whether they are the image's commit is
    /// `rules::promotion::dev_tag_names_its_commit`.
    pub fn check<'r>(&self, ref_name: &'r str) -> Result<&'r str, String> {
        let commit = ref_name
            .strip_prefix(&self.repository)
            .and_then(|rest| rest.strip_prefix(':'))
            .and_then(|tag| {
                crate::model::tag_format::default_dev_commit(tag, &self.release_tag, self.hash_len)
            });
        if let Some((hex, _)) = commit {
            return Ok(hex);
        }
        let shown = if ref_name.is_empty() {
            "missing"
        } else {
            ref_name
        };
        Err(format!(
            "its {} label is '{shown}': it is not a development image of flavour '{}' at version {} ({}:{}-<{} hex digits of its commit>)",
            labels::REF_NAME,
            self.flavour,
            self.version,
            self.repository,
            self.release_tag,
            self.hash_len
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_promotion_source_is_a_development_image_of_its_flavour() {
        let shape = DevelopmentOf {
            flavour: "beta".into(),
            version: "0.3.0".into(),
            repository: "r.io/ns/itwinai-dev".into(),
            release_tag: "0.3.0-beta-torch2.6-noble".into(),
            hash_len: 12,
        };
        let dev = "r.io/ns/itwinai-dev:0.3.0-beta-torch2.6-noble";
        let cases: [(String, bool); 10] = [
            (format!("{dev}-0123456789ab"), true),
            (format!("{dev}-0123456789ab-dirty"), true),
            // Another flavour's, another version's, a release.
            (
                "r.io/ns/itwinai-dev:0.3.0-alpha-torch2.6-noble-0123456789ab".into(),
                false,
            ),
            (
                "r.io/ns/itwinai-dev:0.2.9-beta-torch2.6-noble-0123456789ab".into(),
                false,
            ),
            ("r.io/ns/itwinai:0.3.0-beta-torch2.6-noble".into(), false),
            // Another repository; a hash of another length or not hex; a
            // custom --tag.
            (
                "r.io/other/itwinai-dev:0.3.0-beta-torch2.6-noble-0123456789ab".into(),
                false,
            ),
            (format!("{dev}-0123456789abc"), false),
            (format!("{dev}-0123456789aB"), false),
            ("r.io/ns/itwinai-dev:mine".into(), false),
            (String::new(), false),
        ];
        for (ref_name, ok) in cases {
            let got = shape.check(&ref_name);
            assert_eq!(got.is_ok(), ok, "{ref_name}: {got:?}");
            if let Ok(hex) = got {
                assert_eq!(hex, "0123456789ab", "{ref_name}");
            }
            if let Err(why) = got {
                assert!(
                    why.contains("not a development image of flavour 'beta' at version 0.3.0"),
                    "{why}"
                );
            }
        }
    }
}
