//! The checks of a plan, and a plan's items: what the executor verifies
//! through further read-only steps, between the steps it runs.

use crate::model::platform::Platform;
use crate::model::reference::Reference;
use crate::plan::arg::Arg;
use crate::plan::expectation::Expectation;
use crate::plan::step::Step;

/// What a registry must serve under a tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteExpect {
    /// Nothing (the tag does not exist).
    Absent,
    /// Exactly what an earlier read saw.
    Seen(crate::model::remote::Remote),
    /// An image whose config digest is this local image ID.
    Image(String),
    /// An index of exactly these platforms' images (config digest = ID).
    Index(Vec<(Platform, String)>),
}

impl RemoteExpect {
    /// For messages and `--dry-run`.
    pub fn shown(&self) -> String {
        match self {
            RemoteExpect::Absent => "nothing".to_string(),
            RemoteExpect::Seen(r) => r.shown(),
            RemoteExpect::Image(id) => format!("the image {id}"),
            RemoteExpect::Index(images) => format!(
                "an index of exactly {}",
                images
                    .iter()
                    .map(|(p, id)| format!("{p} {id}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// A verification the executor carries out through read-only steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// The image passes every provenance check (`verify.rs`).
    Image(Box<Expectation>),
    /// HEAD and the tree status are what they were before `name` was
    /// built (under `reference`, its staging name); if not, the build
    /// fails, `reference` is removed and `name` stays where it was.
    TreeUnchanged {
        head: String,
        status: String,
        reference: Reference,
        name: Reference,
    },
    /// The registry serves `expect` under `reference`: right before a
    /// write (nobody changed it since it was read) and right after (the
    /// registry serves what was pushed).
    Registry {
        reference: Reference,
        expect: RemoteExpect,
    },
    /// A local name still points at the image that was checked.
    LocalIs { reference: Reference, id: Arg },
    /// `target` has exactly the layers of `source` and every label of it
    /// but ref.name, which names `target`.
    Promotion {
        source: String,
        target: Reference,
        /// What its ref.name must say (the published reference).
        ref_name: Reference,
    },
    /// The flavour's test passed on this image ID: recorded before, or run
    /// now (and recorded). Gates every release publish and promotion.
    Tested {
        flavour: String,
        reference: String,
        id: Arg,
        platform: Option<Platform>,
        test: crate::project::catalog::Test,
    },
}

/// One entry of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Run(Step),
    Check(Check),
}
