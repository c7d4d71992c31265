//! Plans: every git and docker call of every command, as typed data.
//!
//! A [`Step`] is one external command; its variant alone decides its argv,
//! how long it may run ([`Wait`]), whether it changes anything, and what it
//! gets on stdin. A [`Check`] is a verification that the executor carries
//! out through further read-only steps. One executor (`executor.rs`)
//! prints a plan (`--dry-run`) or runs it; tests compare plans with
//! `assert_eq!`.

use std::collections::BTreeMap;

use crate::model::platform::Platform;
use crate::model::reference::{AnyRef, Reference};
use crate::plan::arg::{lit, lits, Arg, Slot};
use crate::plan::engine_call::ApiCall;
use crate::support::process::{Capture, EnvChange, Wait, MIB};
use crate::support::shell::{shell_line, shell_quote};

/// Which builder runs a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Builder {
    /// `docker build` (no buildx plugin).
    Classic,
    /// `docker buildx build --load`, with an optional builder instance.
    Buildx { builder: Option<String> },
}

/// One `docker build` of a Dockerfile of the project, with a context
/// folder holding exactly the files of the commit (`context.rs`). The
/// image is built with no name: docker writes its ID into `iidfile`
/// ([`Slot::Built`]), and it takes `name` only once it passed its checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    pub builder: Builder,
    /// `--platform`: the one platform this build makes (None: the engine's).
    pub platform: Option<Platform>,
    /// The context folder, absolute.
    pub dir: String,
    /// The Dockerfile, relative to `dir`.
    pub dockerfile: String,
    /// A new file of the tool's cache, only this run's (`--iidfile`).
    pub iidfile: String,
    /// The name the image takes once checked.
    pub name: Reference,
    pub no_cache: bool,
    pub pull: bool,
    pub build_args: Vec<(String, Arg)>,
    /// `--label` values the tool adds itself (the dirty-tree label).
    pub labels: Vec<(String, String)>,
    /// buildx only: the base as its FROM names it, and its digest as looked
    /// up before the build (`repository@sha256:…`). The build takes the
    /// base by that digest (`--build-context NAME=docker-image://…`), so a
    /// tag moved after the lookup cannot change what is built on.
    pub pin: Option<(AnyRef, Arg)>,
}

/// Variables that make git describe another repository, work tree or
/// index than the one it runs in.
const GIT_LOCATION_ENV: [&str; 10] = [
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_CONFIG_PARAMETERS",
    "GIT_PREFIX",
    "GIT_REPLACE_REF_BASE",
];

/// One external command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// HEAD and the working tree's status in one call.
    GitState,
    /// Where the project is in its repository (`git rev-parse
    /// --show-prefix`): empty at its top, else `folder/`.
    GitPrefix,
    /// The tracked files under the project with their flags, modes and
    /// blobs (`git ls-files --stage -v`, paths quoted): what a dirty
    /// development build's context holds, and which files `git status`
    /// does not look at (skip-worktree, assume-unchanged).
    GitTracked,
    /// Every file of `tree` (`<commit>` or `<commit>:<folder>`) with its
    /// mode and blob (`git ls-tree -r --full-tree`, paths quoted): what a
    /// clean build's context holds.
    ContextList {
        tree: String,
    },
    /// The bytes of these blobs as git stores them, no filter or
    /// conversion applied (`git cat-file --batch --buffer`, the ids on
    /// stdin), written to `file`: what a context's files are written from.
    ContextBlobs {
        objects: Vec<String>,
        file: String,
    },
    /// The bytes of these blobs (symbolic links' targets), read.
    ContextLinks {
        objects: Vec<String>,
    },
    /// The blob id of each file's bytes as they are, no filter applied
    /// (`git hash-object --no-filters --stdin-paths`, quoted paths on
    /// stdin; nothing written): what a context is verified with.
    ContextHash {
        paths: Vec<Vec<u8>>,
    },
    /// The `filter` attribute of each path (`git check-attr --stdin`): the
    /// files a checkout would write through a filter (LFS's pointers).
    ContextAttrs {
        paths: Vec<Vec<u8>>,
    },
    /// Write the local image `image` (its ID: exactly that content) to
    /// `file` as `docker save` archives it: the config and each layer
    /// uncompressed, as the engine holds them.
    Save {
        image: Arg,
        file: String,
    },
    /// Unpack the archive `file` into `dir` (`tar -x`).
    Unpack {
        file: String,
        dir: String,
    },
    /// The sha256 of each file (`sha256sum`), in order.
    HashFiles {
        files: Vec<String>,
    },
    /// Compress each file in place to `<file>.gz` (`gzip -n`: no name, no
    /// time, so the same layer compresses to the same bytes).
    Compress {
        files: Vec<String>,
    },
    /// Whether a revision is a commit of this repository.
    GitIsCommit {
        rev: String,
    },
    /// Whether the buildx plugin is there.
    BuildxProbe,
    /// The identity of the engine the docker CLI talks to, as it resolves
    /// it (DOCKER_HOST, a context, its config file, a wrapper): its ID and
    /// its host's name (`ID/Name`: engines of VMs cloned from one image can
    /// share an ID). The engine's socket is asked directly only when its
    /// engine has that identity (`exec/engine_api.rs`).
    EngineId,
    /// The engine's own platform (`os/arch` of the daemon): what an image
    /// of a flavour without `platforms` is built for, whatever
    /// `DOCKER_DEFAULT_PLATFORM` says.
    EnginePlatform,
    /// Pull an image by name (one platform's image of it, when given);
    /// `capture` keeps its digest in a `BaseDigest` slot.
    Pull {
        image: AnyRef,
        platform: Option<Platform>,
        capture: bool,
    },
    Build(Box<Build>),
    /// `docker image inspect` of names or IDs (absent ones allowed).
    Inspect {
        images: Vec<Arg>,
    },
    /// The image IDs of an image's history, newest first (`docker history
    /// --quiet`; `<missing>` where the engine holds no image for a row):
    /// the classic builder's chain of commits down to the image it built on.
    History {
        image: Arg,
    },
    /// Run the image's python3 (and nothing else of it) to read
    /// /etc/os-release and the versions of installed distributions.
    Probe {
        image: Arg,
        platform: Option<Platform>,
        dists: Vec<String>,
    },
    /// Run a flavour's test inside the image: its argv as the container's
    /// process (or through the image's entrypoint), without network unless
    /// the flavour asks for the engine's default one.
    Test {
        image: Arg,
        platform: Option<Platform>,
        test: crate::project::catalog::Test,
    },
    /// Point a name at an image.
    Tag {
        source: Arg,
        target: Reference,
    },
    /// Remove a container a stopped step left (`docker rm -f`).
    RemoveContainer {
        name: String,
    },
    /// One request to the registry API with curl: a read (a manifest, a
    /// config blob, a tag list page, a token, whether a blob is there) or a
    /// write (a mount, an upload, a manifest), which its method says;
    /// credentials, when needed, go on stdin.
    Registry(Box<crate::oci::distribution::Request>),
    /// Ask docker's credential helper for a registry's credentials
    /// (`docker-credential-<helper> get`, the registry on stdin).
    CredentialHelper {
        helper: String,
        server: String,
    },
}

