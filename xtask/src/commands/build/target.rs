//! What one image of a build is: its names, the platform it is built for,
//! every value it records, and what it must show once built.

use crate::model::labels;
use crate::model::platform::Platform;
use crate::model::reference::Reference;
use crate::plan::arg::{Arg, Slot};
use crate::plan::expectation::{Expectation, Labels};
use crate::plan::provenance::Provenance;
use crate::plan::step::Builder;

/// One image to build, with every value it records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub flavour: String,
    pub dockerfile: String,
    /// The reference it is published under (IMAGE_FULL_NAME, ref.name).
    pub reference: Reference,
    /// The platform of a multi-platform flavour this image is (None: a
    /// flavour without `platforms`, one plain image).
    pub platform: Option<Platform>,
    /// What it is built for and checked against: `platform`, else the
    /// engine's own, named explicitly whatever DOCKER_DEFAULT_PLATFORM says.
    pub built_for: Platform,
    /// Its name in the local engine: the reference, or one platform's name.
    /// It is built with no name and `local` moves to it only once it passed
    /// every check, so a build that fails them leaves the previous image's
    /// name where it was.
    pub local: Reference,
    /// The new file of the tool's cache docker writes the built image's
    /// ID into (`--iidfile`).
    pub iidfile: String,
    pub distro: String,
    pub framework: crate::model::image::Framework,
    pub provenance: Provenance,
    pub extra_args: Vec<(String, String)>,
    /// Built from a tree with uncommitted changes (recorded as a label).
    pub dirty: bool,
    /// The instructions its Dockerfile commits on the base, along the
    /// final stage's chain.
    pub steps: usize,
    /// Its Dockerfile reads BuildKit's TARGET* ARGs: a classic build is
    /// given them for `built_for`, as BuildKit sets them.
    pub target_args: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub builder: Builder,
    pub no_cache: bool,
    pub pull: bool,
}

use crate::model::reference::AnyRef;

/// The slot that holds a base image's digest.
pub fn digest_slot(base: &AnyRef) -> Slot {
    Slot::BaseDigest {
        image: base.clone(),
    }
}

impl Target {
    /// What the built image must show: exactly the values passed; built
    /// by the classic builder, on exactly the base pulled.
    pub fn expectation(&self, builder: &Builder) -> Expectation {
        let mut labels = self.provenance.labels();
        if self.dirty {
            labels.push((labels::DIRTY.to_string(), Arg::Lit("true".into())));
        }
        Expectation {
            image: (&self.local).into(),
            ref_name: Some(self.reference.to_string()),
            version: self.provenance.itwinai_version.clone(),
            labels: Labels::Exact(labels),
            distro: self.distro.clone(),
            framework: self.framework.clone(),
            release: false,
            revision: None,
            base_name: None,
            source_of: None,
            dirty: None,
            built: Some(self.local.clone()),
            platform: Some(self.built_for.clone()),
            // The dirty label is one more commit (`docker build --label`).
            commits_on_base: (*builder == Builder::Classic)
                .then_some(self.steps + usize::from(self.dirty)),
        }
    }
}
