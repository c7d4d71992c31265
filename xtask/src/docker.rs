//! Docker: read-only lookups, the post-build checks, and the one executor
//! that prints (`--dry-run`) or runs a plan.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use xshell::Shell;

use crate::json::Json;
use crate::plan::{shell_line, Action, Arg, Expectation, Slot, Step};
use crate::reference::{check_repo_digest, check_sha256, AnyRef};
use crate::runner::{self, Wait};

/// What `docker image inspect` tells about one image.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageInfo {
    pub id: String,
    pub repo_digests: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub layers: Vec<String>,
}

/// Parse the JSON array `docker image inspect` prints.
pub fn parse_inspect(text: &str) -> Result<Vec<ImageInfo>, String> {
    let v = Json::parse(text.trim()).map_err(|e| format!("not JSON ({e})"))?;
    let items = v.as_array().ok_or("not a JSON array")?;
    items
        .iter()
        .map(|item| {
            let id = item
                .get("Id")
                .and_then(Json::as_str)
                .ok_or("an image has no Id")?
                .to_string();
            let labels = item
                .get("Config")
                .and_then(|c| c.get("Labels"))
                .and_then(Json::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            Ok(ImageInfo {
                id,
                repo_digests: item
                    .get("RepoDigests")
                    .map(Json::strings)
                    .unwrap_or_default(),
                labels,
                layers: item
                    .get("RootFS")
                    .and_then(|r| r.get("Layers"))
                    .map(Json::strings)
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// The RepoDigests entry of `image`'s own repository. An image pulled under
/// several names has one entry per repository; index 0 may be another's.
pub fn pick_repo_digest(image: &str, repo_digests: &[String]) -> Result<String, String> {
    let want = AnyRef::parse(image)?.familiar_repository();
    let found = repo_digests
        .iter()
        .find(|d| d.split_once('@').is_some_and(|(repo, _)| repo == want));
    match found {
        Some(d) => {
            check_repo_digest(d)?;
            Ok(d.clone())
        }
        None if repo_digests.is_empty() => Err(format!(
            "{image} has no repository digest: it was never pulled from or pushed to a registry"
        )),
        None => Err(format!(
            "{image} has no digest for repository {want} (it has: {})",
            repo_digests.join(", ")
        )),
    }
}

/// The digest `docker pull` reports (`Digest: sha256:…`), as
/// `repository@sha256:…` for `image`'s repository.
pub fn pull_digest(image: &str, pull_output: &str) -> Result<Option<String>, String> {
    let Some(digest) = pull_output
        .lines()
        .find_map(|l| l.trim().strip_prefix("Digest:").map(str::trim))
    else {
        return Ok(None);
    };
    let repo_digest = format!("{}@{digest}", AnyRef::parse(image)?.familiar_repository());
    check_repo_digest(&repo_digest)?;
    Ok(Some(repo_digest))
}

/// The manifest digest `docker push` reports (`…: digest: sha256:… size: N`).
pub fn pushed_digest(push_output: &str) -> Option<String> {
    push_output.lines().rev().find_map(|l| {
        let d = l.split("digest: ").nth(1)?.split_whitespace().next()?;
        check_sha256(d).ok().map(|()| d.to_string())
    })
}

/// What `docker buildx imagetools inspect` tells: the digest in the registry
/// and, per platform, the layer diff IDs. No layer is downloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteImage {
    pub repo_digest: String,
    pub layers_by_platform: BTreeMap<String, Vec<String>>,
}

/// The `--format` for [`parse_imagetools`]: digest and config in one call.
pub const IMAGETOOLS_FORMAT: &str = r#"{"manifest":{{json .Manifest}},"image":{{json .Image}}}"#;

pub fn parse_imagetools(image: &str, text: &str) -> Result<RemoteImage, String> {
    let v = Json::parse(text.trim()).map_err(|e| format!("not JSON ({e})"))?;
    let digest = v
        .get("manifest")
        .and_then(|m| m.get("digest"))
        .and_then(Json::as_str)
        .ok_or("no manifest digest")?;
    let repo_digest = format!("{}@{digest}", AnyRef::parse(image)?.familiar_repository());
    check_repo_digest(&repo_digest)?;
    let diff_ids = |config: &Json| {
        config
            .get("rootfs")
            .and_then(|r| r.get("diff_ids"))
            .map(Json::strings)
    };
    let mut layers_by_platform = BTreeMap::new();
    match v.get("image") {
        Some(img) if img.get("rootfs").is_some() => {
            layers_by_platform.insert(String::new(), diff_ids(img).unwrap_or_default());
        }
        Some(Json::Object(map)) => {
            for (platform, config) in map {
                layers_by_platform.insert(platform.clone(), diff_ids(config).unwrap_or_default());
            }
        }
        _ => return Err("no image configuration".into()),
    }
    Ok(RemoteImage {
        repo_digest,
        layers_by_platform,
    })
}

/// `VERSION_CODENAME` from an os-release file (value may be quoted).
pub fn os_release_codename(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let v = l.trim().strip_prefix("VERSION_CODENAME=")?;
        let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
        (!v.is_empty()).then(|| v.to_string())
    })
}

/// Differences between a built image and what it must record; empty when
/// it tells the truth.
pub fn differences(
    expect: &Expectation,
    values: &BTreeMap<Slot, String>,
    built: &ImageInfo,
    base_layers: &[String],
    codename: Option<&str>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (label, want) in &expect.labels {
        let want = want.resolve(values);
        match built.labels.get(label) {
            Some(got) if *got == want => {}
            Some(got) => out.push(format!("label {label} is '{got}', expected '{want}'")),
            None => out.push(format!(
                "label {label} is missing, expected '{want}' (set it in the Dockerfile from its build arg)"
            )),
        }
    }
    match codename {
        Some(c) if c == expect.distro => {}
        Some(c) => out.push(format!(
            "/etc/os-release says VERSION_CODENAME={c}, but the catalog's distro is '{}'",
            expect.distro
        )),
        None => out.push(format!(
            "/etc/os-release has no VERSION_CODENAME; the catalog's distro is '{}'",
            expect.distro
        )),
    }
    if base_layers.is_empty() || !built.layers.starts_with(base_layers) {
        out.push(format!(
            "the layers of {} are not a prefix of the built image's layers: it was not built on the recorded base",
            expect.base
        ));
    }
    out
}

/// How long a planned docker command may take: pulls and pushes move
/// images, builds run the project's own steps, the rest are lookups.
pub fn wait_for(argv: &[String]) -> Wait {
    let words: Vec<&str> = argv.iter().skip(1).take(2).map(String::as_str).collect();
    match words.as_slice() {
        ["push", ..] | ["pull", ..] => Wait::Transfer,
        ["build", ..] | ["buildx", "build"] => Wait::Unbounded,
        _ => Wait::Lookup,
    }
}

/// Runs plans against the Docker CLI.
pub struct Docker<'a> {
    sh: &'a Shell,
}

/// What running a plan produced: the image ID of each built reference.
#[derive(Debug, Default)]
pub struct Outcome {
    pub image_ids: BTreeMap<String, String>,
    pub values: BTreeMap<Slot, String>,
}

impl<'a> Docker<'a> {
    pub fn new(sh: &'a Shell) -> Docker<'a> {
        Docker { sh }
    }

    fn cmd(&self, args: &[String]) -> xshell::Cmd<'a> {
        self.sh.cmd("docker").args(args)
    }

    /// Whether `docker buildx version` works. A missing docker is an error.
    pub fn has_buildx(&self) -> Result<bool> {
        let out = runner::output(self.sh.cmd("docker").args(["buildx", "version"]))?;
        Ok(out.ok)
    }

    /// Digest and layers of an image in its registry, without downloading
    /// layers (buildx only).
    pub fn remote_image(&self, image: &str) -> Result<RemoteImage> {
        let args = vec![
            "buildx".to_string(),
            "imagetools".into(),
            "inspect".into(),
            "--format".into(),
            IMAGETOOLS_FORMAT.into(),
            image.to_string(),
        ];
        let text = runner::read(self.cmd(&args))
            .with_context(|| format!("cannot resolve the digest of base image {image}"))?;
        parse_imagetools(image, &text).map_err(|e| {
            anyhow::anyhow!(
                "cannot resolve the digest of base image {image}: imagetools printed {e}"
            )
        })
    }

    /// `docker image inspect` of several images in one call.
    pub fn inspect(&self, images: &[&str]) -> Result<Vec<ImageInfo>> {
        let mut args = vec!["image".to_string(), "inspect".into(), "--".into()];
        args.extend(images.iter().map(|s| s.to_string()));
        let text = runner::read(self.cmd(&args))?;
        let infos = parse_inspect(&text)
            .map_err(|e| anyhow::anyhow!("docker image inspect printed {e}"))?;
        anyhow::ensure!(
            infos.len() == images.len(),
            "docker image inspect returned {} images for {}",
            infos.len(),
            images.len()
        );
        Ok(infos)
    }

    /// Like [`Docker::inspect`], but a missing image is `None` rather than an
    /// error. One call when all are present.
    pub fn inspect_present(&self, images: &[&str]) -> Result<Vec<Option<ImageInfo>>> {
        if let Ok(all) = self.inspect(images) {
            return Ok(all.into_iter().map(Some).collect());
        }
        let mut out = Vec::new();
        for image in images {
            let mut args = vec!["image".to_string(), "inspect".into(), "--".into()];
            args.push(image.to_string());
            let o = runner::output(self.cmd(&args))?;
            if o.ok {
                let mut infos = parse_inspect(&o.stdout)
                    .map_err(|e| anyhow::anyhow!("docker image inspect printed {e}"))?;
                out.push(infos.pop());
            } else if o.stderr.to_ascii_lowercase().contains("no such image") {
                out.push(None);
            } else {
                anyhow::bail!("`docker image inspect {image}` failed: {}", o.stderr_line());
            }
        }
        Ok(out)
    }

    /// A label of the image a tag points at in its registry: from the config
    /// alone with buildx (no layers), else by pulling the tag.
    pub fn remote_label(
        &self,
        buildx: bool,
        reference: &crate::reference::Reference,
        label: &str,
    ) -> Result<Option<String>> {
        let r = reference.to_string();
        let labels = if buildx {
            let args = vec![
                "buildx".to_string(),
                "imagetools".into(),
                "inspect".into(),
                "--format".into(),
                "{{json .Image}}".into(),
                r.clone(),
            ];
            let text = runner::read(self.cmd(&args))?;
            let v = Json::parse(text.trim())
                .map_err(|e| anyhow::anyhow!("imagetools inspect of {r} printed {e}"))?;
            v.get("config")
                .and_then(|c| c.get("Labels"))
                .and_then(Json::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                        .collect::<BTreeMap<_, _>>()
                })
                .unwrap_or_default()
        } else {
            runner::run_visible(
                self.cmd(&["pull".to_string(), "--".into(), r.clone()]),
                Wait::Transfer,
            )
            .with_context(|| format!("pulling {r} to read its {label} label"))?;
            self.inspect(&[&r])?.remove(0).labels
        };
        Ok(labels.get(label).cloned())
    }

    /// VERSION_CODENAME of an image, read from a created (never started)
    /// container.
    pub fn codename(&self, image: &str) -> Result<Option<String>> {
        let id = runner::read(self.cmd(&[
            "create".into(),
            "--".into(),
            image.to_string(),
            "os-release-probe".into(),
        ]))?
        .trim()
        .to_string();
        anyhow::ensure!(
            !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "docker create printed '{id}', not a container ID"
        );
        let dir = TempDir::new()?;
        let dest = dir.0.join("os-release");
        let copied = runner::read(self.cmd(&[
            "cp".into(),
            "-L".into(),
            format!("{id}:/etc/os-release"),
            dest.to_string_lossy().into_owned(),
        ]));
        let removed = runner::read(self.cmd(&["rm".into(), "--".into(), id.clone()]));
        copied.with_context(|| format!("cannot read /etc/os-release of {image}"))?;
        removed.with_context(|| format!("cannot remove the probe container {id}"))?;
        let text = std::fs::read_to_string(&dest)
            .with_context(|| format!("cannot read {}", dest.display()))?;
        Ok(os_release_codename(&text))
    }

    /// Print the plan (`dry_run`; to stderr when stdout carries JSON) or run
    /// it. Each step is echoed before it runs; a failure stops the plan.
    pub fn execute(
        &self,
        steps: &[Step],
        dry_run: bool,
        stdout_is_json: bool,
        known: BTreeMap<Slot, String>,
    ) -> Result<Outcome> {
        match self.execute_partial(steps, dry_run, stdout_is_json, known) {
            (out, None) => Ok(out),
            (_, Some((_, e))) => Err(e),
        }
    }

    /// Like [`Docker::execute`], but on a failure also says what the steps
    /// before it produced and which step failed (its index), for callers
    /// that report progress.
    pub fn execute_partial(
        &self,
        steps: &[Step],
        dry_run: bool,
        stdout_is_json: bool,
        known: BTreeMap<Slot, String>,
    ) -> (Outcome, Option<(usize, anyhow::Error)>) {
        let mut out = Outcome {
            values: known,
            ..Outcome::default()
        };
        for (i, step) in steps.iter().enumerate() {
            if let Err(e) = self.step(step, dry_run, stdout_is_json, &mut out) {
                return (out, Some((i, e.context(step.purpose.clone()))));
            }
        }
        (out, None)
    }

    fn step(
        &self,
        step: &Step,
        dry_run: bool,
        stdout_is_json: bool,
        out: &mut Outcome,
    ) -> Result<()> {
        let argv = step.resolve(&out.values);
        if dry_run {
            let line = match &step.action {
                Action::Verify(e) => format!(
                    "# then check {}: its labels, VERSION_CODENAME={} in /etc/os-release, and that it is built on {}",
                    e.reference, e.distro, e.base
                ),
                _ => shell_line(&argv),
            };
            if stdout_is_json {
                eprintln!("{line}");
            } else {
                println!("{line}");
            }
            return Ok(());
        }
        match &step.action {
            Action::Run => {
                runner::run_visible(self.sh.cmd(&argv[0]).args(&argv[1..]), wait_for(&argv))?;
            }
            Action::Capture(slot) => {
                let value = self.capture(slot, &argv)?;
                out.values.insert(slot.clone(), value);
            }
            Action::Verify(expect) => {
                let id = self.verify(expect, &out.values)?;
                out.image_ids.insert(expect.reference.clone(), id);
            }
        }
        Ok(())
    }

    /// Run a step whose output holds a value (a pull, a push) and extract it.
    fn capture(&self, slot: &Slot, argv: &[String]) -> Result<String> {
        let text = runner::run_visible(self.sh.cmd(&argv[0]).args(&argv[1..]), wait_for(argv))?;
        match slot {
            Slot::PushedDigest { reference } => pushed_digest(&text)
                .ok_or_else(|| anyhow::anyhow!("docker push of {reference} reported no digest")),
            Slot::BaseDigest { image } => {
                if let Some(d) = pull_digest(image, &text).map_err(anyhow::Error::msg)? {
                    return Ok(d);
                }
                // No `Digest:` line: ask the engine, as the recipe does.
                let info = self.inspect(&[image])?.remove(0);
                pick_repo_digest(image, &info.repo_digests).map_err(anyhow::Error::msg)
            }
        }
    }

    /// Check that the built image records what was passed; its image ID.
    fn verify(&self, expect: &Expectation, values: &BTreeMap<Slot, String>) -> Result<String> {
        let built_and_base = self.inspect(&[&expect.reference, &expect.base]);
        let (built, base_layers) = match built_and_base {
            Ok(infos) => {
                let recorded = expect.base_digest.resolve(values);
                if !infos[1].repo_digests.contains(&recorded) {
                    anyhow::bail!(
                        "{}: the recorded base digest {recorded} is not a digest of the local {} ({})",
                        expect.reference,
                        expect.base,
                        infos[1].repo_digests.join(", ")
                    );
                }
                (infos[0].clone(), infos[1].layers.clone())
            }
            // The base is not local (buildx pulled it itself): ask the registry.
            Err(_) => {
                let built = self.inspect(&[&expect.reference])?.remove(0);
                let remote = self.remote_image(&expect.base)?;
                let layers = remote
                    .layers_by_platform
                    .values()
                    .find(|l| built.layers.starts_with(l))
                    .or_else(|| remote.layers_by_platform.values().next())
                    .cloned()
                    .unwrap_or_default();
                (built, layers)
            }
        };
        let codename = match cache::lookup(&built.layers) {
            Some(c) => Some(c),
            None => {
                let c = self.codename(&expect.reference)?;
                if let Some(c) = &c {
                    cache::store(&built.layers, c);
                }
                c
            }
        };
        let diffs = differences(expect, values, &built, &base_layers, codename.as_deref());
        if !diffs.is_empty() {
            anyhow::bail!(
                "{} does not tell the truth: {}",
                expect.reference,
                diffs.join("; ")
            );
        }
        eprintln!(
            "checked {}: labels, distro {} and base layers are as recorded",
            expect.reference, expect.distro
        );
        Ok(built.id)
    }
}

/// VERSION_CODENAME by layer list. Layers are content-addressed (diff IDs),
/// so the same list means the same /etc/os-release: a cached rebuild, whose
/// layers are unchanged, needs no probe container. Stored under
/// `$XDG_CACHE_HOME/itwinai-xtask` (or `~/.cache/itwinai-xtask`); a missing
/// or unreadable cache only costs the probe.
mod cache {
    use std::io::Write;
    use std::path::PathBuf;

    fn file() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
        Some(base.join("itwinai-xtask").join("codenames-v1"))
    }

    fn key(layers: &[String]) -> Option<String> {
        let ok = !layers.is_empty()
            && layers
                .iter()
                .all(|l| crate::reference::check_sha256(l).is_ok());
        ok.then(|| layers.join(","))
    }

    pub fn lookup(layers: &[String]) -> Option<String> {
        let key = key(layers)?;
        let text = std::fs::read_to_string(file()?).ok()?;
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == key).then(|| v.to_string())
        })
    }

    pub fn store(layers: &[String], codename: &str) {
        let (Some(key), Some(path)) = (key(layers), file()) else {
            return;
        };
        if codename.contains(char::is_whitespace) {
            return;
        }
        let _ = (|| -> std::io::Result<()> {
            std::fs::create_dir_all(path.parent().unwrap_or(&path))?;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?;
            writeln!(f, "{key} {codename}")
        })();
    }
}

