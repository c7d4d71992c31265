//! The workspace: its root, one `Shell` in that directory, and the loaded,
//! fully validated project (pyproject version, catalog, Dockerfiles).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use xshell::Shell;

use crate::model::labels;
use crate::model::platform::Platform;
use crate::model::reference::AnyRef;
use crate::model::version::Version;
use crate::project::catalog::{self, Catalog, Flavour};
use crate::project::dockerfile::{self, BASE_ARG};
use crate::project::pyproject;
use crate::support::error::invalid;

pub struct Workspace {
    pub root: PathBuf,
    pub sh: Shell,
}

/// Everything the image commands need, read and checked before anything runs.
#[derive(Debug)]
pub struct Project {
    pub version: Version,
    pub catalog: Catalog,
    /// Dockerfile text per flavour.
    dockerfiles: BTreeMap<String, String>,
    /// The first problem of each flavour whose Dockerfile cannot be used.
    broken: BTreeMap<String, String>,
    /// pyproject.toml and the catalog as they were read.
    texts: Vec<(&'static str, String)>,
}

impl Workspace {
    /// Open the workspace at `root` (`--root`), else the project the
    /// current directory is in: the nearest directory, from it upward, that
    /// holds [`catalog::FILE`]. Never a path compiled into the binary: one
    /// build serves every checkout and worktree.
    pub fn open(root: Option<&Path>) -> Result<Workspace> {
        let given = match root {
            Some(r) => r.to_path_buf(),
            None => {
                let here = std::env::current_dir().map_err(|e| {
                    invalid(format!(
                        "the current directory cannot be read ({e}); run from inside a project or pass --root DIR"
                    ))
                })?;
                find_project(&here)?
            }
        };
        let root = given.canonicalize().map_err(|e| {
            invalid(format!(
                "--root {}: {e}; give the workspace directory",
                given.display()
            ))
        })?;
        if !root.is_dir() {
            return Err(invalid(format!(
                "--root {}: not a directory",
                root.display()
            )));
        }
        if let Some(why) = not_a_root(&root) {
            return Err(invalid(why));
        }
        let sh = Shell::new().context("cannot set up the command runner")?;
        sh.change_dir(&root);
        Ok(Workspace { root, sh })
    }

    /// A file inside the workspace, by its relative path. Symlinks that
    /// lead outside the workspace are refused.
    pub fn path_inside(&self, rel: &str) -> Result<PathBuf> {
        let joined = self.root.join(rel);
        let real = joined
            .canonicalize()
            .map_err(|e| invalid(format!("{rel}: {e} (looked in {})", self.root.display())))?;
        if !real.starts_with(&self.root) {
            return Err(invalid(format!(
                "{rel} resolves to {}, outside the workspace {}; keep it inside",
                real.display(),
                self.root.display()
            )));
        }
        if !real.is_file() {
            return Err(invalid(format!("{rel}: not a file")));
        }
        Ok(real)
    }

    pub fn read(&self, rel: &str) -> Result<String> {
        let path = self.path_inside(rel)?;
        std::fs::read_to_string(&path).map_err(|e| invalid(format!("{rel}: cannot read: {e}")))
    }

    /// Replace a file's contents atomically: write a temporary file beside
    /// it, then rename it over the original. The temporary file has an
    /// unpredictable name and is created exclusively (a file or link
    /// planted under that name is never followed or reused); it is removed
    /// on every failure, and a signal received by then stops the write
    /// before the rename (nothing written).
    pub fn write_atomic(&self, rel: &str, text: &str) -> Result<()> {
        let path = self.path_inside(rel)?;
        crate::support::atomic::write(&path, text).with_context(|| format!("cannot write {rel}"))
    }

    /// Read and validate pyproject.toml, the catalog and every Dockerfile:
    /// the project, unless pyproject.toml or the catalog has a problem (its
    /// first). A flavour whose Dockerfile has a problem is kept, marked:
    /// it refuses only the commands that work on it
    /// ([`Project::usable`]).
    pub fn load(&self) -> Result<Project> {
        let (project, mut problems) = self.load_all();
        match project {
            Some(project) => Ok(project),
            None if !problems.is_empty() => Err(problems.remove(0)),
            None => Err(invalid("the project could not be read")),
        }
    }

