//! The steps that publish the decided entries: every versioned push, then
//! every alias move; each write between a read of what is there and a
//! read-back of what was written, the test gate before all of them. Every
//! write is the registry client's (`plan/write.rs`): an image goes by its
//! checked ID's exact content, a multi-platform image's platforms by digest
//! only (no tag of their own) under one index, an alias is the release's
//! manifest written under the alias tag. Nothing is pushed by a local name.

use super::entry::{Alias, Entry, Owner};
use crate::model::platform::Platform;
use crate::model::reference::Reference;
use crate::plan::arg::Arg;
use crate::plan::check::{Check, Item, RemoteExpect};
use crate::plan::write::Write;

/// The steps that publish, and whose each is: every versioned push, then
/// every alias move; each write between a read of what is there and a
/// read-back of what was written.
pub fn plan(items: &[Entry]) -> Vec<(Owner, Item)> {
    let mut out = test_gate(items);
    let registry = |reference: &Reference, expect: RemoteExpect| {
        Item::Check(Check::Registry {
            reference: reference.clone(),
            expect,
        })
    };
    for (n, i) in items.iter().enumerate().filter(|(_, i)| i.push) {
        let o = Owner::Version(n);
        if i.guard {
            out.push((
                o,
                registry(&i.reference, RemoteExpect::seen(i.seen.as_ref())),
            ));
        }
        if i.parts.is_empty() {
            out.push((
                o,
                Item::Write(Write::Image {
                    id: i.id.clone(),
                    into: i.reference.clone(),
                }),
            ));
            out.extend(evidence(i, &i.id, &i.reference, None).map(|w| (o, w)));
            out.push((
                o,
                Item::Write(Write::Tag {
                    digest: Write::image_digest(&i.reference),
                    target: i.reference.clone(),
                }),
            ));
        } else {
            // Each platform's image by digest, then the index of them.
            let mut entries: Vec<(Platform, Arg)> = Vec::new();
            for p in &i.parts {
                out.push((
                    o,
                    Item::Write(Write::Image {
                        id: p.id.clone(),
                        into: p.into.clone(),
                    }),
                ));
                out.extend(evidence(i, &p.id, &p.into, Some(&p.platform)).map(|w| (o, w)));
                entries.push((p.platform.clone(), Write::image_digest(&p.into)));
            }
            // Another runner's platforms of the same build, as listed.
            entries.extend(
                i.keep
                    .iter()
                    .map(|m| (m.platform.clone(), Arg::Lit(m.digest.clone()))),
            );
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            out.push((
                o,
                Item::Write(Write::Index {
                    target: i.reference.clone(),
                    entries,
                }),
            ));
        }
        out.push((o, registry(&i.reference, i.written())));
    }
    for (n, i) in items.iter().enumerate() {
        let Some(Alias {
            reference: alias,
            seen,
            move_it: true,
            ..
        }) = &i.alias
        else {
            continue;
        };
        let o = Owner::Alias(n);
        out.push((o, registry(alias, RemoteExpect::seen(seen.as_ref()))));
        // The release's manifest (or index) as the registry served it: read
        // back after this run's push, or when it was read before.
        let digest = match (&i.seen, i.push) {
            (Some(r), false) => Arg::Lit(r.digest.clone().unwrap_or_default()),
            _ => Write::image_digest(&i.reference),
        };
        out.push((
            o,
            Item::Write(Write::Tag {
                digest,
                target: alias.clone(),
            }),
        ));
        out.push((o, registry(alias, i.written())));
    }
    out
}

/// The evidence that the entry's test passed on the image `id` just
/// written as `into` (none when the flavour declares no test): any runner
/// that later publishes or promotes it reads it from the registry.
fn evidence(i: &Entry, id: &Arg, into: &Reference, platform: Option<&Platform>) -> Option<Item> {
    let vouch = i.evidence.as_ref()?;
    Some(Item::Write(Write::Evidence(Box::new(
        crate::plan::write::Evidence {
            into: into.clone(),
            subject: Write::image_digest(into),
            id: id.clone(),
            flavour: i.flavour.clone(),
            platform: platform.cloned(),
            vouch: vouch.clone(),
        },
    ))))
}

