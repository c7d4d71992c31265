//! `image tag`: add the declared `-latest` alias to a local production image,
//! or promote an existing image (typically the tested dev image) to the
//! flavour's reference without running its Dockerfile again: a `FROM SRC`
//! build that only relabels `org.opencontainers.image.ref.name`, so the
//! layers are the tested ones, byte for byte. Both check the image they
//! build on or tag by its image ID first (`verify.rs`), and a promotion
//! checks its result too.

use anyhow::Result;

use crate::cli::TagArgs;
use crate::engine::executor::Executor;
use crate::model::labels;
use crate::model::platform::Platform;
use crate::model::reference::{AnyRef, Reference};
use crate::model::version::Version;
use crate::plan::arg::{Arg, Slot};
use crate::plan::check::{Check, Item};
use crate::plan::expectation::{Expectation, Labels};
use crate::plan::step::{Build, Builder, Source, Step};
use crate::project::catalog::Flavour;
use crate::project::workspace::Workspace;
use crate::rules::latest::{self, Current};
use crate::rules::promotion;
use crate::support::error::invalid;

/// What the images a tag or promotion works on must show, besides their
/// names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules<'a> {
    pub flavour: &'a Flavour,
    pub version: &'a Version,
    /// A release (or alias): a dirty-tree image is refused.
    pub release: bool,
    /// The commit the images must be built at (a default development tag).
    pub revision: Option<String>,
    /// Whether they must carry the dirty label (a default development tag).
    pub dirty: Option<bool>,
    /// The base the flavour is built on: a promotion's source must name it.
    pub base: Option<AnyRef>,
    /// What a promotion's source must be: a development image of the
    /// flavour at this version.
    pub source: Option<crate::plan::expectation::DevelopmentOf>,
}

impl Rules<'_> {
    /// What `image` (of `platform`, when given) must show; `ref_name` None
    /// for a promotion's source.
    pub fn expect(
        &self,
        image: &AnyRef,
        platform: Option<&Platform>,
        ref_name: Option<&str>,
    ) -> Expectation {
        Expectation {
            image: image.clone(),
            ref_name: ref_name.map(str::to_string),
            version: self.version.to_string(),
            labels: Labels::Recorded,
            distro: self.flavour.distro.clone(),
            framework: self.flavour.framework_expect(),
            release: self.release,
            revision: self.revision.clone(),
            base_name: None,
            source_of: None,
            dirty: self.dirty,
            built: None,
            becomes: None,
            platform: platform.cloned(),
        }
    }

    /// What a promotion's source must show: also its flavour's base.
    pub fn expect_source(&self, source: &AnyRef, platform: Option<&Platform>) -> Expectation {
        Expectation {
            base_name: self.base.clone(),
            source_of: self.source.clone(),
            ..self.expect(source, platform, None)
        }
    }
}

/// The promotion of `source` to `target` (one platform's image of it,
/// named `local`): (when it was not there to check before planning: pull
/// and check the source), build `FROM` its checked image ID (the classic
/// builder; buildx builds from the name) with only ref.name relabelled,
/// then check that the result has the source's layers and labels and
/// passes every check itself.
pub fn promotion_plan(
    source: &AnyRef,
    checked: bool,
    target: &Reference,
    local: &super::Image,
    rules: &Rules,
    buildx: bool,
) -> Vec<Item> {
    let target_s = target.to_string();
    let local_s = local.local.to_string();
    let platform = local.platform.as_ref();
    let mut items = Vec::new();
    if !checked {
        items.push(Item::Run(Step::Pull {
            image: source.clone(),
            platform: platform.cloned(),
            capture: false,
        }));
        items.push(Item::Check(Check::Image(Box::new(
            rules.expect_source(source, platform),
        ))));
    }
    if let Some(test) = &rules.flavour.test {
        items.push(Item::Check(Check::Tested {
            flavour: rules.flavour.name.clone(),
            reference: source.clone(),
            id: Arg::slot(Slot::ImageId {
                reference: source.clone(),
            }),
            platform: platform.cloned(),
            test: test.clone(),
        }));
    }
    let (builder, from) = if buildx {
        (
            Builder::Buildx { builder: None },
            Arg::Lit(source.to_string()),
        )
    } else {
        (
            Builder::Classic,
            Arg::slot(Slot::ImageId {
                reference: source.clone(),
            }),
        )
    };
    items.push(Item::Run(Step::Build(Box::new(Build {
        builder,
        platform: platform.cloned(),
        source: Source::FromImage(from),
        tag: local_s.clone(),
        no_cache: false,
        pull: false,
        build_args: Vec::new(),
        labels: vec![(labels::REF_NAME.to_string(), target_s.clone())],
        becomes: None,
    }))));
    items.push(Item::Check(Check::Promotion {
        source: source.clone(),
        target: local.local.clone(),
        ref_name: target.clone(),
    }));
    items.push(Item::Check(Check::Image(Box::new(rules.expect(
        &(&local.local).into(),
        platform,
        Some(&target_s),
    )))));
    items
}

