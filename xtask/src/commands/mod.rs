//! One file per subcommand, and what they share: choosing flavours and the
//! references they go under.

pub(crate) mod audit;
pub(crate) mod build;
pub(crate) mod check;
pub(crate) mod list;
pub(crate) mod promote;
pub(crate) mod push;
pub(crate) mod release;
pub(crate) mod tag;
pub(crate) mod test;
pub(crate) mod version;

use anyhow::Result;

use crate::cli::{Naming, Selection};
use crate::engine::executor::Executor;
use crate::model::git::GitState;
use crate::model::image::ImageInfo;
use crate::model::platform::Platform;
use crate::model::reference::{Reference, Registry};
use crate::model::version::Version;
use crate::plan::arg::Arg;
use crate::project::catalog::{Catalog, Channel, Flavour};
use crate::project::workspace::Project;
use crate::support::error::invalid;

/// The flavours named on the command line (or all), checked to exist, to
/// have a usable Dockerfile, and to fit the naming flags. A named flavour
/// whose Dockerfile has a problem refuses the command; `--all` leaves such
/// flavours out, one warning each, and works on the others.
pub fn select<'c>(project: &'c Project, sel: &Selection) -> Result<Vec<&'c Flavour>> {
    let mut flavours = named(&project.catalog, &sel.flavours, sel.all)?;
    if sel.all {
        flavours.retain(|f| match project.problem(f) {
            None => true,
            Some(why) => {
                crate::support::output::warn(&format!(
                    "--all leaves out flavour '{}', whose Dockerfile cannot be used: {}",
                    f.name,
                    crate::support::output::printable(why)
                ));
                false
            }
        });
    } else {
        for f in &flavours {
            project.usable(f)?;
        }
    }
    check_selection(&sel.naming, flavours.len())?;
    Ok(flavours)
}

/// The flavours named (each once, in the order given), or all of them;
/// an unknown name is refused.
pub fn named<'c>(catalog: &'c Catalog, names: &[String], all: bool) -> Result<Vec<&'c Flavour>> {
    if all {
        return Ok(catalog.flavours.iter().collect());
    }
    if names.is_empty() {
        return Err(invalid(format!(
            "name the flavours to work on, or pass --all; flavours: {}",
            catalog.flavour_names()
        )));
    }
    let mut out: Vec<&Flavour> = Vec::new();
    for name in names {
        let f = catalog.flavour(name)?;
        if !out.iter().any(|o| o.name == f.name) {
            out.push(f);
        }
    }
    Ok(out)
}

/// One image a flavour's reference stands for: the reference itself, or
/// (a flavour with `platforms`) one platform's image, which the local
/// engine keeps under [`Reference::for_platform`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub platform: Option<Platform>,
    /// Its name in the local engine.
    pub local: Reference,
}

/// `--platform LIST`, parsed once (None: every declared platform).
pub fn wanted_platforms(sel: &Naming) -> Result<Option<Vec<Platform>>> {
    sel.platform
        .as_deref()
        .map(|s| Platform::parse_list(s).map_err(|e| invalid(format!("--platform: {e}"))))
        .transpose()
}

/// The platforms of `f` to work on: the catalog's, narrowed to `wanted`;
/// a platform the flavour does not declare is refused.
pub fn platforms_of(f: &Flavour, wanted: Option<&[Platform]>) -> Result<Vec<Platform>> {
    let Some(wanted) = wanted else {
        return Ok(f.platforms.clone());
    };
    if f.platforms.is_empty() {
        return Err(invalid(format!(
            "--platform: flavour '{}' declares no 'platforms' in {} (it is built for the engine's own platform); declare them, e.g. platforms = [\"linux/amd64\", \"linux/arm64\"]",
            f.name,
            crate::project::catalog::FILE
        )));
    }
    if let Some(p) = wanted.iter().find(|p| !f.platforms.contains(p)) {
        return Err(invalid(format!(
            "--platform: flavour '{}' is not declared for {p} in {}; it declares {}",
            f.name,
            crate::project::catalog::FILE,
            list(&f.platforms)
        )));
    }
    // In the catalog's order, whatever the order on the command line.
    Ok(f.platforms
        .iter()
        .filter(|p| wanted.contains(p))
        .cloned()
        .collect())
}

/// The platforms to work on for each of `flavours` (`--platform` parsed
/// and checked against each).
pub fn chosen_platforms(flavours: &[&Flavour], sel: &Naming) -> Result<Vec<Vec<Platform>>> {
    let wanted = wanted_platforms(sel)?;
    flavours
        .iter()
        .map(|f| platforms_of(f, wanted.as_deref()))
        .collect()
}