/// The test gate: a failing test publishes nothing.
fn test_gate(items: &[Entry]) -> Vec<(Owner, Item)> {
    let mut out = Vec::new();
    for (n, i) in items.iter().enumerate() {
        let publishes = i.push || i.alias.as_ref().is_some_and(|a| a.move_it);
        let (Some(test), true) = (&i.test, publishes) else {
            continue;
        };
        let tested = |reference: &Reference, id: &Arg, platform: Option<&Platform>| {
            Item::Check(Check::Tested {
                flavour: i.flavour.clone(),
                reference: reference.into(),
                id: id.clone(),
                platform: platform.cloned(),
                test: Box::new(test.clone()),
            })
        };
        if i.parts.is_empty() {
            out.push((Owner::Version(n), tested(&i.reference, &i.id, None)));
        }
        for p in &i.parts {
            out.push((
                Owner::Version(n),
                tested(&p.local, &p.id, Some(&p.platform)),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::entry::{Part, Status};
    use super::*;
    use crate::model::reference::Registry;
    use crate::model::remote::Remote;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn item(tag: &str, push: bool, alias: Option<&str>) -> Entry {
        let reg = Registry::parse("127.0.0.1:5000").unwrap();
        Entry {
            flavour: tag.into(),
            reference: Reference::new(&reg, "itwinai", tag).unwrap(),
            version: "0.2.2".into(),
            id: Arg::Lit(format!("sha256:{}", tag.len())),
            parts: vec![],
            keep: vec![],
            seen: None,
            push,
            guard: true,
            test: None,
            evidence: None,
            alias: alias.map(|a| Alias {
                reference: Reference::new(&reg, "itwinai", a).unwrap(),
                seen: None,
                move_it: true,
                from: None,
                status: super::super::entry::AliasStatus::Planned,
            }),
            status: Status::Skipped,
            digest: None,
            alias_done: false,
        }
    }

    /// Each item as one line: its owner and what it does.
    fn lines(plan: Vec<(Owner, Item)>) -> Vec<String> {
        let values = std::collections::BTreeMap::new();
        plan.into_iter()
            .map(|(o, i)| {
                let what = match i {
                    Item::Run(s) => crate::plan::step::render_step(&s, &values),
                    Item::Write(w) => w.describe(&values),
                    Item::Check(Check::Tested { reference, .. }) => format!("tested {reference}"),
                    Item::Check(Check::Registry { reference, expect }) => {
                        format!("registry {reference}: {}", expect.shown())
                    }
                    Item::Check(c) => format!("{c:?}"),
                };
                format!("{o:?} {what}")
            })
            .collect()
    }

    #[test]
    fn versioned_pushes_come_before_any_alias_and_every_write_is_guarded() {
        let mut items = vec![
            item("0.2.2-torch2.6-jammy", true, Some("torch-latest")),
            item("0.2.2-tf2.16-jammy", false, Some("tf-latest")),
        ];
        items[1].seen = Some(Remote::image(A, Some("sha256:18")));
        items[1].alias.as_mut().unwrap().seen = Some(Remote::image(A, None));
        let h = "127.0.0.1:5000/itwinai";
        let id0 = items[0].id.shown();
        let id1 = items[1].id.shown();
        let read_back = format!("<digest of {h}:0.2.2-torch2.6-jammy as read back>");
        assert_eq!(
            lines(plan(&items)),
            vec![
                format!("Version(0) registry {h}:0.2.2-torch2.6-jammy: nothing"),
                format!("Version(0) write the image {id0} into {h} by digest: docker save of the ID, each blob the registry lacks uploaded, the manifest by digest"),
                format!("Version(0) write the manifest {read_back} under {h}:0.2.2-torch2.6-jammy"),
                format!("Version(0) registry {h}:0.2.2-torch2.6-jammy: the image {id0}"),
                format!("Alias(0) registry {h}:torch-latest: nothing"),
                format!("Alias(0) write the manifest {read_back} under {h}:torch-latest"),
                format!("Alias(0) registry {h}:torch-latest: the image {id0}"),
                format!("Alias(1) registry {h}:tf-latest: {}", Remote::image(A, None).shown()),
                format!("Alias(1) write the manifest {A} under {h}:tf-latest"),
                format!("Alias(1) registry {h}:tf-latest: the image {id1}"),
            ]
        );
    }

    #[test]
    fn a_multi_platform_release_writes_each_image_by_digest_then_one_index() {
        let reg = Registry::parse("127.0.0.1:5000").unwrap();
        let p = |s: &str| Platform::parse(s).unwrap();
        let release = Reference::new(&reg, "itwinai", "0.2.2-torch2.6-jammy").unwrap();
        let part = |platform: &str, id: &str| Part {
            platform: p(platform),
            local: release.for_platform(&p(platform)).unwrap(),
            into: release.for_platform(&p(platform)).unwrap(),
            id: Arg::Lit(id.into()),
        };
        let mut e = item("0.2.2-torch2.6-jammy", true, Some("fix-latest"));
        e.parts = vec![
            part("linux/amd64", "sha256:1"),
            part("linux/arm/v7", "sha256:2"),
        ];
        e.test = Some(crate::project::catalog::Test {
            argv: vec!["true".into()],
            entrypoint: false,
            network: crate::project::catalog::TestNetwork::None,
        });
        e.evidence = Some(crate::plan::write::Vouch::of(e.test.as_ref()));
        let h = "127.0.0.1:5000/itwinai";
        let r = format!("{h}:0.2.2-torch2.6-jammy");
        let index = "an index of exactly linux/amd64 sha256:1, linux/arm/v7 sha256:2";
        let digest = |p: &str| format!("<digest of {r}-{p} as read back>");
        let image = |id: &str| {
            format!("write the image {id} into {h} by digest: docker save of the ID, each blob the registry lacks uploaded, the manifest by digest")
        };
        let alias = format!("{h}:fix-latest");
        assert_eq!(
            lines(plan(&[e.clone()])),
            vec![
                format!("Version(0) tested {r}-linux-amd64"),
                format!("Version(0) tested {r}-linux-arm-v7"),
                format!("Version(0) registry {r}: nothing"),
                format!("Version(0) {}", image("sha256:1")),
                format!(
                    "Version(0) write the test evidence of sha256:1 next to {h}@{}",
                    digest("linux-amd64")
                ),
                format!("Version(0) {}", image("sha256:2")),
                format!(
                    "Version(0) write the test evidence of sha256:2 next to {h}@{}",
                    digest("linux-arm-v7")
                ),
                format!(
                    "Version(0) write the index of linux/amd64 {}, linux/arm/v7 {} under {r}",
                    digest("linux-amd64"),
                    digest("linux-arm-v7")
                ),
                format!("Version(0) registry {r}: {index}"),
                format!("Alias(0) registry {alias}: nothing"),
                format!("Alias(0) write the manifest <digest of {r} as read back> under {alias}"),
                format!("Alias(0) registry {alias}: {index}"),
            ]
        );
        // Released before: the alias is the release's index as read then.
        let mut released = e;
        released.push = false;
        released.seen = Some(Remote {
            digest: Some(A.into()),
            config: None,
            members: vec![crate::model::remote::Member {
                platform: p("linux/amd64"),
                digest: A.into(),
                config: Some("sha256:1".into()),
            }],
        });
        let got = lines(plan(&[released]));
        assert!(
            got.contains(&format!("Alias(0) write the manifest {A} under {alias}")),
            "{got:?}"
        );
        // No per-platform tag and no docker command: nothing in the plan
        // names a platform's own tag as a target.
        assert!(got.iter().all(|l| !l.contains("docker ")), "{got:?}");
    }

    #[test]
    fn development_pushes_are_not_guarded_but_read_back() {
        let mut i = item("0.2.2-torch2.6-jammy-0123456789ab", true, None);
        i.guard = false;
        let got = plan(&[i.clone()]);
        assert_eq!(got.len(), 3);
        assert!(matches!(got[0].1, Item::Write(Write::Image { .. })));
        assert_eq!(
            got[2].1,
            Item::Check(Check::Registry {
                reference: i.reference.clone(),
                expect: RemoteExpect::Image(i.id.shown())
            })
        );
    }
}
