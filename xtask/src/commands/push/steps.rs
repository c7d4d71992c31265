//! The steps that publish the decided entries: every versioned push, then
//! every alias move; each write between a read of what is there and a
//! read-back of what was written, the test gate before all of them.

use super::entry::{expect_of, Alias, Entry, Owner};
use crate::model::platform::Platform;
use crate::model::reference::Reference;
use crate::plan::arg::Arg;
use crate::plan::check::{Check, RemoteExpect};
use crate::plan::step::Step;

/// The steps that write the index `target` from `sources`: forget a list
/// an earlier run left, create, annotate each variant, push. With buildx,
/// one `imagetools create`.
fn write_index(
    target: &Reference,
    sources: &[(Platform, Arg)],
    buildx: bool,
) -> Vec<crate::plan::check::Item> {
    let run = crate::plan::check::Item::Run;
    let pinned: Vec<Arg> = sources.iter().map(|(_, s)| s.clone()).collect();
    if buildx {
        return vec![run(Step::ImagetoolsCreate {
            target: target.clone(),
            sources: pinned,
        })];
    }
    let mut out = vec![
        run(Step::ManifestForget {
            target: target.clone(),
        }),
        run(Step::ManifestCreate {
            target: target.clone(),
            sources: pinned,
        }),
    ];
    for (platform, source) in sources.iter().filter(|(p, _)| p.variant.is_some()) {
        out.push(run(Step::ManifestAnnotate {
            target: target.clone(),
            source: source.clone(),
            platform: platform.clone(),
        }));
    }
    out.push(run(Step::ManifestPush {
        target: target.clone(),
    }));
    out
}

