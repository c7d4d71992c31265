//! The build context of a run: the commit's files (kept per commit in the
//! tool's cache), or a dirty tree's tracked files (a fresh copy).

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::engine::executor::Executor;
use crate::model::git::GitState;
use crate::plan::step::Step;
use crate::project::context;
use crate::support::error::invalid;

/// The folder docker reads as the context, and whether it goes after the
/// build (a dirty build's copy of the working tree).
pub struct BuildContext {
    pub dir: PathBuf,
    temporary: bool,
}

impl Drop for BuildContext {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The context of a build from `tree`: the commit's files as a clean
/// checkout holds them (kept per commit), or, for a tree with changes, its
/// tracked files as they are now (a fresh copy). A dry run writes nothing:
/// it shows the steps and names the folder.
pub fn build_context(exec: &mut Executor, root: &Path, tree: &GitState) -> Result<BuildContext> {
    let cache = crate::support::cache::dir().ok_or_else(|| {
        invalid("cannot name a cache directory for the build context: set HOME or an absolute XDG_CACHE_HOME")
    })?;
    let io = |what: &str, dir: &Path, e: std::io::Error| {
        anyhow::anyhow!("cannot {what} the build context {}: {e}", dir.display())
    };
    if !exec.dry_run() {
        std::fs::create_dir_all(context::root(&cache))
            .map_err(|e| io("make the folder of", &context::root(&cache), e))?;
    }
    if tree.dirty() {
        let dir = context::fresh(&cache, "dirty");
        let listed = exec.must(&Step::GitTracked)?.unwrap_or_default();
        let files = context::parse_tracked(&listed).map_err(anyhow::Error::msg)?;
        let made = BuildContext {
            dir: dir.clone(),
            temporary: true,
        };
        if !exec.dry_run() {
            context::copy_tracked(root, &files, &dir).map_err(|e| io("copy", &dir, e))?;
        }
        return Ok(made);
    }
    let dir = context::of_commit(&cache, &tree.head);
    if dir.is_dir() {
        // Used now: kept by the pruning below.
        let _ =
            std::fs::File::open(&dir).and_then(|f| f.set_modified(std::time::SystemTime::now()));
    } else {
        let new = context::fresh(&cache, "new");
        let index = context::fresh(&cache, "index");
        let shown = |p: &Path| p.to_string_lossy().into_owned();
        let steps = [
            Step::ContextIndex {
                commit: tree.head.clone(),
                index: shown(&index),
            },
            Step::ContextCheckout {
                index: shown(&index),
                dir: shown(&new),
            },
        ];
        let written = steps.iter().try_for_each(|s| exec.must(s).map(|_| ()));
        let _ = std::fs::remove_file(&index);
        if let Err(e) = written {
            let _ = std::fs::remove_dir_all(&new);
            return Err(e);
        }
        if !exec.dry_run() && std::fs::rename(&new, &dir).is_err() {
            // Another build of the same commit made it meanwhile.
            let _ = std::fs::remove_dir_all(&new);
        }
    }
    context::prune(&cache, CONTEXTS_KEPT);
    Ok(BuildContext {
        dir,
        temporary: false,
    })
}

/// How many commits' contexts are kept (the most recently used).
const CONTEXTS_KEPT: usize = 3;
