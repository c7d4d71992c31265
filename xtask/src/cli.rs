//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Build, tag and publish the project's container images by its conventions",
    version
)]
pub struct Cli {
    /// Project to work on (default: the nearest directory, from the current
    /// one upward, that holds env-files/images.toml)
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Container images: list, build, test, push, tag, audit
    #[command(subcommand)]
    Image(ImageCommand),
    /// Release HEAD's version: promote each flavour's tested development
    /// image in the registry and move its alias forward; resumable
    #[command(after_help = RELEASE_HELP)]
    Release(ReleaseArgs),
    /// The project version, [project].version of pyproject.toml
    Version(VersionArgs),
    /// Check the catalog, pyproject.toml, every Dockerfile and the git
    /// state, listing every problem; runs no docker command
    #[command(after_help = CHECK_HELP)]
    Check,
}

const CHECK_HELP: &str = "Examples:\n  cargo xtask check\n  cargo xtask --root ../itwinai check\n\nExit status: 0 no problem (warnings may be printed), 2 problems (each on its own line, with file and line).";

/// The environment every docker-running command reads.
macro_rules! environment {
    () => {
        "Environment:\n  DOCKER_HOST, DOCKER_CONTEXT  the engine to use, as docker resolves them; when it is the one on\n                               DOCKER_HOST's unix socket (or the default one), that socket\n                               answers the inspect, history, tag and platform itself\n  XTASK_LOOKUP_TIMEOUT_SECS    limit of an inspect, registry read or probe (default 120)\n  XTASK_TRANSFER_TIMEOUT_SECS  limit of a pull or push (default 3600)\n  XDG_CACHE_HOME               where checks and test passes are cached (absolute)"
    };
}

const LIST_HELP: &str =
    "Examples:\n  cargo xtask image list\n  cargo xtask image list torch-skinny --json";
const BUILD_HELP: &str = concat!(
    "Examples:\n  cargo xtask image build torch-skinny\n  cargo xtask image build --all --dev\n  cargo xtask image build torch-skinny --platform linux/arm64 --dev --dry-run\n\n",
    environment!(),
    "\n  SOURCE_DATE_EPOCH            CREATION_DATE from these seconds (UTC), for reproducible labels"
);
const TEST_HELP: &str = concat!(
    "Examples:\n  cargo xtask image test torch-skinny\n  cargo xtask image test --all --dev --json\n\n",
    environment!()
);
const PUSH_HELP: &str = concat!(
    "Examples:\n  cargo xtask image push torch-skinny --dry-run\n  cargo xtask image push --all --latest\n  cargo xtask image push torch-skinny --dev\n\n",
    environment!()
);
const AUDIT_HELP: &str = concat!(
    "Examples:\n  cargo xtask image audit\n  cargo xtask image audit --json\n\nExit status: 0 every *-latest tag is declared and current; 1 a finding (one line each) or a failed registry read.\n\n",
    "Environment:\n  DOCKER_CONFIG                where docker keeps registry credentials (default ~/.docker)\n  XTASK_LOOKUP_TIMEOUT_SECS    limit of each registry read (default 120)"
);
const TAG_HELP: &str = concat!(
    "Examples:\n  cargo xtask image tag torch-slim --latest\n  cargo xtask image tag torch-skinny --from ghcr.io/intertwin-eu/itwinai-dev:0.4.2-skinny-torch2.6-noble-<HEAD>\n\n",
    environment!()
);

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Show every flavour and the references it builds
    #[command(after_help = LIST_HELP)]
    List(ListArgs),
    /// Build flavours with provenance build args, then check the result
    #[command(after_help = BUILD_HELP)]
    Build(BuildArgs),
    /// Run each flavour's test inside its image; a pass gates push and promotion
    #[command(after_help = TEST_HELP)]
    Test(TestArgs),
    /// Publish what `image build` made, never overwriting a release
    #[command(after_help = PUSH_HELP)]
    Push(PushArgs),
    /// Add the declared -latest alias, or promote an existing image without rebuilding
    #[command(after_help = TAG_HELP)]
    Tag(TagArgs),
    /// List the production repository's *-latest tags (what CVMFS unpacks) and whether each is declared and current
    #[command(after_help = AUDIT_HELP)]
    Audit(AuditArgs),
}