/// The steps that publish, and whose each is: every versioned push, then
/// every alias move; each write between a read of what is there and a
/// read-back of what was written.
pub fn plan(items: &[Entry], buildx: bool) -> Vec<(Owner, crate::plan::check::Item)> {
    let mut out = Vec::new();
    // The test gate first: a failing test publishes nothing.
    for (n, i) in items.iter().enumerate() {
        let publishes = i.push || i.alias.as_ref().is_some_and(|a| a.move_it);
        if let (Some(test), true) = (&i.test, publishes) {
            let tested = |reference: &Reference, id: &Arg, platform: Option<&Platform>| {
                crate::plan::check::Item::Check(Check::Tested {
                    flavour: i.flavour.clone(),
                    reference: reference.into(),
                    id: id.clone(),
                    platform: platform.cloned(),
                    test: test.clone(),
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
    }
    let registry = |reference: &Reference, expect: RemoteExpect| {
        crate::plan::check::Item::Check(Check::Registry {
            reference: reference.clone(),
            expect,
        })
    };
    for (n, i) in items.iter().enumerate().filter(|(_, i)| i.push) {
        let o = Owner::Version(n);
        if i.guard {
            out.push((o, registry(&i.reference, expect_of(&i.seen))));
        }
        if !i.parts.is_empty() {
            // Each platform's image to the development repository, then
            // the index of them under the reference.
            for p in &i.parts {
                for item in publish_image(Some(&p.local), &p.id, &p.staged) {
                    out.push((o, item));
                }
            }
            let sources: Vec<(Platform, Arg)> = i
                .parts
                .iter()
                .map(|p| (p.platform.clone(), p.staged_digest()))
                .collect();
            for step in write_index(&i.reference, &sources, buildx) {
                out.push((o, step));
            }
            out.push((o, registry(&i.reference, i.written())));
            continue;
        }
        for item in publish_image(Some(&i.reference), &i.id, &i.reference) {
            out.push((o, item));
        }
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
        out.push((o, registry(alias, expect_of(seen))));
        if !i.parts.is_empty() {
            // The index again under the alias: from the staged images when
            // they were pushed now, else from the release's own entries.
            let sources: Vec<(Platform, Arg)> = match (&i.seen, i.push) {
                (Some(r), false) => r
                    .members
                    .iter()
                    .map(|m| {
                        let pinned = format!("{}@{}", i.reference.repository(), m.digest);
                        (m.platform.clone(), Arg::Lit(pinned))
                    })
                    .collect(),
                _ => i
                    .parts
                    .iter()
                    .map(|p| (p.platform.clone(), p.staged_digest()))
                    .collect(),
            };
            for step in write_index(alias, &sources, buildx) {
                out.push((o, step));
            }
            out.push((o, registry(alias, i.written())));
            continue;
        }
        for item in publish_image(None, &i.id, alias) {
            out.push((o, item));
        }
    }
    out
}

/// Publish the checked image `id` as `target`: its local name `local` must
/// still name it (when given), it is tagged `target` unless that is its
/// local name, pushed, and read back.
fn publish_image(
    local: Option<&Reference>,
    id: &Arg,
    target: &Reference,
) -> Vec<crate::plan::check::Item> {
    let mut items = Vec::new();
    if let Some(local) = local {
        items.push(crate::plan::check::Item::Check(Check::LocalIs {
            reference: local.clone(),
            id: id.clone(),
        }));
    }
    if local != Some(target) {
        items.push(crate::plan::check::Item::Run(Step::Tag {
            source: id.clone(),
            target: target.clone(),
        }));
    }
    items.push(crate::plan::check::Item::Run(Step::Push {
        reference: target.clone(),
    }));
    items.push(crate::plan::check::Item::Check(Check::Registry {
        reference: target.clone(),
        expect: RemoteExpect::Image(id.shown()),
    }));
    items
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
            seen: None,
            push,
            guard: true,
            test: None,
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

    #[test]
    fn versioned_pushes_come_before_any_alias_and_every_write_is_guarded() {
        let mut items = vec![
            item("0.2.2-torch2.6-jammy", true, Some("torch-latest")),
            item("0.2.2-tf2.16-jammy", false, Some("tf-latest")),
        ];
        items[1].alias.as_mut().unwrap().seen = Some(Remote::image(A, None));
        let reg = Registry::parse("127.0.0.1:5000").unwrap();
        let rf = |tag: &str| Reference::new(&reg, "itwinai", tag).unwrap();
        let id0 = items[0].id.shown();
        let id1 = items[1].id.shown();
        let got: Vec<(Owner, crate::plan::check::Item)> = plan(&items, false);
        let check = |t: &str, expect: RemoteExpect| {
            crate::plan::check::Item::Check(Check::Registry {
                reference: rf(t),
                expect,
            })
        };
        let run = |s: Step| crate::plan::check::Item::Run(s);
        let v0 = Owner::Version(0);
        assert_eq!(
            got,
            vec![
                (v0, check("0.2.2-torch2.6-jammy", RemoteExpect::Absent)),
                (
                    v0,
                    crate::plan::check::Item::Check(Check::LocalIs {
                        reference: rf("0.2.2-torch2.6-jammy"),
                        id: Arg::Lit(id0.clone())
                    })
                ),
                (
                    v0,
                    run(Step::Push {
                        reference: rf("0.2.2-torch2.6-jammy")
                    })
                ),
                (
                    v0,
                    check("0.2.2-torch2.6-jammy", RemoteExpect::Image(id0.clone()))
                ),
                (Owner::Alias(0), check("torch-latest", RemoteExpect::Absent)),
                (
                    Owner::Alias(0),
                    run(Step::Tag {
                        source: Arg::Lit(id0.clone()),
                        target: rf("torch-latest")
                    })
                ),
                (
                    Owner::Alias(0),
                    run(Step::Push {
                        reference: rf("torch-latest")
                    })
                ),
                (
                    Owner::Alias(0),
                    check("torch-latest", RemoteExpect::Image(id0))
                ),
                (
                    Owner::Alias(1),
                    check("tf-latest", RemoteExpect::Seen(Remote::image(A, None)))
                ),
                (
                    Owner::Alias(1),
                    run(Step::Tag {
                        source: Arg::Lit(id1.clone()),
                        target: rf("tf-latest")
                    })
                ),
                (
                    Owner::Alias(1),
                    run(Step::Push {
                        reference: rf("tf-latest")
                    })
                ),
                (
                    Owner::Alias(1),
                    check("tf-latest", RemoteExpect::Image(id1))
                ),
            ]
        );
    }

    #[test]
    fn a_multi_platform_release_stages_each_image_then_writes_one_index() {
        let reg = Registry::parse("127.0.0.1:5000").unwrap();
        let p = |s: &str| Platform::parse(s).unwrap();
        let release = Reference::new(&reg, "itwinai", "0.2.2-torch2.6-jammy").unwrap();
        let part = |platform: &str, id: &str| Part {
            platform: p(platform),
            local: release.for_platform(&p(platform)).unwrap(),
            staged: release
                .with_name("itwinai-dev")
                .and_then(|d| d.for_platform(&p(platform)))
                .unwrap(),
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
        let got: Vec<String> = plan(&[e.clone()], false)
            .into_iter()
            .map(|(o, i)| {
                let what = match i {
                    crate::plan::check::Item::Run(s) => {
                        crate::plan::step::render_step(&s, &std::collections::BTreeMap::new())
                    }
                    crate::plan::check::Item::Check(Check::Tested { reference, .. }) => {
                        format!("tested {reference}")
                    }
                    crate::plan::check::Item::Check(Check::LocalIs { reference, .. }) => {
                        format!("local {reference}")
                    }
                    crate::plan::check::Item::Check(Check::Registry {
                        reference, expect, ..
                    }) => format!("registry {reference}: {}", expect.shown()),
                    crate::plan::check::Item::Check(c) => format!("{c:?}"),
                };
                format!("{o:?} {what}")
            })
            .collect();
        let h = "127.0.0.1:5000";
        let r = format!("{h}/itwinai:0.2.2-torch2.6-jammy");
        let d = format!("{h}/itwinai-dev:0.2.2-torch2.6-jammy");
        let index = "an index of exactly linux/amd64 sha256:1, linux/arm/v7 sha256:2";
        // The index names each staged image by the digest it was read back at.
        let pinned = |p: &str| format!("'{h}/itwinai-dev@<digest of {d}-{p} as read back>'");
        let sources = format!("{} {}", pinned("linux-amd64"), pinned("linux-arm-v7"));
        let annotate = "docker manifest annotate --os linux --arch arm --variant v7 --";
        let alias = format!("{h}/itwinai:fix-latest");
        assert_eq!(
            got,
            vec![
                format!("Version(0) tested {r}-linux-amd64"),
                format!("Version(0) tested {r}-linux-arm-v7"),
                format!("Version(0) registry {r}: nothing"),
                format!("Version(0) local {r}-linux-amd64"),
                format!("Version(0) docker tag -- sha256:1 {d}-linux-amd64"),
                format!("Version(0) docker push -- {d}-linux-amd64"),
                format!("Version(0) registry {d}-linux-amd64: the image sha256:1"),
                format!("Version(0) local {r}-linux-arm-v7"),
                format!("Version(0) docker tag -- sha256:2 {d}-linux-arm-v7"),
                format!("Version(0) docker push -- {d}-linux-arm-v7"),
                format!("Version(0) registry {d}-linux-arm-v7: the image sha256:2"),
                format!("Version(0) docker manifest rm -- {r}"),
                format!("Version(0) docker manifest create --insecure -- {r} {sources}"),
                format!("Version(0) {annotate} {r} {}", pinned("linux-arm-v7")),
                format!("Version(0) docker manifest push --insecure --purge -- {r}"),
                format!("Version(0) registry {r}: {index}"),
                format!("Alias(0) registry {alias}: nothing"),
                format!("Alias(0) docker manifest rm -- {alias}"),
                format!("Alias(0) docker manifest create --insecure -- {alias} {sources}"),
                format!("Alias(0) {annotate} {alias} {}", pinned("linux-arm-v7")),
                format!("Alias(0) docker manifest push --insecure --purge -- {alias}"),
                format!("Alias(0) registry {alias}: {index}"),
            ]
        );
        // Released before: the alias is made from the release's own entries.
        let mut released = e.clone();
        released.push = false;
        released.seen = Some(Remote {
            digest: None,
            config: None,
            members: vec![crate::model::remote::Member {
                platform: p("linux/amd64"),
                digest: A.into(),
                config: Some("sha256:1".into()),
            }],
        });
        let create = plan(&[released], false)
            .into_iter()
            .find_map(|(_, i)| match i {
                crate::plan::check::Item::Run(s @ Step::ManifestCreate { .. }) => Some(
                    crate::plan::step::render_step(&s, &std::collections::BTreeMap::new()),
                ),
                _ => None,
            });
        assert_eq!(
            create,
            Some(format!(
                "docker manifest create --insecure -- {h}/itwinai:fix-latest {h}/itwinai@{A}"
            ))
        );
        // With buildx, one imagetools create per index.
        let with_buildx = plan(&[e], true);
        let creates = with_buildx
            .iter()
            .filter(|(_, i)| {
                matches!(
                    i,
                    crate::plan::check::Item::Run(Step::ImagetoolsCreate { .. })
                )
            })
            .count();
        assert_eq!(creates, 2);
        assert!(!with_buildx.iter().any(|(_, i)| matches!(
            i,
            crate::plan::check::Item::Run(Step::ManifestCreate { .. })
        )));
    }

    #[test]
    fn development_pushes_are_not_guarded_but_read_back() {
        let mut i = item("0.2.2-torch2.6-jammy-0123456789ab", true, None);
        i.guard = false;
        let got = plan(&[i.clone()], true);
        assert_eq!(got.len(), 3);
        assert!(matches!(
            got[0].1,
            crate::plan::check::Item::Check(Check::LocalIs { .. })
        ));
        assert_eq!(
            got[2].1,
            crate::plan::check::Item::Check(Check::Registry {
                reference: i.reference.clone(),
                expect: RemoteExpect::Image(i.id.shown())
            })
        );
    }
}