pub fn run(ws: &Workspace, args: &TagArgs) -> Result<()> {
    let project = ws.load()?;
    let ask = ask(&project, args)?;
    let mut exec = Executor::new(&ws.sh, args.output.dry_run, args.output.json);
    let channel = super::channel(&args.naming, || exec.git_state())?;
    let target =
        project
            .catalog
            .reference(ask.flavour, &project.version, &channel, &ask.registry)?;
    let rules = rules(&project, ask.flavour, &channel, &target, args)?;
    match ask.alias {
        Some(alias) => move_alias(&mut exec, &project, &rules, &target, alias, args),
        None => promote(&mut exec, &project, &rules, &target, &ask.platforms, args),
    }
}

/// What the command line asks for, checked before anything runs.
struct Ask<'p> {
    flavour: &'p Flavour,
    registry: crate::model::reference::Registry,
    platforms: Vec<Platform>,
    /// `--latest`: the declared alias.
    alias: Option<Reference>,
}

fn ask<'p>(project: &'p crate::project::workspace::Project, args: &TagArgs) -> Result<Ask<'p>> {
    let catalog = &project.catalog;
    let flavour = catalog.flavour(&args.flavour)?;
    project.usable(flavour)?;
    if !args.latest && args.from.is_none() {
        return Err(invalid("image tag needs --latest or --from REF"));
    }
    if args.latest && args.naming.dev {
        return Err(invalid(
            "--latest tags the production image and cannot be combined with --dev",
        ));
    }
    super::check_selection(&args.naming, 1)?;
    let registry = super::registry(catalog, &args.naming)?;
    let from = match &args.from {
        Some(s) => Some(AnyRef::parse(s).map_err(|e| invalid(format!("--from: {e}")))?),
        None => None,
    };
    let wanted = super::wanted_platforms(&args.naming)?;
    let platforms = super::platforms_of(flavour, wanted.as_deref())?;
    if args.latest && !platforms.is_empty() {
        return Err(invalid(format!(
            "flavour '{}' is built for {}: its alias is an index, which exists only in the registry; move it with `cargo xtask image push {} --latest`",
            flavour.name,
            super::list(&platforms),
            flavour.name
        )));
    }
    if let (Some(r), false) = (&from, platforms.is_empty()) {
        if r.tag.is_none() || r.digest.is_some() {
            return Err(invalid(format!(
                "--from: flavour '{}' is built for {}, so --from names the tag of a multi-platform image (its platforms' images are <REF>-<os>-<arch>), not a digest",
                flavour.name,
                super::list(&platforms)
            )));
        }
    }
    let alias = if args.latest {
        Some(catalog.latest_reference(flavour, &registry)?.ok_or_else(|| {
            invalid(format!(
                "flavour '{}' declares no 'latest' alias in env-files/images.toml; the catalog is the only allowlist of *-latest tags",
                flavour.name
            ))
        })?)
    } else {
        None
    };
    Ok(Ask {
        flavour,
        registry,
        platforms,
        alias,
    })
}

/// What the images a tag or promotion works on must show.
fn rules<'a>(
    project: &'a crate::project::workspace::Project,
    flavour: &'a Flavour,
    channel: &crate::project::catalog::Channel,
    target: &Reference,
    args: &TagArgs,
) -> Result<Rules<'a>> {
    let catalog = &project.catalog;
    Ok(Rules {
        flavour,
        version: &project.version,
        release: !args.naming.dev,
        revision: super::required_revision(channel),
        dirty: super::required_dirty(channel),
        base: Some(project.base(flavour, None)?.image),
        source: Some(crate::plan::expectation::DevelopmentOf {
            flavour: flavour.name.clone(),
            version: project.version.to_string(),
            repository: target
                .with_name(&catalog.development)
                .map_err(|e| invalid(format!("{target}: {e}")))?
                .repository(),
            release_tag: flavour.production_tag(&project.version),
            hash_len: catalog.dev_hash_length,
        }),
    })
}