    /// As [`Workspace::load`], finding every problem, in the order `load`
    /// meets them: those of pyproject.toml and the catalog (then no
    /// project), and each flavour's (kept in the project too).
    pub fn load_all(&self) -> (Option<Project>, Vec<anyhow::Error>) {
        let mut p = catalog::Problems::default();
        let mut texts = Vec::new();
        let version = p.keep(self.read(pyproject::FILE).and_then(|text| {
            let version = pyproject::read_version(&text);
            texts.push((pyproject::FILE, text));
            version
        }));
        let catalog = match self.read(catalog::FILE) {
            Err(e) => {
                p.push(e);
                None
            }
            Ok(text) => {
                let (catalog, problems) = Catalog::parse_all(&text);
                p.0.extend(problems);
                texts.push((catalog::FILE, text));
                catalog
            }
        };
        let Some(catalog) = catalog else {
            return (None, p.0);
        };
        // The Dockerfiles are checked even when the version is not usable.
        if let Some(version) = &version {
            p.0.extend(catalog.tag_problems(version));
        }
        let project_ok = p.0.is_empty();
        let mut project = Project {
            version: version.unwrap_or_else(|| Version::parse("0.0.0").expect("0.0.0 parses")),
            catalog,
            dockerfiles: BTreeMap::new(),
            broken: BTreeMap::new(),
            texts,
        };
        for f in &project.catalog.flavours {
            let read = self.read(&f.dockerfile).map_err(|e| {
                invalid(format!(
                    "{}: flavour '{}': 'dockerfile' {e:#}",
                    catalog::FILE,
                    f.name
                ))
            });
            match read {
                Ok(text) => {
                    project.dockerfiles.insert(f.name.clone(), text);
                }
                Err(e) => {
                    project.broken.insert(f.name.clone(), format!("{e:#}"));
                    p.push(e);
                }
            }
        }
        let mut broken = Vec::new();
        for f in &project.catalog.flavours {
            // Both checks resolve the file, so one problem may show in both:
            // `check` prints each message once.
            if project.dockerfiles.contains_key(&f.name) {
                for r in [
                    project.base(f, None).map(|_| ()),
                    project.check_provenance(f),
                ] {
                    if let Err(e) = r {
                        broken.push((f.name.clone(), format!("{e:#}")));
                        p.push(e);
                    }
                }
            }
        }
        for (name, why) in broken {
            project.broken.entry(name).or_insert(why);
        }
        (project_ok.then_some(project), p.0)
    }
}

/// The nearest directory, `start` or one above it, that holds the
/// catalog: what marks a project.
pub fn find_project(start: &Path) -> Result<PathBuf> {
    start
        .ancestors()
        .find(|dir| dir.join(catalog::FILE).is_file())
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            invalid(format!(
                "{} is not inside a project: neither it nor a directory above it holds {}; run from inside one or pass --root DIR",
                start.display(),
                catalog::FILE
            ))
        })
}

/// Why `root` (given as `--root`, canonical) is not a project's root when
/// it is a folder inside one: the directory above it that holds the
/// catalog is named and suggested. Elsewhere, reading the catalog says
/// what is missing.
fn not_a_root(root: &Path) -> Option<String> {
    if root.join(catalog::FILE).is_file() {
        return None;
    }
    let project = root
        .ancestors()
        .skip(1)
        .find(|dir| dir.join(catalog::FILE).is_file())?;
    Some(format!(
        "--root {}: it holds no {}, it is inside the project at {}, which does; pass --root {} (or run from inside the project without --root)",
        root.display(),
        catalog::FILE,
        project.display(),
        project.display()
    ))
}

/// `file:line: message (flavour 'name')`, invalid input.
fn dockerfile_error(file: &str, flavour: &str, e: &dockerfile::Error) -> anyhow::Error {
    let place = match e.line {
        Some(line) => format!("{file}:{line}"),
        None => file.to_string(),
    };
    invalid(format!("{place}: {} (flavour '{flavour}')", e.message))
}

impl Project {
    /// The first problem of `flavour`'s Dockerfile, when it has one.
    pub fn problem(&self, flavour: &Flavour) -> Option<&str> {
        self.broken.get(&flavour.name).map(String::as_str)
    }