/// `linux/amd64, linux/arm64`
pub fn list(platforms: &[Platform]) -> String {
    platforms
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The images `reference` stands for on `platforms` (none: itself).
pub fn images(reference: &Reference, platforms: &[Platform]) -> Result<Vec<Image>> {
    if platforms.is_empty() {
        return Ok(vec![Image {
            platform: None,
            local: reference.clone(),
        }]);
    }
    platforms
        .iter()
        .map(|p| {
            Ok(Image {
                platform: Some(p.clone()),
                local: reference
                    .for_platform(p)
                    .map_err(|e| invalid(format!("the {p} image of {reference}: {e}")))?,
            })
        })
        .collect()
}

/// The registry to use: `--registry` or the catalog's.
pub fn registry(catalog: &Catalog, sel: &Naming) -> Result<Registry> {
    match &sel.registry {
        Some(r) => Registry::parse(r).map_err(|e| invalid(format!("--registry: {e}"))),
        None => Ok(catalog.registry.clone()),
    }
}

/// Check the flag combinations of a selection that clap cannot express.
pub fn check_selection(sel: &Naming, flavours: usize) -> Result<()> {
    if sel.tag.is_some() && !sel.dev {
        return Err(invalid(
            "--tag sets a development tag and needs --dev; production tags always follow [jlab-]X.Y.Z-(torch|tf)x.y-distro",
        ));
    }
    if sel.tag.is_some() && flavours > 1 {
        return Err(invalid(format!(
            "--tag names one image but {flavours} flavours were selected; give one flavour"
        )));
    }
    Ok(())
}

/// The channel (production or development) of a selection; the git state
/// is asked for only by a development image, whose default tag carries
/// HEAD (and `-dirty` for a tree with uncommitted changes).
pub fn channel(sel: &Naming, state: impl FnOnce() -> Result<GitState>) -> Result<Channel> {
    Ok(if sel.dev {
        let state = state()?;
        Channel::Dev {
            dirty: state.dirty(),
            head: state.head,
            tag: sel.tag.clone(),
        }
    } else {
        Channel::Production
    })
}

/// HEAD, for a command whose rules must be HEAD's (`why`, after the
/// changes listed): from a clean tree only, as `release` runs.
pub fn clean_head(exec: &mut Executor, why: &str) -> Result<String> {
    let state = exec.git_state()?;
    if state.dirty() {
        return Err(invalid(format!(
            "the working tree has uncommitted changes ({}): {why}; commit or stash them first",
            state.dirt()
        )));
    }
    Ok(state.head)
}

/// Why a `-latest` alias moves from a clean tree only.
pub const ALIAS_FROM_HEAD: &str = "a -latest alias is moved as HEAD's catalog declares it (its name) for HEAD's version, so the catalog and pyproject.toml must be HEAD's";

/// The commit an image published or promoted under this channel must be
/// built at: a default development tag carries HEAD's hash.
pub fn required_revision(channel: &Channel) -> Option<String> {
    match channel {
        Channel::Dev {
            head, tag: None, ..
        } => Some(head.clone()),
        _ => None,
    }
}

/// Whether an image under this channel must carry the dirty label: a
/// default development tag ends in `-dirty` exactly when it does.
pub fn required_dirty(channel: &Channel) -> Option<bool> {
    match channel {
        Channel::Dev {
            tag: None, dirty, ..
        } => Some(*dirty),
        _ => None,
    }
}

/// The reference each selected flavour goes under.
pub fn references(
    catalog: &Catalog,
    flavours: &[&Flavour],
    version: &Version,
    channel: &Channel,
    registry: &Registry,
) -> Result<Vec<Reference>> {
    flavours
        .iter()
        .map(|f| catalog.reference(f, version, channel, registry))
        .collect()
}

/// What needs local images: a push names how a promoted release's alias
/// moves instead, a test does not.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum LocalFor {
    Test,
    Push,
}

/// The local images of `refs` (`owners[i]` the flavour of `refs[i]`),
/// which must all be there: else exit 1 naming the missing ones and the
/// `cargo xtask image build …` that makes them.
pub fn local_images(
    exec: &mut Executor,
    refs: &[Reference],
    owners: &[&Flavour],
    sel: &Naming,
    needed_for: LocalFor,
) -> Result<Vec<ImageInfo>> {
    let found = inspect_locals(exec, refs)?;
    let missing: Vec<(&Reference, &Flavour)> = refs
        .iter()
        .zip(owners.iter().copied())
        .zip(&found)
        .filter(|(_, f)| f.is_none())
        .map(|(pair, _)| pair)
        .collect();
    if !missing.is_empty() {
        let flavours = owners_of(&missing);
        // A registry-side promotion leaves nothing local: its alias moves
        // with `release`, not with a local build pushed.
        let promoted = if sel.dev || needed_for == LocalFor::Test {
            String::new()
        } else {
            format!(
                " (a release promoted in the registry, by `image tag --from` or `release`, is not local: `cargo xtask release {}` at the commit it was built from moves its alias)",
                flavour_names(&flavours)
            )
        };
        let shown: Vec<String> = missing.iter().map(|(r, _)| r.to_string()).collect();
        anyhow::bail!(
            "not in the local engine: {}; build first with `{}`{promoted}",
            shown.join(", "),
            build_command(sel, &flavours)
        );
    }
    Ok(found.into_iter().flatten().collect())
}