/// `--latest`: point the declared alias at the checked local release
/// image, only forward.
fn move_alias(
    exec: &mut Executor,
    project: &crate::project::workspace::Project,
    rules: &Rules,
    target: &Reference,
    alias: Reference,
    args: &TagArgs,
) -> Result<()> {
    let flavour = rules.flavour;
    let target_s = target.to_string();
    let alias_s = alias.to_string();
    let found = exec.inspect(&[Arg::Lit(target_s.clone()), Arg::Lit(alias_s.clone())])?;
    if found[0].is_none() {
        anyhow::bail!(
            "{target_s} is not in the local engine; build it with `cargo xtask image build {}` or promote one with --from",
            flavour.name
        );
    }
    let local = found[0].clone().unwrap_or_default();
    let native = exec.engine_platform()?;
    let id = crate::engine::verify::check_inspected(
        exec,
        &rules.expect(&target.into(), Some(&native), Some(&target_s)),
        local,
    )?;
    let current = match &found[1] {
        None => Current::Absent,
        Some(a) if a.id == id => {
            crate::support::output::stderr_line(&format!("{alias_s} already points at {target_s}"));
            alias_json(args.output.json, flavour, &alias_s, &target_s, &id);
            return Ok(());
        }
        Some(a) => Current::Labelled(labels::version_of(&a.labels)),
    };
    match latest::check_move(&alias_s, &project.version, &current, args.force) {
        Ok(Some(note)) => crate::support::output::warn(&note),
        Ok(None) => {}
        Err(e) => anyhow::bail!(e),
    }
    exec.execute(&[Item::Run(Step::Tag {
        source: Arg::Lit(id.clone()),
        target: alias,
    })])?;
    alias_json(args.output.json, flavour, &alias_s, &target_s, &id);
    Ok(())
}

/// `--from SRC`: promote each platform's image of SRC to the target's,
/// checked before and after.
fn promote(
    exec: &mut Executor,
    project: &crate::project::workspace::Project,
    rules: &Rules,
    target: &Reference,
    platforms: &[Platform],
    args: &TagArgs,
) -> Result<()> {
    let flavour = rules.flavour;
    let target_s = target.to_string();
    let from = args
        .from
        .as_deref()
        .ok_or_else(|| invalid("--from is required to promote"))?;
    let source = AnyRef::parse(from).map_err(|e| invalid(format!("--from: {e}")))?;
    // One promotion per platform: SRC-<os>-<arch> to the target's image of it.
    let targets = super::images(target, platforms)?;
    let mut sources = Vec::new();
    for image in &targets {
        let src = match &image.platform {
            None => source.clone(),
            Some(p) => source
                .for_platform(p)
                .map_err(|e| invalid(format!("--from: {e}")))?,
        };
        let present = exec.inspect(&[Arg::Lit(src.to_string())])?.pop().flatten();
        if let Some(info) = present.clone() {
            // There now: check it before planning, so --dry-run tells too.
            promotion::check_promotable(&src.to_string(), &info, &project.version)
                .map_err(anyhow::Error::msg)?;
            let id = crate::engine::verify::check_inspected(
                exec,
                &rules.expect_source(&src, image.platform.as_ref()),
                info,
            )?;
            exec.learn(
                Slot::ImageId {
                    reference: src.clone(),
                },
                id,
            );
        }
        sources.push((src, present.is_some()));
    }
    let buildx = exec.buildx()?;
    let mut items = Vec::new();
    for (image, (src, checked)) in targets.iter().zip(&sources) {
        items.extend(promotion_plan(src, *checked, target, image, rules, buildx));
    }
    exec.execute(&items)?;
    let id_of = |image: &super::Image| {
        exec.value(&Slot::ImageId {
            reference: (&image.local).into(),
        })
        .cloned()
    };
    if args.output.json {
        let single = targets.len() == 1 && targets[0].platform.is_none();
        let platforms = targets
            .iter()
            .filter(|i| i.platform.is_some())
            .map(|i| super::build::platform_row(i.platform.as_ref(), &i.local, None, id_of(i)));
        let row = crate::support::json::Json::object([
            ("flavour", crate::support::json::Json::str(&flavour.name)),
            ("reference", crate::support::json::Json::str(&target_s)),
            (
                "source",
                crate::support::json::Json::str(source.to_string()),
            ),
            (
                "image_id",
                crate::support::json::Json::opt_str(id_of(&targets[0]).filter(|_| single)),
            ),
            (
                "platforms",
                crate::support::json::Json::Array(platforms.collect()),
            ),
        ]);
        crate::support::json::emit(&crate::support::json::Json::Array(vec![row]));
    }
    if !args.output.dry_run {
        for image in &targets {
            let id = id_of(image).unwrap_or_default();
            match &image.platform {
                None => crate::support::output::stderr_line(&format!(
                    "promoted {source} to {target_s} ({id}): same layers, ref.name relabelled"
                )),
                Some(p) => crate::support::output::stderr_line(&format!(
                    "promoted {source} ({p}) to {} ({id}): same layers, ref.name {target_s}; `image push` writes the index",
                    image.local
                )),
            }
        }
    }
    Ok(())
}