/// `--platform P` when a platform is given.
fn platform_flag(p: &Option<Platform>) -> Vec<Arg> {
    match p {
        Some(p) => lits(["--platform".to_string(), p.to_string()]),
        None => Vec::new(),
    }
}

/// What the in-image probe runs: prints one JSON object with the text of
/// os-release and, per distribution named in argv, its version or null.
/// One line, no shell, nothing imported beyond the standard library.
pub const PROBE_SCRIPT: &str = r#"import json,os,sys,importlib.metadata as m;v=lambda n:next((d.version for d in m.distributions(name=n)),None);o=next((open(p).read() for p in ("/etc/os-release","/usr/lib/os-release") if os.path.exists(p)),None);print(json.dumps({"os_release":o,"dists":{n:v(n) for n in sys.argv[1:]}}))"#;

impl Step {
    /// Program and arguments; never passed through a shell. Every value
    /// that comes from a file, the environment or the command line follows
    /// `--` or is one `KEY=value` word, so none is read as an option.
    #[expect(
        clippy::too_many_lines,
        reason = "a flat match, one arm per external command, read against the argv table test"
    )]
    pub fn argv(&self) -> Vec<Arg> {
        match self {
            // The URL is built from typed values and starts with the scheme.
            Step::Registry(r) => lits(r.argv()),
            Step::CredentialHelper { helper, .. } => {
                lits([format!("docker-credential-{helper}"), "get".to_string()])
            }
            Step::GitState => lits([
                "git",
                "status",
                "--porcelain=v2",
                "--branch",
                "--untracked-files=normal",
            ]),
            Step::GitPrefix => lits(["git", "rev-parse", "--show-prefix"]),
            Step::GitTracked => lits(["git", "ls-files", "--stage", "-v"]),
            // The tree starts with the commit's 40 hex digits (read from
            // git): never an option.
            Step::ContextList { tree } => {
                lits(["git", "ls-tree", "-r", "--full-tree", tree.as_str()])
            }
            Step::ContextBlobs { .. } => lits(["git", "cat-file", "--batch", "--buffer"]),
            Step::ContextLinks { .. } => lits(["git", "cat-file", "--batch"]),
            Step::ContextHash { .. } => {
                lits(["git", "hash-object", "--no-filters", "--stdin-paths"])
            }
            Step::ContextAttrs { .. } => lits(["git", "check-attr", "--stdin", "filter"]),
            Step::Save { image, file } => {
                let mut a = lits(["docker", "save", "--output", file.as_str(), "--"]);
                a.push(image.clone());
                a
            }
            Step::Unpack { file, dir } => {
                lits(["tar", "-x", "-f", file.as_str(), "-C", dir.as_str()])
            }
            Step::HashFiles { files } => {
                let mut a = lits(["sha256sum", "--"]);
                a.extend(lits(files.iter().map(String::as_str)));
                a
            }
            Step::Compress { files } => {
                let mut a = lits(["gzip", "-n", "--"]);
                a.extend(lits(files.iter().map(String::as_str)));
                a
            }
            Step::GitIsCommit { rev } => lits([
                "git".to_string(),
                "rev-parse".into(),
                "--verify".into(),
                "--quiet".into(),
                "--end-of-options".into(),
                format!("{rev}^{{commit}}"),
            ]),
            Step::BuildxProbe => lits(["docker", "buildx", "version"]),
            Step::EngineId => lits([
                "docker",
                "info",
                "--format",
                "{{json (print .ID \"/\" .Name)}}",
            ]),
            Step::EnginePlatform => lits([
                "docker",
                "version",
                "--format",
                "{{.Server.Os}}/{{.Server.Arch}}",
            ]),
            Step::Pull {
                image, platform, ..
            } => {
                let mut a = lits(["docker", "pull"]);
                a.extend(platform_flag(platform));
                a.extend(lits(["--".to_string(), image.to_string()]));
                a
            }
            Step::Build(b) => b.argv(),
            Step::Inspect { images } => {
                let mut a = lits(["docker", "image", "inspect", "--"]);
                a.extend(images.iter().cloned());
                a
            }
            Step::History { image } => {
                let mut a = lits(["docker", "history", "--no-trunc", "--quiet", "--"]);
                a.push(image.clone());
                a
            }
            Step::Probe {
                image,
                platform,
                dists,
            } => {
                let mut a = lits(["docker", "run", "--rm", "--name"]);
                a.push(Arg::slot(Slot::Container));
                a.extend(platform_flag(platform));
                a.extend(lits([
                    "--network",
                    "none",
                    "--pull",
                    "never",
                    "--entrypoint",
                    "python3",
                    "--",
                ]));
                a.push(image.clone());
                a.extend(lits(["-c", PROBE_SCRIPT]));
                a.extend(dists.iter().map(lit));
                a
            }
            Step::Test {
                image,
                platform,
                test,
            } => {
                let mut a = lits(["docker", "run", "--rm", "--name"]);
                a.push(Arg::slot(Slot::Container));
                a.extend(platform_flag(platform));
                if test.network == crate::project::catalog::TestNetwork::None {
                    a.extend(lits(["--network", "none"]));
                }
                a.extend(lits(["--pull", "never"]));
                // The program as the container's process, in one word, so
                // that no value of the catalog is read as an option.
                let args = if test.entrypoint {
                    &test.argv[..]
                } else {
                    a.push(lit(format!("--entrypoint={}", test.argv[0])));
                    &test.argv[1..]
                };
                a.push(lit("--"));
                a.push(image.clone());
                a.extend(args.iter().map(lit));
                a
            }
            Step::Tag { source, target } => {
                let mut a = lits(["docker", "tag", "--"]);
                a.push(source.clone());
                a.push(lit(target.to_string()));
                a
            }
            Step::RemoveContainer { name } => lits(["docker", "rm", "--force", "--", name]),
        }
    }

    /// The engine API request that does what its docker command does, for
    /// the steps the engine answers itself (sent instead of the command
    /// when the engine is reached through its unix socket).
    pub fn api_call(&self) -> Option<ApiCall> {
        match self {
            Step::EnginePlatform => Some(ApiCall::Version),
            Step::Inspect { images } => Some(ApiCall::Inspect(images.clone())),
            Step::History { image } => Some(ApiCall::History(image.clone())),
            Step::Tag { source, target } => Some(ApiCall::Tag {
                source: source.clone(),
                repo: AnyRef::from(target).familiar_repository(),
                tag: target.tag().to_string(),
            }),
            _ => None,
        }
    }

    pub fn wait(&self) -> Wait {
        match self {
            Step::Pull { .. }
            | Step::Save { .. }
            | Step::Unpack { .. }
            | Step::HashFiles { .. }
            | Step::Compress { .. }
            | Step::ContextBlobs { .. }
            | Step::ContextHash { .. } => Wait::Transfer,
            // A layer's upload takes as long as a push.
            Step::Registry(r) if matches!(r.body, crate::oci::distribution::Body::File(_)) => {
                Wait::Transfer
            }
            Step::Build(_) | Step::Test { .. } => Wait::Unbounded,
            _ => Wait::Lookup,
        }
    }

    /// How its command's environment differs from ours: git describes the
    /// workspace's repository whatever the environment points it at, reads
    /// its objects as they are (no `git replace`), takes no lock, runs no
    /// fsmonitor hook and quotes every path it prints that is not plain
    /// ASCII; docker takes no platform from the environment (each
    /// image's is named in its step); curl sees exactly the proxy docker's
    /// client would use (`proxy.rs`), or none.
    pub fn env(&self, proxies: &crate::oci::proxy::ProxyEnv) -> Vec<EnvChange> {
        let set = |k: &str, v: &str| EnvChange::Set(k.to_string(), v.to_string());
        match self {
            Step::GitState
            | Step::GitPrefix
            | Step::GitTracked
            | Step::GitIsCommit { .. }
            | Step::ContextList { .. }
            | Step::ContextBlobs { .. }
            | Step::ContextLinks { .. }
            | Step::ContextHash { .. }
            | Step::ContextAttrs { .. } => GIT_LOCATION_ENV
                .iter()
                .map(|v| EnvChange::Remove(v.to_string()))
                .chain([
                    set("GIT_NO_REPLACE_OBJECTS", "1"),
                    set("GIT_OPTIONAL_LOCKS", "0"),
                    set("GIT_CONFIG_COUNT", "2"),
                    set("GIT_CONFIG_KEY_0", "core.fsmonitor"),
                    set("GIT_CONFIG_VALUE_0", "false"),
                    set("GIT_CONFIG_KEY_1", "core.quotePath"),
                    set("GIT_CONFIG_VALUE_1", "true"),
                ])
                .collect(),
            Step::Registry(r) => crate::oci::proxy::curl_env(&r.url, proxies),
            Step::CredentialHelper { .. } => Vec::new(),
            _ => vec![EnvChange::Remove("DOCKER_DEFAULT_PLATFORM".to_string())],
        }
    }

    /// What is kept of its output. A step that changes something shows its
    /// output as it comes and keeps the last MiB (a long build log never
    /// fails a build); a read keeps all of it, within a cap well above what
    /// it prints: a registry read a little more than curl's
    /// `--max-filesize` (which does not stop a body of unknown length), a
    /// `docker image inspect` 16 MiB (a 121-layer image with 400 labels
    /// and variables prints 134 KB), `git status` 64 MiB (a path a line).
    pub fn capture(&self) -> Capture {
        // A registry write's answer is read like a read's (its status,
        // Location and digest), never shown as progress.
        match self {
            Step::Registry(_) => {
                return Capture::Bounded(crate::oci::distribution::MAX_BYTES as usize + MIB)
            }
            // A line per layer, read, not shown.
            Step::HashFiles { .. } => return Capture::Bounded(4 * MIB),
            _ => {}
        }
        if !self.read_only() {
            return Capture::Tail(MIB);
        }
        Capture::Bounded(match self {
            Step::Registry(_) => crate::oci::distribution::MAX_BYTES as usize + MIB,
            Step::GitState
            | Step::GitTracked
            | Step::ContextList { .. }
            | Step::ContextLinks { .. }
            | Step::ContextHash { .. }
            | Step::ContextAttrs { .. } => 64 * MIB,
            Step::Inspect { .. } => 16 * MIB,
            _ => 4 * MIB,
        })
    }

    /// Whether the step changes anything, in the engine, the docker CLI's
    /// own store or a registry: a name, an image, a container, a manifest
    /// list. Every variant is named, so a new one must say. A dry run runs
    /// none of these.
    pub fn changes_state(&self) -> bool {
        match self {
            Step::Registry(r) => r.method.writes(),
            Step::Pull { .. }
            | Step::Build(_)
            | Step::Tag { .. }
            | Step::RemoveContainer { .. }
            | Step::ContextBlobs { .. }
            | Step::Save { .. }
            | Step::Unpack { .. }
            | Step::Compress { .. } => true,
            // The probe's container is removed as it ends (`--rm`), and
            // a test's too.
            Step::GitState
            | Step::GitPrefix
            | Step::GitTracked
            | Step::GitIsCommit { .. }
            | Step::ContextList { .. }
            | Step::ContextLinks { .. }
            | Step::ContextHash { .. }
            | Step::ContextAttrs { .. }
            | Step::BuildxProbe
            | Step::EngineId
            | Step::EnginePlatform
            | Step::Inspect { .. }
            | Step::History { .. }
            | Step::Probe { .. }
            | Step::Test { .. }
            | Step::HashFiles { .. }
            | Step::CredentialHelper { .. } => false,
        }
    }

    /// Whether a dry run runs it, so that its decisions can still be made:
    /// a step that changes nothing and is cheap (a test is not: it runs the
    /// project's own code for as long as it takes; nor is hashing the
    /// files of an upload, which a dry run never makes).
    pub fn read_only(&self) -> bool {
        !self.changes_state()
            && !matches!(
                self,
                Step::Test { .. }
                    | Step::Save { .. }
                    | Step::Unpack { .. }
                    | Step::HashFiles { .. }
                    | Step::Compress { .. }
            )
    }

    /// Whether it may run while the engine's platform is the one the
    /// candidate socket named, before docker said whether it talks to that
    /// engine (`Executor::confirm_engine`): a step that asks no engine, or
    /// the pull of a base, which is pulled again for the right platform
    /// when the engine was another. Every other step acts on the engine
    /// with what was planned (a build for a platform, a check against it).
    pub fn before_engine_confirmed(&self) -> bool {
        match self {
            Step::Pull { .. }
            | Step::GitState
            | Step::GitPrefix
            | Step::GitTracked
            | Step::GitIsCommit { .. }
            | Step::ContextList { .. }
            | Step::ContextBlobs { .. }
            | Step::ContextLinks { .. }
            | Step::ContextHash { .. }
            | Step::ContextAttrs { .. }
            | Step::Unpack { .. }
            | Step::HashFiles { .. }
            | Step::Compress { .. }
            | Step::BuildxProbe
            | Step::EngineId
            | Step::Registry(_)
            | Step::CredentialHelper { .. } => true,
            Step::EnginePlatform
            | Step::Build(_)
            | Step::Inspect { .. }
            | Step::History { .. }
            | Step::Probe { .. }
            | Step::Test { .. }
            | Step::Tag { .. }
            | Step::Save { .. }
            | Step::RemoveContainer { .. } => false,
        }
    }

    /// The file its stdout is written to, instead of being kept (the
    /// blobs a context is written from: binary, as large as the tree).
    pub fn stdout_file(&self) -> Option<&str> {
        match self {
            Step::ContextBlobs { file, .. } => Some(file),
            _ => None,
        }
    }

    /// Its stdin as `--dry-run` shows it, when that is a list too long to
    /// print (object ids, the paths of a context).
    fn stdin_shown(&self) -> Option<String> {
        let (n, what) = match self {
            Step::ContextBlobs { objects, .. } | Step::ContextLinks { objects } => {
                (objects.len(), "blob ids")
            }
            Step::ContextHash { paths } | Step::ContextAttrs { paths } => (paths.len(), "paths"),
            _ => return None,
        };
        Some(format!("<{n} {what}, one a line>"))
    }

    /// Whether it runs a container (the probe, a test), which the executor
    /// names (`Slot::Container`) so that it can remove it when stopped.
    pub fn runs_container(&self) -> bool {
        matches!(self, Step::Probe { .. } | Step::Test { .. })
    }

    /// What the command reads on stdin.
    pub fn stdin(&self) -> Option<Arg> {
        match self {
            Step::CredentialHelper { server, .. } => Some(lit(server)),
            Step::ContextBlobs { objects, .. } | Step::ContextLinks { objects } => {
                Some(lit(objects.join("\n")))
            }
            Step::ContextHash { paths } | Step::ContextAttrs { paths } => Some(lit(paths
                .iter()
                .map(|p| crate::model::git::quote_path(p))
                .collect::<Vec<_>>()
                .join("\n"))),
            _ => None,
        }
    }

    /// Why the step is in the plan, for messages.
    pub fn purpose(&self) -> String {
        match self {
            Step::GitState => "reading HEAD and the tree status".into(),
            Step::GitPrefix => "finding the project's folder in its repository".into(),
            Step::GitTracked => "listing the tracked files".into(),
            Step::ContextList { tree } => format!("listing the files of {tree}"),
            Step::ContextBlobs { file, objects } => {
                format!("reading {} blobs into {file}", objects.len())
            }
            Step::ContextLinks { objects } => {
                format!("reading the targets of {} symbolic links", objects.len())
            }
            Step::ContextHash { paths } => {
                format!("hashing the {} files of the build context", paths.len())
            }
            Step::ContextAttrs { paths } => {
                format!("reading the filter attribute of {} files", paths.len())
            }
            Step::Save { image, .. } => format!("saving the image {}", image.shown()),
            Step::Unpack { file, .. } => format!("unpacking {file}"),
            Step::HashFiles { files } => format!("hashing {} files", files.len()),
            Step::Compress { files } => format!("compressing {} layers", files.len()),
            Step::GitIsCommit { rev } => format!("looking up commit {rev}"),
            Step::BuildxProbe => "looking for docker buildx".into(),
            Step::EngineId => "asking docker for its engine's ID".into(),
            Step::EnginePlatform => "asking the engine for its platform".into(),
            Step::Pull {
                image,
                platform,
                capture: true,
            } => format!(
                "pulling base image {image}{} to learn its digest",
                for_platform(platform)
            ),
            Step::Pull {
                image, platform, ..
            } => format!("pulling {image}{}", for_platform(platform)),
            Step::Build(b) => format!("building {}", b.name),
            Step::Inspect { .. } => "inspecting local images".into(),
            Step::History { .. } => "reading the image's history".into(),
            Step::Probe { .. } => {
                "reading os-release and installed versions inside the image".into()
            }
            Step::Test { .. } => "running the flavour's test inside the image".into(),
            Step::RemoveContainer { name } => format!("removing the stopped container {name}"),
            Step::Tag { target, .. } => format!("pointing {target}"),
            Step::Registry(r) if r.method.writes() => format!("writing {}", r.what),
            Step::Registry(r) => format!("reading {}", r.what),
            Step::CredentialHelper { helper, server } => {
                format!("asking docker-credential-{helper} for the credentials of {server}")
            }
        }
    }
}