/// A private temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Result<TempDir> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "xtask-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `--build-arg NAME=value` pairs for an argv.
pub fn build_arg_flags(args: &[(String, Arg)]) -> Vec<Arg> {
    let mut out = Vec::new();
    for (k, v) in args {
        out.push(Arg::Lit("--build-arg".into()));
        out.push(match v {
            Arg::Lit(s) => Arg::Lit(format!("{k}={s}")),
            Arg::Slot { prefix, slot } => Arg::Slot {
                prefix: format!("{k}={prefix}"),
                slot: slot.clone(),
            },
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn picks_the_digest_of_the_named_repository() {
        let digests = vec![
            format!("other/x@sha256:{HEX}"),
            format!("127.0.0.1:5000/base@sha256:{HEX}"),
        ];
        assert_eq!(
            pick_repo_digest("127.0.0.1:5000/base:1", &digests).unwrap(),
            digests[1]
        );
        assert_eq!(
            pick_repo_digest(
                "docker.io/library/ubuntu:22.04",
                &[format!("ubuntu@sha256:{HEX}")]
            )
            .unwrap(),
            format!("ubuntu@sha256:{HEX}")
        );
        assert!(pick_repo_digest("base:1", &[])
            .unwrap_err()
            .contains("never pulled"));
        assert!(pick_repo_digest("base:1", &digests)
            .unwrap_err()
            .contains("no digest for repository base"));
        assert!(pick_repo_digest("base:1", &["base@sha256:zz".into()]).is_err());
    }

    #[test]
    fn parses_inspect_output() {
        let text = format!(
            r#"[{{"Id":"sha256:{HEX}","RepoDigests":[],"Config":{{"Labels":{{"a":"1"}}}},"RootFS":{{"Layers":["l1","l2"]}}}},{{"Id":"x","Config":{{"Labels":null}}}}]"#
        );
        let infos = parse_inspect(&text).unwrap();
        assert_eq!(infos[0].labels.get("a").map(String::as_str), Some("1"));
        assert_eq!(infos[0].layers, vec!["l1", "l2"]);
        assert!(infos[1].labels.is_empty());
        assert!(parse_inspect("garbage").is_err());
        assert!(parse_inspect("[{}]").is_err());
    }

    #[test]
    fn parses_imagetools_output() {
        let single = format!(
            r#"{{"manifest":{{"digest":"sha256:{HEX}"}},"image":{{"rootfs":{{"diff_ids":["l1"]}}}}}}"#
        );
        let r = parse_imagetools("ubuntu:22.04", &single).unwrap();
        assert_eq!(r.repo_digest, format!("ubuntu@sha256:{HEX}"));
        assert_eq!(r.layers_by_platform[""], vec!["l1"]);
        let multi = format!(
            r#"{{"manifest":{{"digest":"sha256:{HEX}"}},"image":{{"linux/amd64":{{"rootfs":{{"diff_ids":["a"]}}}},"linux/arm64":{{"rootfs":{{"diff_ids":["b"]}}}}}}}}"#
        );
        let r = parse_imagetools("ghcr.io/x/y:1", &multi).unwrap();
        assert_eq!(r.repo_digest, format!("ghcr.io/x/y@sha256:{HEX}"));
        assert_eq!(r.layers_by_platform.len(), 2);
        assert!(parse_imagetools("u", "{}").is_err());
        assert!(
            parse_imagetools("u", r#"{"manifest":{"digest":"sha256:short"},"image":{}}"#).is_err()
        );
    }

    #[test]
    fn reads_codenames() {
        assert_eq!(
            os_release_codename("ID=ubuntu\nVERSION_CODENAME=jammy\n").as_deref(),
            Some("jammy")
        );
        assert_eq!(
            os_release_codename("VERSION_CODENAME=\"noble\"\n").as_deref(),
            Some("noble")
        );
        assert_eq!(os_release_codename("ID=alpine\n"), None);
        assert_eq!(os_release_codename("VERSION_CODENAME=\n"), None);
    }

    #[test]
    fn finds_every_difference() {
        let slot = Slot::BaseDigest {
            image: "b:1".into(),
        };
        let expect = Expectation {
            reference: "r:t".into(),
            base_digest: Arg::Slot {
                prefix: String::new(),
                slot: slot.clone(),
            },
            labels: vec![
                ("v".into(), Arg::Lit("0.2.2".into())),
                (
                    "d".into(),
                    Arg::Slot {
                        prefix: String::new(),
                        slot: slot.clone(),
                    },
                ),
            ],
            distro: "jammy".into(),
            base: "b:1".into(),
        };
        let mut values = BTreeMap::new();
        values.insert(slot, "b@sha256:1".to_string());
        let mut built = ImageInfo {
            labels: [
                ("v".to_string(), "0.2.2".to_string()),
                ("d".to_string(), "b@sha256:1".to_string()),
            ]
            .into(),
            layers: vec!["l1".into(), "l2".into()],
            ..ImageInfo::default()
        };
        let base = vec!["l1".to_string()];
        assert!(differences(&expect, &values, &built, &base, Some("jammy")).is_empty());
        built.labels.insert("v".into(), "0.2.1".into());
        built.labels.remove("d");
        let diffs = differences(&expect, &values, &built, &["l9".to_string()], Some("noble"));
        assert_eq!(diffs.len(), 4, "{diffs:?}");
        assert!(diffs[0].contains("label v is '0.2.1', expected '0.2.2'"));
        assert!(diffs[1].contains("label d is missing"));
        assert!(diffs[2].contains("VERSION_CODENAME=noble"));
        assert!(diffs[3].contains("not a prefix"));
        assert_eq!(differences(&expect, &values, &built, &[], None).len(), 4);
    }

    #[test]
    fn reads_the_digest_from_push_output() {
        let out = format!("The push refers to repository [r]\n5f70bf18a086: Pushed\n1: digest: sha256:{HEX} size: 527\n");
        assert_eq!(pushed_digest(&out), Some(format!("sha256:{HEX}")));
        assert_eq!(pushed_digest("1: digest: sha256:abc size: 1\n"), None);
        assert_eq!(pushed_digest(""), None);
    }

    #[test]
    fn reads_the_digest_from_pull_output() {
        let out = format!("1: Pulling from base\nDigest: sha256:{HEX}\nStatus: Image is up to date for 127.0.0.1:5000/base:1\n127.0.0.1:5000/base:1\n");
        assert_eq!(
            pull_digest("127.0.0.1:5000/base:1", &out).unwrap(),
            Some(format!("127.0.0.1:5000/base@sha256:{HEX}"))
        );
        assert_eq!(pull_digest("base:1", "base:1\n").unwrap(), None);
        assert!(pull_digest("base:1", "Digest: sha256:short\n").is_err());
    }
}