/// The flavours of `missing`, each once, in order.
fn owners_of<'c>(missing: &[(&Reference, &'c Flavour)]) -> Vec<&'c Flavour> {
    let mut out: Vec<&Flavour> = Vec::new();
    for (_, f) in missing {
        if !out.iter().any(|o| o.name == f.name) {
            out.push(f);
        }
    }
    out
}

/// As [`local_images`], but a dry run plans around an image not built yet
/// (`None`), saying so: its plan shows `<image ID of REF>`.
pub fn local_images_or_planned(
    exec: &mut Executor,
    refs: &[Reference],
    owners: &[&Flavour],
    sel: &Naming,
) -> Result<Vec<Option<ImageInfo>>> {
    if !exec.dry_run() {
        return Ok(local_images(exec, refs, owners, sel, LocalFor::Push)?
            .into_iter()
            .map(Some)
            .collect());
    }
    let found = inspect_locals(exec, refs)?;
    for ((r, owner), _) in refs
        .iter()
        .zip(owners)
        .zip(&found)
        .filter(|(_, f)| f.is_none())
    {
        crate::support::output::note(&format!(
            "{r} is not built yet (`{}`); the plan shows <image ID of {r}>, and what needs the image (its checks, the comparison with the registry) is decided when it exists",
            build_command(sel, &[owner])
        ));
    }
    Ok(found)
}

fn inspect_locals(exec: &mut Executor, refs: &[Reference]) -> Result<Vec<Option<ImageInfo>>> {
    if refs.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<Arg> = refs.iter().map(|r| Arg::Lit(r.to_string())).collect();
    exec.inspect(&names)
}

/// A release is immutable: one with some of its flavour's platforms
/// missing could never get them without `--force`, so `--platform`
/// narrows development pushes and promotions only.
pub fn release_serves_all(
    f: &Flavour,
    platforms: &[Platform],
    sel: &Naming,
    force: bool,
) -> Result<()> {
    if sel.dev || force || platforms.len() >= f.platforms.len() {
        return Ok(());
    }
    Err(invalid(format!(
        "--platform narrows development pushes and promotions only: a release of flavour '{}' serves every platform it declares ({}); drop --platform, or pass --force to publish {} alone",
        f.name,
        list(&f.platforms),
        list(platforms)
    )))
}

/// The selected flavours' names, space-separated, for a command line.
fn flavour_names(flavours: &[&Flavour]) -> String {
    flavours
        .iter()
        .map(|f| f.name.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `cargo xtask image build …` command that makes what a selection names.
pub fn build_command(sel: &Naming, flavours: &[&Flavour]) -> String {
    let mut words = vec!["cargo xtask image build".to_string()];
    words.extend(flavours.iter().map(|f| f.name.clone()));
    if sel.dev {
        words.push("--dev".into());
    }
    if let Some(t) = &sel.tag {
        words.push(format!("--tag {}", crate::support::shell::shell_quote(t)));
    }
    if let Some(r) = &sel.registry {
        words.push(format!(
            "--registry {}",
            crate::support::shell::shell_quote(r)
        ));
    }
    if let Some(p) = &sel.platform {
        words.push(format!(
            "--platform {}",
            crate::support::shell::shell_quote(p)
        ));
    }
    words.join(" ")
}

/// Text columns, a header row first: every cell but the last of a row
/// padded to its column's widest, with two spaces between columns.
pub fn text_table<const N: usize>(rows: &[[String; N]]) -> Vec<String> {
    // The work is in one non-generic function, not compiled once per N.
    let rows: Vec<&[String]> = rows.iter().map(|r| r.as_slice()).collect();
    table_of(&rows, N)
}

fn table_of(rows: &[&[String]], n: usize) -> Vec<String> {
    let widths: Vec<usize> = (0..n)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|r| {
            let cells: Vec<String> = (0..n)
                .map(|i| format!("{:w$}", r[i], w = if i + 1 == n { 0 } else { widths[i] }))
                .collect();
            cells.join("  ").trim_end().to_string()
        })
        .collect()
}
