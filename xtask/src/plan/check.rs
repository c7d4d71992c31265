//! The checks of a plan, and a plan's items: what the executor verifies
//! through further read-only steps, between the steps it runs.

use crate::model::platform::Platform;
use crate::model::reference::{AnyRef, Reference};
use crate::oci::distribution::{Endpoint, Request};
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
    /// Exactly what a read saw: nothing, or that.
    pub fn seen(seen: Option<&crate::model::remote::Remote>) -> RemoteExpect {
        match seen {
            None => RemoteExpect::Absent,
            Some(r) => RemoteExpect::Seen(r.clone()),
        }
    }

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
        /// Whether untracked files count: not for a clean build, whose
        /// context is the commit, so that a file made meanwhile beside it
        /// changes nothing that was built.
        untracked: bool,
        name: Reference,
    },
    /// The registry serves `expect` under `reference`: right before a
    /// write (nobody changed it since it was read) and right after (the
    /// registry serves what was pushed).
    Registry {
        reference: Reference,
        expect: RemoteExpect,
    },
    /// The flavour's test passed on an image in the registry, by the
    /// evidence recorded next to it (any runner's), or this machine's own
    /// record: the gate of a promotion, which never runs the image.
    Evidence(Box<EvidenceGate>),
    /// The flavour's test passed on this image ID: recorded before, or run
    /// now (and recorded). Gates every release publish and promotion.
    Tested {
        flavour: String,
        reference: AnyRef,
        id: Arg,
        platform: Option<Platform>,
        test: Box<crate::project::catalog::Test>,
    },
}

impl Check {
    /// What the check verifies, as `--dry-run` shows it.
    pub fn describe(&self) -> String {
        match self {
            Check::Image(e) => e.describe(),
            Check::TreeUnchanged { name, .. } => {
                format!("check that HEAD and the tree did not change while {name} was built")
            }
            Check::Registry { reference, expect } => format!(
                "check that the registry serves {} under {reference}",
                expect.shown()
            ),
            Check::Tested {
                flavour, reference, ..
            } => format!(
                "check that the test of flavour '{flavour}' passed on {reference}: recorded for its image ID, else run now"
            ),
            Check::Evidence(g) => format!(
                "check that the {} of flavour '{}' passed on {}@{} ({}): evidence in the registry, or this machine's record",
                g.vouch.shown(),
                g.flavour,
                g.reference.repository(),
                g.subject,
                g.image_id
            ),
        }
    }

    /// The read-only steps the check runs: the executor runs these and
    /// `--dry-run` prints them. An image check's probe and a test are
    /// skipped when the cache already holds their result for the image
    /// ID; `with_credentials` says whether a registry read goes with the
    /// credentials an earlier read of that repository needed.
    pub fn steps(&self, with_credentials: impl Fn(&Endpoint, &str) -> bool) -> Vec<Step> {
        match self {
            Check::Image(e) => {
                let mut steps = vec![Step::Inspect {
                    images: vec![e.subject(), e.base_shown()],
                }];
                if e.commits_on_base.is_some() {
                    steps.push(Step::History { image: e.subject() });
                }
                steps.push(Step::Probe {
                    image: e.checked_id(),
                    platform: e.platform.clone(),
                    dists: e.dists(),
                });
                steps
            }
            Check::TreeUnchanged { .. } => vec![Step::GitState, Step::GitTracked],
            Check::Registry { reference, .. } => {
                let endpoint = Endpoint::of_host(reference.registry().host());
                let name = reference.api_name();
                let request = Request::manifest(&endpoint, &name, reference.tag());
                let request = if with_credentials(&endpoint, &name) {
                    request.with_credentials()
                } else {
                    request
                };
                vec![Step::Registry(Box::new(request))]
            }
            Check::Evidence(g) => {
                let endpoint = Endpoint::of_host(g.reference.registry().host());
                let request = Request::referrers(&endpoint, &g.reference.api_name(), &g.subject);
                vec![Step::Registry(Box::new(request))]
            }
            Check::Tested {
                id, platform, test, ..
            } => vec![Step::Test {
                image: id.clone(),
                platform: platform.clone(),
                test: (**test).clone(),
            }],
        }
    }
}

/// What [`Check::Evidence`] requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceGate {
    pub flavour: String,
    /// The image's reference (its repository is where the evidence is).
    pub reference: Reference,
    /// Its manifest digest: the evidence's subject.
    pub subject: String,
    /// Its image ID (config digest): what the test must have run on.
    pub image_id: String,
    pub platform: Option<Platform>,
    pub vouch: crate::plan::write::Vouch,
}

/// One entry of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Run(Step),
    Check(Check),
    Write(crate::plan::write::Write),
}

/// How far one owner's part of a plan (a target, a reference, an alias)
/// got when the plan ran, or stopped at its item `failed_at`: the one way a
/// command says which of its references a failure belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Every item of the owner ran.
    Done,
    /// The item that failed is the owner's.
    Failed,
    /// The plan stopped before the owner's items (or it has none).
    NotRun,
}

/// The progress of `owner` in `items`, stopped at `failed_at` (None: the
/// plan ran to its end).
pub fn progress<O: PartialEq>(
    items: &[(O, Item)],
    failed_at: Option<usize>,
    owner: &O,
) -> Progress {
    if failed_at.is_some_and(|at| items.get(at).is_some_and(|(o, _)| o == owner)) {
        return Progress::Failed;
    }
    let end = failed_at.unwrap_or(items.len());
    let mine = || items.iter().enumerate().filter(|(_, (o, _))| o == owner);
    if mine().next().is_some() && mine().all(|(k, _)| k < end) {
        Progress::Done
    } else {
        Progress::NotRun
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_says_whose_item_failed_and_what_ran_before() {
        let i = || Item::Run(Step::GitState);
        let items = vec![(0, i()), (1, i()), (0, i()), (2, i()), (1, i())];
        let cases: [(Option<usize>, [Progress; 4]); 4] = [
            (
                None,
                [
                    Progress::Done,
                    Progress::Done,
                    Progress::Done,
                    Progress::NotRun,
                ],
            ),
            // Stopped at the third item, owner 0's second.
            (
                Some(2),
                [
                    Progress::Failed,
                    Progress::NotRun,
                    Progress::NotRun,
                    Progress::NotRun,
                ],
            ),
            (
                Some(3),
                [
                    Progress::Done,
                    Progress::NotRun,
                    Progress::Failed,
                    Progress::NotRun,
                ],
            ),
            (
                Some(4),
                [
                    Progress::Done,
                    Progress::Failed,
                    Progress::Done,
                    Progress::NotRun,
                ],
            ),
        ];
        for (failed_at, want) in cases {
            let got = [0, 1, 2, 3].map(|o| progress(&items, failed_at, &o));
            assert_eq!(got, want, "{failed_at:?}");
        }
    }
}
