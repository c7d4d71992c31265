//! `image tag`: add the declared `-latest` alias to a local production image
//! (checked by its image ID first, `verify.rs`), or promote a development
//! image in its registry (`promote.rs`): gated on its test evidence, its
//! configs relabelled in `ref.name` alone, its layers mounted, nothing
//! pulled or built.

use anyhow::Result;

use crate::cli::TagArgs;
use crate::engine::executor::Executor;
use crate::model::labels;
use crate::model::platform::Platform;
use crate::model::reference::{AnyRef, Reference};
use crate::model::version::Version;
use crate::plan::arg::Arg;
use crate::plan::check::Item;
use crate::plan::expectation::{Expectation, Labels};
use crate::plan::step::Step;
use crate::project::catalog::Flavour;
use crate::project::workspace::Workspace;
use crate::rules::latest::{self, Current};
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
            platform: platform.cloned(),
            commits_on_base: None,
        }
    }
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
    let rules = rules(&project, ask.flavour, &channel, args);
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
    if from.is_some() {
        super::release_serves_all(flavour, &platforms, &args.naming, args.force)?;
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
    args: &TagArgs,
) -> Rules<'a> {
    Rules {
        flavour,
        version: &project.version,
        release: !args.naming.dev,
        revision: super::required_revision(channel),
        dirty: super::required_dirty(channel),
    }
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
    super::clean_head(exec, super::ALIAS_FROM_HEAD)?;
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

/// `--from SRC`: promote the development image SRC, as its registry
/// serves it, to the flavour's reference in the same registry: gated on its
/// test evidence, each config relabelled in ref.name alone, every layer
/// mounted, the manifests (and index) written and read back. Nothing is
/// pulled or built, and no local name changes.
fn promote(
    exec: &mut Executor,
    project: &crate::project::workspace::Project,
    rules: &Rules,
    target: &Reference,
    platforms: &[Platform],
    args: &TagArgs,
) -> Result<()> {
    let flavour = rules.flavour;
    let from = args
        .from
        .as_deref()
        .ok_or_else(|| invalid("--from is required to promote"))?;
    let source = AnyRef::parse(from)
        .and_then(|r| Reference::from_any(&r))
        .map_err(|e| {
            invalid(format!(
                "--from: {e}; name the development image in its registry"
            ))
        })?;
    // A promotion copies a tested clean build, which a `-dirty` default
    // development tag (this tree's) would say it is not.
    if rules.dirty == Some(true) {
        return Err(invalid(format!(
            "the working tree has uncommitted changes, so the default development tag is {target}, whose -dirty says the image was built from them, but a promotion copies a clean build; commit or stash them (the default tag is then HEAD's clean one), or name a tag with --tag"
        )));
    }
    // Into a default development tag: HEAD's build only, as that tag says;
    // into a release: HEAD's build only, as `release` and `image push` do.
    let commit = match (&rules.revision, rules.release) {
        (Some(c), _) => Some(c.clone()),
        (None, true) => Some(super::clean_head(
            exec,
            "a promotion into a release applies the catalog and pyproject.toml of HEAD, so they must be HEAD's",
        )?),
        (None, false) => None,
    };
    let remedy = |p: &Platform| {
        format!("promote from an image that serves {p}, or narrow a development promotion with --platform")
    };
    let Some(images) = super::promote::gather(exec, &source, platforms, &remedy)? else {
        anyhow::bail!(
            "{source} is not in its registry; push it first (`cargo xtask image push {} --dev`)",
            flavour.name
        );
    };
    let seen = exec.registry(target)?;
    let development = target
        .with_name(&project.catalog.development)
        .map_err(|e| invalid(format!("{target}: {e}")))?;
    let checks = super::promote::Rules::of(project, flavour, &development, commit.as_deref())?;
    let planned =
        super::promote::decide(&images, &source, target, &checks).map_err(anyhow::Error::msg)?;
    if super::promote::already_there(seen.as_ref(), &planned) {
        crate::support::output::stderr_line(&format!(
            "{target} is already the promotion of {source}: nothing to write"
        ));
        promotion_json(args.output.json, flavour, target, &source, &planned);
        return Ok(());
    }
    if let (Some(r), false) = (&seen, args.force) {
        anyhow::bail!(
            "{target} is already published with other content ({}); promoting {source} over it needs --force",
            r.shown()
        );
    }
    let mut items = vec![Item::Check(crate::plan::check::Check::Registry {
        reference: target.clone(),
        expect: crate::plan::check::RemoteExpect::seen(seen.as_ref()),
    })];
    items.extend(super::promote::plan(
        &planned,
        &source,
        target,
        &flavour.name,
        flavour.test.as_ref(),
    ));
    exec.execute(&items)?;
    promotion_json(args.output.json, flavour, target, &source, &planned);
    if !args.output.dry_run {
        crate::support::output::stderr_line(&format!(
            "promoted {source} to {target}: {} image{}, same layers (mounted), ref.name relabelled; no local image",
            planned.len(),
            if planned.len() == 1 { "" } else { "s" }
        ));
    }
    Ok(())
}

/// `--json` of a promotion: the reference, its source, each image.
fn promotion_json(
    json: bool,
    flavour: &Flavour,
    target: &Reference,
    source: &Reference,
    planned: &[super::promote::Planned],
) {
    use crate::support::json::Json;
    if !json {
        return;
    }
    let single = planned.len() == 1 && planned[0].source.platform.is_none();
    let platforms = planned
        .iter()
        .filter(|p| p.source.platform.is_some())
        .map(|p| {
            Json::object([
                (
                    "platform",
                    Json::opt_str(p.source.platform.as_ref().map(ToString::to_string)),
                ),
                ("image_id", Json::str(&p.image_id)),
                ("digest", Json::str(&p.manifest_digest)),
            ])
        });
    let row = Json::object([
        ("flavour", Json::str(&flavour.name)),
        ("reference", Json::str(target.to_string())),
        ("source", Json::str(source.to_string())),
        (
            "image_id",
            Json::opt_str(single.then(|| planned[0].image_id.clone())),
        ),
        ("platforms", Json::Array(platforms.collect())),
    ]);
    crate::support::json::emit(&Json::Array(vec![row]));
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