    /// A flavour a command builds, tests, pushes or tags must have a
    /// usable Dockerfile; another flavour's problem never stops it.
    pub fn usable(&self, flavour: &Flavour) -> Result<()> {
        match self.problem(flavour) {
            None => Ok(()),
            Some(why) => Err(invalid(why.to_string())),
        }
    }

    fn dockerfile(&self, flavour: &Flavour) -> Result<&str> {
        self.dockerfiles
            .get(&flavour.name)
            .map(String::as_str)
            .with_context(|| format!("flavour '{}' has no Dockerfile loaded", flavour.name))
    }

    /// The Dockerfile declares every provenance ARG and sets every OCI
    /// label from it, in its final stage: checked before any docker command,
    /// since a build can take an hour.
    pub fn check_provenance(&self, flavour: &Flavour) -> Result<()> {
        dockerfile::check_provenance(self.dockerfile(flavour)?, &labels::FROM_ARGS)
            .map_err(|e| dockerfile_error(&flavour.dockerfile, &flavour.name, &e))
    }

    /// The files of the working tree that shape a build of `flavours`, each
    /// with the text read and checked: pyproject.toml, the catalog, and
    /// each flavour's Dockerfile (relative paths).
    pub fn texts<'a>(&'a self, flavours: &[&'a Flavour]) -> Vec<(&'a str, &'a str)> {
        let mut out: Vec<(&str, &str)> = self.texts.iter().map(|(f, t)| (*f, t.as_str())).collect();
        for f in flavours {
            if let Ok(text) = self.dockerfile(f) {
                out.push((f.dockerfile.as_str(), text));
            }
        }
        out
    }

    /// The line of the first heredoc in the flavour's Dockerfile, if any.
    /// A FROM of the flavour's Dockerfile the classic builder reads
    /// otherwise than BuildKit (`dockerfile::classic_reads_otherwise`).
    pub fn classic_platform_arg(&self, flavour: &Flavour) -> Option<(usize, String)> {
        self.dockerfile(flavour)
            .ok()
            .and_then(dockerfile::classic_reads_otherwise)
    }

    pub fn heredoc_line(&self, flavour: &Flavour) -> Option<usize> {
        self.dockerfile(flavour)
            .ok()
            .and_then(dockerfile::first_heredoc)
    }

    /// The build args a flavour passes besides provenance: FRAMEWORK_VERSION
    /// only to a Dockerfile that declares it (no "build-args were not
    /// consumed" warning), then the catalog's.
    pub fn build_args(&self, flavour: &Flavour) -> Vec<(String, String)> {
        let takes = self
            .dockerfile(flavour)
            .is_ok_and(|t| dockerfile::declares_arg(t, catalog::FRAMEWORK_ARG));
        flavour.build_args(takes)
    }