/// ` (linux/arm64)` for messages, when a platform is given.
fn for_platform(p: &Option<Platform>) -> String {
    p.as_ref().map_or(String::new(), |p| format!(" ({p})"))
}

impl Build {
    fn argv(&self) -> Vec<Arg> {
        let mut a = match &self.builder {
            // A failed build leaves no stopped intermediate containers.
            Builder::Classic => lits(["docker", "build", "--force-rm"]),
            Builder::Buildx { builder } => {
                let mut a = lits(["docker", "buildx", "build", "--load"]);
                if let Some(b) = builder {
                    a.extend(lits(["--builder", b]));
                }
                a
            }
        };
        a.extend(platform_flag(&self.platform));
        if self.no_cache {
            a.push(lit("--no-cache"));
        }
        if self.pull {
            a.push(lit("--pull"));
        }
        a.extend(lits([
            "-f".to_string(),
            format!("{}/{}", self.dir, self.dockerfile),
            "--iidfile".to_string(),
            self.iidfile.clone(),
        ]));
        for (k, v) in &self.build_args {
            a.push(lit("--build-arg"));
            a.push(v.prefixed(&format!("{k}=")));
        }
        for (k, v) in &self.labels {
            a.push(lit("--label"));
            a.push(lit(format!("{k}={v}")));
        }
        if let Some((name, digest)) = &self.pin {
            a.push(lit("--build-context"));
            a.push(digest.prefixed(&format!("{name}=docker-image://")));
        }
        a.push(lit("--"));
        a.push(lit(&self.dir));
        a
    }
}

