//! One argument of a step's argv: known when planned, or a value a step
//! learns while the plan runs ([`Slot`]).

use std::collections::BTreeMap;

use crate::model::reference::{AnyRef, Reference};

/// A value only known at run time.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Slot {
    /// The `repository@sha256:…` digest of a base image once pulled.
    BaseDigest { image: AnyRef },
    /// The image ID (`sha256:…`) of a reference once checked.
    ImageId { reference: AnyRef },
    /// The image ID (`sha256:…`) a build wrote (`--iidfile`) of the image
    /// that takes `name` once checked: unnamed until then.
    Built { name: Reference },
    /// The digest (`sha256:…`) of the index `docker manifest push` wrote.
    IndexDigest { reference: Reference },
    /// The manifest digest (`sha256:…`) a registry served under a
    /// reference when it was read back after a push.
    ManifestDigest { reference: Reference },
    /// The name the executor gives the container a step runs, so that it
    /// can remove it when the step is stopped (SIGINT, SIGTERM, timeout).
    Container,
}

impl Slot {
    /// What `--dry-run` prints instead of the value.
    pub fn placeholder(&self) -> String {
        match self {
            Slot::BaseDigest { image } => {
                format!("<BASE_IMG_DIGEST of {image}, known after the pull>")
            }
            Slot::ImageId { reference } => format!("<image ID of {reference}>"),
            Slot::Built { name } => format!("<image ID built for {name}>"),
            Slot::IndexDigest { reference } => format!("<index digest of {reference}>"),
            Slot::ManifestDigest { reference } => format!("<digest of {reference} as read back>"),
            Slot::Container => "<container name>".to_string(),
        }
    }
}

/// One argv element: known now, or filled in by the executor from what an
/// earlier step learnt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Lit(String),
    /// `prefix` followed by the value of a slot (e.g. `BASE_IMG_DIGEST=` and
    /// the digest that a pull revealed).
    Slot {
        prefix: String,
        slot: Slot,
    },
}

impl Arg {
    pub fn slot(slot: Slot) -> Arg {
        Arg::Slot {
            prefix: String::new(),
            slot,
        }
    }

    pub fn resolve(&self, values: &BTreeMap<Slot, String>) -> String {
        match self {
            Arg::Lit(s) => s.clone(),
            Arg::Slot { prefix, slot } => match values.get(slot) {
                Some(v) => format!("{prefix}{v}"),
                None => format!("{prefix}{}", slot.placeholder()),
            },
        }
    }

    /// The value, or its placeholder where it is not known yet.
    pub fn shown(&self) -> String {
        self.resolve(&BTreeMap::new())
    }

    /// The same value with `prefix` in front (`--build-arg NAME=` + value).
    pub fn prefixed(&self, p: &str) -> Arg {
        match self {
            Arg::Lit(s) => Arg::Lit(format!("{p}{s}")),
            Arg::Slot { prefix, slot } => Arg::Slot {
                prefix: format!("{p}{prefix}"),
                slot: slot.clone(),
            },
        }
    }
}

pub fn lit(s: impl Into<String>) -> Arg {
    Arg::Lit(s.into())
}

/// Literal argv from anything string-like.
pub fn lits<I, S>(items: I) -> Vec<Arg>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    // A plain loop: an iterator chain here was compiled once per call site.
    let mut out = Vec::new();
    for s in items {
        out.push(Arg::Lit(s.into()));
    }
    out
}