    /// The base the flavour's final image is built on. `cli_override`
    /// (`--base-image`) wins over the catalog's `base-image`, which wins over
    /// the Dockerfile's default.
    pub fn base(&self, flavour: &Flavour, cli_override: Option<&str>) -> Result<Base> {
        let text = self.dockerfile(flavour)?;
        let (override_from, value) = match (cli_override, flavour.base_image.as_deref()) {
            (Some(v), _) => ("--base-image".to_string(), Some(v)),
            (None, Some(v)) => (
                format!(
                    "{}: flavour '{}': 'base-image'",
                    catalog::FILE,
                    flavour.name
                ),
                Some(v),
            ),
            (None, None) => (String::new(), None),
        };
        let mut args: BTreeMap<String, String> = flavour.build_args(true).into_iter().collect();
        if let Some(v) = value {
            args.insert(BASE_ARG.to_string(), v.to_string());
        }
        let file = &flavour.dockerfile;
        let base = dockerfile::final_base(text, &args)
            .map_err(|e| dockerfile_error(file, &flavour.name, &e))?;
        if let Some(v) = value {
            // The override must be what the final stage is built on, not
            // merely mentioned (`${BASE_IMG_NAME:+other}` mentions it).
            if base.image != v {
                return Err(invalid(format!(
                    "{override_from} '{v}' is ignored by {file}, whose final image is built FROM {} (line {}), not FROM ${{{BASE_ARG}}} itself, so the base.name label would lie; write FROM ${{{BASE_ARG}}} in it or drop the override (flavour '{}')",
                    base.image, base.line, flavour.name
                )));
            }
        }
        let parsed = AnyRef::parse(&base.image).map_err(|e| {
            invalid(format!(
                "{file}:{}: base image: {e} (flavour '{}')",
                base.line, flavour.name
            ))
        })?;
        if parsed.is_scratch() {
            return Err(invalid(format!(
                "{file}:{}: the final stage is built FROM scratch; there is no base image to record (flavour '{}')",
                base.line, flavour.name
            )));
        }
        dockerfile::check_recorded_base(text, &args, &parsed.to_string(), &base)
            .map_err(|e| dockerfile_error(file, &flavour.name, &e))?;
        if let Some(stage) = stage_named_as(&parsed, &base.stages) {
            return Err(invalid(format!(
                "{file}: stage '{stage}' has the name of the base image {parsed}; BuildKit takes the base, pinned by its digest under that name, in place of the stage (its instructions would not run), so rename the stage (flavour '{}')",
                flavour.name
            )));
        }
        let base = Base {
            image: parsed,
            uses_base_arg: base.uses_base_arg,
            line: base.line,
            platform: base.platform,
            steps: base.steps,
            target_args: dockerfile::reads_target_args(text),
        };
        // A declared platform the final FROM's --platform= is not: known
        // here (a native build's platform is checked when it is planned).
        for p in &flavour.platforms {
            base.fits(flavour, p)?;
        }
        Ok(base)
    }
}

/// The stage whose name is the base's as BuildKit keys a named context
/// (Docker Hub's familiar name, `:latest` left out): a build pinned by
/// `--build-context NAME=…` would take the base in that stage's place. Only
/// a Docker Hub library image without another tag or a digest can be
/// spelt as a stage name (which holds no `/`, `:` or `@`).
fn stage_named_as<'s>(base: &AnyRef, stages: &'s [String]) -> Option<&'s str> {
    if base.digest.is_some() || base.tag.as_deref().is_some_and(|t| t != "latest") {
        return None;
    }
    let name = base.familiar_repository();
    stages.iter().find(|s| **s == name).map(String::as_str)
}

/// The base a flavour's final image is built on, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    pub image: AnyRef,
    /// Whether the Dockerfile names it through `${BASE_IMG_NAME}`.
    pub uses_base_arg: bool,
    /// 1-based line of the FROM that names it.
    pub line: usize,
    /// Its `--platform=` value, when it is known before the build
    /// (`dockerfile::FinalBase::platform`).
    pub platform: Option<String>,
    /// The instructions the classic builder commits on it
    /// (`dockerfile::FinalBase::steps`).
    pub steps: usize,
    /// Its Dockerfile reads BuildKit's TARGET* ARGs, which the classic
    /// builder does not set.
    pub target_args: bool,
}

impl Base {
    /// Its FROM's `--platform=` is not another platform than `built_for`
    /// (`dockerfile::check_from_platform`), said with the flavour's file.
    pub fn fits(&self, flavour: &Flavour, built_for: &Platform) -> Result<()> {
        dockerfile::check_from_platform(self.platform.as_deref(), built_for).map_err(|e| {
            invalid(format!(
                "{}:{}: {e} (flavour '{}')",
                flavour.dockerfile, self.line, flavour.name
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_may_not_be_named_as_the_base_buildkit_would_pin() {
        let stages = vec!["ubuntu".to_string(), "build".to_string()];
        let cases = [
            ("ubuntu", Some("ubuntu")),
            ("ubuntu:latest", Some("ubuntu")),
            ("docker.io/library/ubuntu", Some("ubuntu")),
            ("ubuntu:22.04", None),
            (
                "ubuntu@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                None,
            ),
            ("ghcr.io/ubuntu", None),
            ("user/ubuntu", None),
            ("debian", None),
        ];
        for (base, want) in cases {
            let base = AnyRef::parse(base).unwrap();
            assert_eq!(stage_named_as(&base, &stages), want, "{base}");
        }
    }
}