/// `--json` of `image tag --latest`: the alias, what it names, its image.
fn alias_json(json: bool, flavour: &Flavour, alias: &str, source: &str, id: &str) {
    if json {
        let row = crate::support::json::Json::object([
            ("flavour", crate::support::json::Json::str(&flavour.name)),
            ("reference", crate::support::json::Json::str(alias)),
            ("source", crate::support::json::Json::str(source)),
            ("image_id", crate::support::json::Json::str(id)),
            ("platforms", crate::support::json::Json::Array(Vec::new())),
        ]);
        crate::support::json::emit(&crate::support::json::Json::Array(vec![row]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::reference::{Framework, Registry};

    fn flavour() -> Flavour {
        Flavour {
            name: "fix".into(),
            dockerfile: "env-files/fix/Dockerfile".into(),
            framework: Framework::Torch,
            framework_version: "2.6".into(),
            framework_package: "torch".into(),
            distro: "jammy".into(),
            jupyterlab: false,
            variant: None,
            tag_format: crate::model::tag_format::TagFormat::parse(
                crate::model::tag_format::DEFAULT,
            )
            .unwrap(),
            test: None,
            base_image: None,
            latest: None,
            build_args: vec![],
            platforms: vec![],
        }
    }

    #[test]
    fn a_promotion_checks_the_source_builds_from_its_id_and_checks_the_result() {
        let reg = Registry::parse("127.0.0.1:5000").unwrap();
        let target = Reference::new(&reg, "itwinai", "0.2.2-torch2.6-jammy").unwrap();
        let v = Version::parse("0.2.2").unwrap();
        let f = flavour();
        let src =
            &AnyRef::parse("127.0.0.1:5000/itwinai-dev:0.2.2-torch2.6-jammy-0123456789ab").unwrap();
        let rules = Rules {
            flavour: &f,
            version: &v,
            release: true,
            revision: None,
            dirty: None,
            base: Some(AnyRef::parse("u:1").unwrap()),
            source: None,
        };
        let local = crate::commands::Image {
            platform: None,
            local: target.clone(),
        };
        let items = promotion_plan(src, false, &target, &local, &rules, false);
        let t = target.to_string();
        assert_eq!(
            items,
            vec![
                Item::Run(Step::Pull {
                    image: src.clone(),
                    platform: None,
                    capture: false
                }),
                Item::Check(Check::Image(Box::new(rules.expect_source(src, None)))),
                Item::Run(Step::Build(Box::new(Build {
                    builder: Builder::Classic,
                    platform: None,
                    source: Source::FromImage(Arg::slot(Slot::ImageId {
                        reference: src.clone()
                    })),
                    tag: t.clone(),
                    no_cache: false,
                    pull: false,
                    build_args: vec![],
                    labels: vec![(labels::REF_NAME.into(), t.clone())],
                    becomes: None,
                }))),
                Item::Check(Check::Promotion {
                    source: src.clone(),
                    target: target.clone(),
                    ref_name: target.clone(),
                }),
                Item::Check(Check::Image(Box::new(rules.expect(
                    &(&target).into(),
                    None,
                    Some(&t)
                )))),
            ]
        );
        let with_buildx = promotion_plan(src, true, &target, &local, &rules, true);
        assert_eq!(with_buildx.len(), 3);
        let Item::Run(Step::Build(b)) = &with_buildx[0] else {
            panic!("a source checked before planning is built on at once")
        };
        assert_eq!(b.source, Source::FromImage(Arg::Lit(src.to_string())));
    }
}
