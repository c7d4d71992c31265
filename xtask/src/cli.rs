//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Build, tag and publish the project's container images by its conventions",
    disable_version_flag = true
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
    /// Container images: list, build
    #[command(subcommand)]
    Image(ImageCommand),
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Show every flavour and the references it builds
    List(ListArgs),
    /// Build flavours with provenance build args, then check the result
    Build(BuildArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
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

    /// Development image (<development>:<production tag>-<12 hex of HEAD>)
    #[arg(long)]
    pub dev: bool,

    /// Development tag to use instead of the default (needs --dev)
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,

    /// Registry instead of the catalog's ("" for local names)
    #[arg(long, value_name = "REG")]
    pub registry: Option<String>,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub select: Selection,

    /// Base image instead of the catalog's or the Dockerfile's (sets BASE_IMG_NAME)
    #[arg(long, value_name = "REF")]
    pub base_image: Option<String>,

    /// Target platform, e.g. linux/arm64 (needs buildx)
    #[arg(long, value_name = "P")]
    pub platform: Option<String>,

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
