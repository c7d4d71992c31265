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
    /// Workspace to work on (default: the checkout that holds this xtask)
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Container images: list, build, push, tag
    #[command(subcommand)]
    Image(ImageCommand),
    /// The project version, [project].version of pyproject.toml
    Version(VersionArgs),
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Show every flavour and the references it builds
    List(ListArgs),
    /// Build flavours with provenance build args, then check the result
    Build(BuildArgs),
    /// Run each flavour's test inside its image; a pass gates push and promotion
    Test(TestArgs),
    /// Publish what `image build` made, never overwriting a release
    Push(PushArgs),
    /// Add the declared -latest alias, or promote an existing image without rebuilding
    Tag(TagArgs),
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

    /// Print the commands, one per line, and change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Print one JSON document on stdout (human output goes to stderr)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    #[command(flatten)]
    pub select: Selection,

    /// Print the commands, one per line, and run nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Print one JSON document on stdout (the tests' output goes to stderr)
    #[arg(long)]
    pub json: bool,
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

    /// Print the commands, one per line, and change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Print one JSON document on stdout (human output goes to stderr)
    #[arg(long)]
    pub json: bool,
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
    /// Bump a part; on a pre-release, finish it (see README)
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
    /// Development image (<development>:<production tag>-<12 hex of HEAD>)
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

    /// Print the commands, one per line, and change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Print one JSON document on stdout (human output goes to stderr)
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