/// A step as `--dry-run` prints it: the command line, with its stdin as a
/// here-document, and `# read-only:` in front of a step that changes nothing.
pub fn render_step(step: &Step, values: &BTreeMap<Slot, String>) -> String {
    let argv: Vec<String> = step.argv().iter().map(|a| a.resolve(values)).collect();
    let mut line = shell_line(&argv);
    if let Some(file) = step.stdout_file() {
        line = format!("{line} >{}", shell_quote(file));
    }
    if let Some(stdin) = step.stdin() {
        let text = step.stdin_shown().unwrap_or_else(|| stdin.resolve(values));
        line = format!(
            "{line} <<'EOF'\n{}\nEOF",
            text.replace(|c: char| c.is_control(), "?")
        );
    }
    marked(step, line)
}

/// A step the engine's API answers, as `--dry-run` prints it: its
/// requests (`engine API: GET /v1.41/version`).
pub fn render_api_step(
    step: &Step,
    call: &ApiCall,
    values: &BTreeMap<Slot, String>,
    version: &str,
) -> String {
    marked(step, call.render(values, version))
}

/// `# read-only:` in front of a step that changes nothing.
fn marked(step: &Step, line: String) -> String {
    if step.read_only() {
        format!("# read-only: {line}")
    } else {
        line
    }
}