const RELEASE_HELP: &str = concat!(
    "Examples:\n  cargo xtask release --all --dry-run\n  cargo xtask release torch-skinny --json\n\nEach flavour's development image of HEAD (<development>:<release tag>-<HEAD>) must be in the registry with its test evidence; nothing is built, pulled or forced. Run it again after any failure: it writes only what is missing.\n\nExit status: 0 every flavour published or already there; 1 a flavour not released (a row says why); 2 invalid input.\n\n",
    "Environment:\n  DOCKER_CONFIG                where docker keeps registry credentials (default ~/.docker)\n  XTASK_LOOKUP_TIMEOUT_SECS    limit of each registry request (default 120)\n  XTASK_REGISTRY_RETRIES       retries of a failed registry request (0-10, default 4)"
);

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// Flavours from env-files/images.toml
    #[arg(value_name = "FLAVOUR")]
    pub flavours: Vec<String>,

    /// Every flavour in the catalog
    #[arg(long, conflicts_with = "flavours")]
    pub all: bool,

    /// Registry instead of the catalog's (host[:port][/namespace])
    #[arg(long, value_name = "REG")]
    pub registry: Option<String>,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Registry to audit instead of the catalog's (host[:port][/namespace])
    #[arg(long, value_name = "REG")]
    pub registry: Option<String>,

    /// Print one JSON document on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    #[command(flatten)]
    pub select: Selection,

    /// Also publish each flavour's declared -latest alias, after every versioned push succeeded
    #[arg(long)]
    pub latest: bool,

    /// Overwrite a release tag with different content; move an alias backwards or to a pre-release
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    #[command(flatten)]
    pub select: Selection,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct TagArgs {
    /// Flavour from env-files/images.toml
    #[arg(value_name = "FLAVOUR")]
    pub flavour: String,

    /// Add the flavour's declared -latest alias to its local production image
    #[arg(long, conflicts_with = "from")]
    pub latest: bool,

    /// Promote: make the flavour's reference from this existing image, keeping its layers
    #[arg(long, value_name = "REF")]
    pub from: Option<String>,

    #[command(flatten)]
    pub naming: Naming,

    /// Move the alias backwards or to a pre-release
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct VersionArgs {
    #[command(subcommand)]
    pub action: Option<VersionAction>,

    /// Print the change as a diff and write nothing
    #[arg(long, global = true)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum VersionAction {
    /// Print the version (the default)
    Show,
    /// Set the version (PEP 440 X.Y.Z release, optionally a/b/rc/post/dev)
    Set {
        #[arg(value_name = "VERSION")]
        version: String,
    },
    /// Bump a part; on a pre-release, finish it (see docs/commands.md)
    Bump {
        #[arg(value_enum)]
        part: BumpPart,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum BumpPart {
    Major,
    Minor,
    Patch,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Flavours to show (default: all)
    #[arg(value_name = "FLAVOUR")]
    pub flavours: Vec<String>,

    /// Print one JSON document on stdout
    #[arg(long)]
    pub json: bool,

    /// Also read the registry: whether each release tag and alias is
    /// published, and at which digest
    #[arg(long)]
    pub remote: bool,
}

/// How a command that runs a plan reports it: `--dry-run` and `--json`,
/// the same in build, test, push and tag.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Print the commands, one per line, and run or change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Print one JSON document on stdout (human output and the tests' output go to stderr)
    #[arg(long)]
    pub json: bool,
}

/// Which flavours, under which name.
#[derive(Debug, Args)]
pub struct Selection {
    /// Flavours from env-files/images.toml
    #[arg(value_name = "FLAVOUR")]
    pub flavours: Vec<String>,

    /// Every flavour in the catalog
    #[arg(long, conflicts_with = "flavours")]
    pub all: bool,

    #[command(flatten)]
    pub naming: Naming,
}

/// Which reference a flavour goes under.
#[derive(Debug, Args)]
pub struct Naming {
    /// Development image (<development>:<production tag>-<HEAD's first dev-hash-length hex digits>)
    #[arg(long)]
    pub dev: bool,

    /// Development tag to use instead of the default (needs --dev)
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,

    /// Registry instead of the catalog's ("" for local names)
    #[arg(long, value_name = "REG")]
    pub registry: Option<String>,

    /// Only these of the flavour's declared platforms (comma-separated), e.g. linux/arm64
    #[arg(long, value_name = "LIST")]
    pub platform: Option<String>,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub select: Selection,

    /// Base image instead of the catalog's or the Dockerfile's (sets BASE_IMG_NAME)
    #[arg(long, value_name = "REF")]
    pub base_image: Option<String>,

    /// buildx builder instance, e.g. a remote or Kubernetes BuildKit (needs buildx)
    #[arg(long, value_name = "NAME")]
    pub builder: Option<String>,

    /// Do not use the build cache
    #[arg(long)]
    pub no_cache: bool,

    /// Always pull newer versions of the base during the build
    #[arg(long)]
    pub pull: bool,

    /// Build a production image from a tree with uncommitted changes
    #[arg(long)]
    pub allow_dirty: bool,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// Each `--help` has examples that parse as written, and names the
    /// environment it reads.
    #[test]
    fn help_examples_parse_and_name_the_environment() {
        // Each help's examples, two or more, parse as written.
        let examples_parse = |help: &str| {
            let examples: Vec<&str> = help
                .lines()
                .filter_map(|l| l.trim().strip_prefix("cargo xtask "))
                .collect();
            assert!(examples.len() >= 2, "{help}");
            for e in examples {
                let argv = std::iter::once("xtask").chain(e.split_whitespace());
                assert!(Cli::try_parse_from(argv).is_ok(), "{e}");
            }
        };
        for help in [LIST_HELP, BUILD_HELP, TEST_HELP, PUSH_HELP, TAG_HELP] {
            examples_parse(help);
            if help != LIST_HELP {
                for var in [
                    "DOCKER_HOST",
                    "DOCKER_CONTEXT",
                    "XTASK_LOOKUP_TIMEOUT_SECS",
                    "XTASK_TRANSFER_TIMEOUT_SECS",
                ] {
                    assert!(help.contains(var), "{var}: {help}");
                }
            }
        }
        assert!(BUILD_HELP.contains("SOURCE_DATE_EPOCH"));
        examples_parse(AUDIT_HELP);
        examples_parse(CHECK_HELP);
        assert!(
            AUDIT_HELP.contains("DOCKER_CONFIG")
                && AUDIT_HELP.contains("XTASK_LOOKUP_TIMEOUT_SECS")
        );
    }
}