/// One step of every variant, for the tests over the plan types. The
/// match below has no wildcard: a new variant does not compile until it is
/// added here (and `changes_state` says whether it writes).
#[cfg(test)]
pub(crate) fn one_of_each() -> Vec<Step> {
    let r = |s: &str| {
        Reference::new(
            &crate::model::reference::Registry::parse("h.io").unwrap(),
            "r",
            s,
        )
        .unwrap()
    };
    let id = Arg::slot(Slot::ImageId {
        reference: crate::model::reference::AnyRef::parse("h.io/r:1").unwrap(),
    });
    let endpoint = crate::oci::distribution::Endpoint::of_host("127.0.0.1:5000");
    let build = Build {
        builder: Builder::Classic,
        platform: None,
        dir: "/c".into(),
        dockerfile: "D".into(),
        iidfile: "/c/.iid".into(),
        name: r("1"),
        no_cache: false,
        pull: false,
        build_args: vec![],
        labels: vec![],
        pin: None,
    };
    let steps = vec![
        Step::GitState,
        Step::GitPrefix,
        Step::GitTracked,
        Step::ContextList {
            tree: "a".repeat(40),
        },
        Step::ContextBlobs {
            objects: vec!["b".repeat(40)],
            file: "/c/.blobs".into(),
        },
        Step::ContextLinks {
            objects: vec!["b".repeat(40)],
        },
        Step::ContextHash {
            paths: vec![b"/c/d/a".to_vec()],
        },
        Step::ContextAttrs {
            paths: vec![b"a".to_vec()],
        },
        Step::Save {
            image: id.clone(),
            file: "/u/i.tar".into(),
        },
        Step::Unpack {
            file: "/u/i.tar".into(),
            dir: "/u/x".into(),
        },
        Step::HashFiles {
            files: vec!["/u/x/a/layer.tar".into()],
        },
        Step::Compress {
            files: vec!["/u/x/a/layer.tar".into()],
        },
        Step::GitIsCommit { rev: "a".into() },
        Step::BuildxProbe,
        Step::EngineId,
        Step::EnginePlatform,
        Step::Pull {
            image: crate::model::reference::AnyRef::parse("b:1").unwrap(),
            platform: None,
            capture: true,
        },
        Step::Build(Box::new(build)),
        Step::Inspect {
            images: vec![id.clone()],
        },
        Step::History { image: id.clone() },
        Step::Probe {
            image: id.clone(),
            platform: None,
            dists: vec![],
        },
        Step::Test {
            image: id.clone(),
            platform: None,
            test: crate::project::catalog::Test {
                argv: vec!["true".into()],
                entrypoint: false,
                network: crate::project::catalog::TestNetwork::None,
            },
        },
        Step::Tag {
            source: id.clone(),
            target: r("2"),
        },
        Step::RemoveContainer { name: "c".into() },
        Step::Registry(Box::new(crate::oci::distribution::Request::manifest(
            &endpoint, "r", "1",
        ))),
        Step::Registry(Box::new(crate::oci::distribution::Request::manifest_put(
            &endpoint,
            "r",
            "1",
            "application/vnd.oci.image.manifest.v1+json",
            "{}".to_string(),
        ))),
        Step::CredentialHelper {
            helper: "pass".into(),
            server: "h".into(),
        },
    ];
    for s in &steps {
        match s {
            Step::GitState
            | Step::GitPrefix
            | Step::GitTracked
            | Step::ContextList { .. }
            | Step::ContextBlobs { .. }
            | Step::ContextLinks { .. }
            | Step::ContextHash { .. }
            | Step::ContextAttrs { .. }
            | Step::Save { .. }
            | Step::Unpack { .. }
            | Step::HashFiles { .. }
            | Step::Compress { .. }
            | Step::GitIsCommit { .. }
            | Step::BuildxProbe
            | Step::EngineId
            | Step::EnginePlatform
            | Step::Pull { .. }
            | Step::Build(_)
            | Step::Inspect { .. }
            | Step::History { .. }
            | Step::Probe { .. }
            | Step::Test { .. }
            | Step::Tag { .. }
            | Step::RemoveContainer { .. }
            | Step::Registry(_)
            | Step::CredentialHelper { .. } => {}
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What each step does to the world, by its program and verb: a step
    /// that changes a name, an image, a container or a manifest list (the
    /// docker CLI's own store included) is a write, which a dry run never
    /// runs; a test is not run either.
    #[test]
    fn every_step_that_changes_state_is_a_write() {
        let writes = [
            "git cat-file --batch --buffer",
            "docker save",
            "tar",
            "gzip",
            "docker pull",
            "docker build",
            "docker tag",
            "docker rm",
        ];
        let steps = one_of_each();
        for s in &steps {
            let argv: Vec<String> = s.argv().iter().map(Arg::shown).collect();
            let line = argv.join(" ");
            let write = writes
                .iter()
                .any(|w| line == *w || line.starts_with(&format!("{w} ")))
                || (line.starts_with("curl ")
                    && (line.contains(" --request POST ") || line.contains(" --request PUT ")));
            assert_eq!(s.changes_state(), write, "{line}");
            if write {
                assert!(!s.read_only(), "a dry run would run {line}");
            }
        }
        // Each write above, and the registry write.
        assert_eq!(
            steps.iter().filter(|s| s.changes_state()).count(),
            writes.len() + 1
        );
    }

    /// Before docker said which engine it talks to, only steps that ask
    /// no engine run, and the pull (a base pulled for a wrong platform is
    /// pulled again): every other docker command acts on an engine (the
    /// buildx probe and `docker info` are what asks docker).
    #[test]
    fn only_the_pull_of_the_engine_steps_runs_before_the_engine_is_confirmed() {
        for s in &one_of_each() {
            let argv: Vec<String> = s.argv().iter().map(Arg::shown).collect();
            let line = argv.join(" ");
            let acts_on_engine = line.starts_with("docker ")
                && !["docker pull ", "docker info ", "docker buildx version"]
                    .iter()
                    .any(|p| line.starts_with(p));
            assert_eq!(s.before_engine_confirmed(), !acts_on_engine, "{line}");
        }
    }

    #[test]
    fn quoting() {
        let cases = [
            ("docker", "docker"),
            ("COMMIT_HASH=abc", "COMMIT_HASH=abc"),
            ("ghcr.io/x/y:1.0-a", "ghcr.io/x/y:1.0-a"),
            ("", "''"),
            ("a b", "'a b'"),
            ("it's", r"'it'\''s'"),
            ("$HOME", "'$HOME'"),
            ("a;rm -rf /", "'a;rm -rf /'"),
            ("{{json .}}", "'{{json .}}'"),
            ("2026-11-24T12:05:09+01:00", "2026-11-24T12:05:09+01:00"),
            ("<x>", "'<x>'"),
            ("a\nb", r"$'a\nb'"),
            ("\x1b[31m'", r"$'\x1b[31m\''"),
        ];
        for (word, want) in cases {
            assert_eq!(shell_quote(word), want, "{word:?}");
        }
    }

    #[test]
    fn slots_resolve_or_show_placeholders() {
        let slot = Slot::BaseDigest {
            image: crate::model::reference::AnyRef::parse("b:1").unwrap(),
        };
        let arg = Arg::slot(slot.clone()).prefixed("BASE_IMG_DIGEST=");
        let mut values = BTreeMap::new();
        assert_eq!(
            arg.resolve(&values),
            "BASE_IMG_DIGEST=<BASE_IMG_DIGEST of b:1, known after the pull>"
        );
        values.insert(slot, "b@sha256:00".to_string());
        assert_eq!(arg.resolve(&values), "BASE_IMG_DIGEST=b@sha256:00");
    }

    /// `host/name:tag` or `name:tag`, as a typed reference.
    fn rf(s: &str) -> Reference {
        let (repo, tag) = s.rsplit_once(':').unwrap();
        let (reg, name) = repo.rsplit_once('/').unwrap_or(("", repo));
        Reference::new(
            &crate::model::reference::Registry::parse(reg).unwrap(),
            name,
            tag,
        )
        .unwrap()
    }

    fn line(step: &Step) -> String {
        render_step(step, &BTreeMap::new())
    }

    #[test]
    fn every_step_derives_its_argv_and_wait() {
        let id = Arg::slot(Slot::ImageId {
            reference: crate::model::reference::AnyRef::parse("r:1").unwrap(),
        });
        let cases: Vec<(Step, &str, Wait)> = vec![
            (
                Step::Save {
                    image: Arg::Lit("sha256:ab".into()),
                    file: "/u/i.tar".into(),
                },
                "docker save --output /u/i.tar -- sha256:ab",
                Wait::Transfer,
            ),
            (
                Step::Unpack {
                    file: "/u/i.tar".into(),
                    dir: "/u/x".into(),
                },
                "tar -x -f /u/i.tar -C /u/x",
                Wait::Transfer,
            ),
            (
                Step::HashFiles {
                    files: vec!["/u/x/a b".into(), "/u/x/c".into()],
                },
                "sha256sum -- '/u/x/a b' /u/x/c",
                Wait::Transfer,
            ),
            (
                Step::Compress {
                    files: vec!["/u/x/c".into()],
                },
                "gzip -n -- /u/x/c",
                Wait::Transfer,
            ),
            (
                Step::GitState,
                "# read-only: git status --porcelain=v2 --branch --untracked-files=normal",
                Wait::Lookup,
            ),
            (
                Step::GitIsCommit { rev: "ab".into() },
                "# read-only: git rev-parse --verify --quiet --end-of-options 'ab^{commit}'",
                Wait::Lookup,
            ),
            (
                Step::EngineId,
                "# read-only: docker info --format '{{json (print .ID \"/\" .Name)}}'",
                Wait::Lookup,
            ),
            (
                Step::Pull {
                    image: crate::model::reference::AnyRef::parse("b:1").unwrap(),
                    platform: None,
                    capture: true,
                },
                "docker pull -- b:1",
                Wait::Transfer,
            ),
            (
                Step::Pull {
                    image: crate::model::reference::AnyRef::parse("b:1").unwrap(),
                    platform: Some(Platform::parse("linux/arm64").unwrap()),
                    capture: true,
                },
                "docker pull --platform linux/arm64 -- b:1",
                Wait::Transfer,
            ),
            (
                Step::Inspect {
                    images: vec![Arg::Lit("r:1".into()), id.clone()],
                },
                "# read-only: docker image inspect -- r:1 '<image ID of r:1>'",
                Wait::Lookup,
            ),
            (
                Step::History { image: id.clone() },
                "# read-only: docker history --no-trunc --quiet -- '<image ID of r:1>'",
                Wait::Lookup,
            ),
            (
                Step::Tag {
                    source: id.clone(),
                    target: rf("r:latest"),
                },
                "docker tag -- '<image ID of r:1>' r:latest",
                Wait::Lookup,
            ),
            (
                Step::Registry(Box::new(crate::oci::distribution::Request::manifest(
                    &crate::oci::distribution::Endpoint::of_host("127.0.0.1:5000"),
                    "r",
                    "1",
                ))),
                "# read-only: curl -q --silent --show-error --globoff --location --max-redirs 5 --proto =http,https --proto-redir =https --max-filesize 67108864 --noproxy '*' --dump-header - --suppress-connect-headers --write-out '%{stderr}xtask-http: %{http_code} %{num_redirects}\\n' --header 'Accept: application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' http://127.0.0.1:5000/v2/r/manifests/1",
                Wait::Lookup,
            ),
            (
                Step::CredentialHelper {
                    helper: "pass".into(),
                    server: "ghcr.io".into(),
                },
                "# read-only: docker-credential-pass get <<'EOF'\nghcr.io\nEOF",
                Wait::Lookup,
            ),
        ];
        for (step, want, wait) in cases {
            assert_eq!(line(&step), want);
            assert_eq!(step.wait(), wait, "{want}");
        }
    }

    #[test]
    fn every_step_derives_its_environment_and_what_it_keeps() {
        let proxies = crate::oci::proxy::ProxyEnv::from_lookup(|n| {
            (n == "HTTPS_PROXY").then(|| "http://u:pw@proxy:3128".to_string())
        });
        let read = |host: &str| {
            let e = crate::oci::distribution::Endpoint::of_host(host);
            Step::Registry(Box::new(crate::oci::distribution::Request::manifest(
                &e, "r", "1",
            )))
        };
        // git: the workspace's repository, no lock, no fsmonitor hook.
        let git = Step::GitState.env(&proxies);
        assert!(git.contains(&EnvChange::Remove("GIT_DIR".into())));
        assert!(git.contains(&EnvChange::Set("GIT_OPTIONAL_LOCKS".into(), "0".into())));
        assert_eq!(git, Step::GitIsCommit { rev: "a".into() }.env(&proxies));
        // curl: every proxy variable removed; HTTPS_PROXY passed on as
        // https_proxy for a remote registry only.
        let remote = read("ghcr.io").env(&proxies);
        let local = read("127.0.0.1:5000").env(&proxies);
        for var in crate::oci::proxy::CURL_PROXY_VARS {
            assert!(remote.contains(&EnvChange::Remove(var.into())), "{var}");
            assert!(local.contains(&EnvChange::Remove(var.into())), "{var}");
        }
        assert!(remote.contains(&EnvChange::Set(
            "https_proxy".into(),
            "http://u:pw@proxy:3128".into()
        )));
        assert!(!local.iter().any(|c| matches!(c, EnvChange::Set(..))));
        // The proxy URL is in no argv.
        assert!(!read("ghcr.io")
            .argv()
            .iter()
            .any(|a| a.shown().contains("pw")));
        // docker takes no platform from the environment: each image's is
        // named in its step.
        let tag = Step::Tag {
            source: Arg::Lit("sha256:1".into()),
            target: rf("h.io/r:1"),
        };
        assert_eq!(
            tag.env(&proxies),
            [EnvChange::Remove("DOCKER_DEFAULT_PLATFORM".into())]
        );
        // git reads the objects as they are: no `git replace` ref, no
        // index or object folder of the environment's; paths quoted.
        for step in one_of_each().iter().filter(|s| s.argv()[0] == lit("git")) {
            let env = step.env(&proxies);
            assert_eq!(env, git, "{step:?}");
            for want in [
                EnvChange::Set("GIT_NO_REPLACE_OBJECTS".into(), "1".into()),
                EnvChange::Remove("GIT_INDEX_FILE".into()),
                EnvChange::Remove("GIT_REPLACE_REF_BASE".into()),
                EnvChange::Set("GIT_CONFIG_KEY_1".into(), "core.quotePath".into()),
            ] {
                assert!(env.contains(&want), "{want:?}");
            }
        }
        // What is kept: a read's output whole, up to its cap; a step that
        // changes something shows its output and keeps a tail.
        let cases = [
            (read("ghcr.io"), Capture::Bounded(65 * MIB)),
            (Step::GitState, Capture::Bounded(64 * MIB)),
            (Step::Inspect { images: vec![] }, Capture::Bounded(16 * MIB)),
            (Step::BuildxProbe, Capture::Bounded(4 * MIB)),
            (tag, Capture::Tail(MIB)),
        ];
        for (step, want) in cases {
            assert_eq!(step.capture(), want, "{step:?}");
        }
    }

    #[test]
    fn a_probe_runs_only_python3_without_network() {
        let step = Step::Probe {
            image: Arg::Lit("sha256:ab".into()),
            platform: None,
            dists: vec!["torch".into(), "itwinai".into()],
        };
        let argv: Vec<String> = step
            .argv()
            .iter()
            .map(|a| a.resolve(&BTreeMap::new()))
            .collect();
        assert_eq!(
            argv[..14],
            [
                "docker",
                "run",
                "--rm",
                "--name",
                "<container name>",
                "--network",
                "none",
                "--pull",
                "never",
                "--entrypoint",
                "python3",
                "--",
                "sha256:ab",
                "-c"
            ]
        );
        assert_eq!(argv[14], PROBE_SCRIPT);
        assert_eq!(argv[15..], ["torch", "itwinai"]);
        assert!(!PROBE_SCRIPT.contains('\n'));
        assert!(step.read_only());
    }

    /// The test's program is the container's process (`--entrypoint=`,
    /// one word, so no value reads as an option), unless it runs through
    /// the image's entrypoint; no network unless the flavour asks.
    #[test]
    fn a_test_runs_as_the_flavour_says() {
        use crate::project::catalog::{Test, TestNetwork};
        let argv = vec!["pytest".to_string(), "-x".into(), "--".into(), "-k".into()];
        let cases = [
            (
                false,
                TestNetwork::None,
                "--network none --pull never --entrypoint=pytest -- sha256:ab -x -- -k",
            ),
            (
                true,
                TestNetwork::None,
                "--network none --pull never -- sha256:ab pytest -x -- -k",
            ),
            (
                false,
                TestNetwork::Default,
                "--pull never --entrypoint=pytest -- sha256:ab -x -- -k",
            ),
            (
                true,
                TestNetwork::Default,
                "--pull never -- sha256:ab pytest -x -- -k",
            ),
        ];
        for (entrypoint, network, want) in cases {
            let step = Step::Test {
                image: Arg::Lit("sha256:ab".into()),
                platform: None,
                test: Test {
                    argv: argv.clone(),
                    entrypoint,
                    network,
                },
            };
            assert_eq!(
                line(&step),
                format!("docker run --rm --name '<container name>' {want}"),
                "{entrypoint} {network:?}"
            );
        }
    }

    #[test]
    fn exactly_the_steps_that_run_a_container_name_it() {
        let steps = [
            Step::Probe {
                image: Arg::Lit("sha256:ab".into()),
                platform: Some(Platform::parse("linux/arm64").unwrap()),
                dists: vec![],
            },
            Step::Test {
                image: Arg::Lit("sha256:ab".into()),
                platform: None,
                test: crate::project::catalog::Test {
                    argv: vec!["true".into()],
                    entrypoint: false,
                    network: crate::project::catalog::TestNetwork::None,
                },
            },
            Step::GitState,
            Step::BuildxProbe,
            Step::Inspect { images: vec![] },
        ];
        for step in steps {
            let named = step.argv().contains(&Arg::slot(Slot::Container));
            assert_eq!(named, step.runs_container(), "{step:?}");
        }
    }
}
