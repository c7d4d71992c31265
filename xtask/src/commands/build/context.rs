//! The build context of a run: the commit's files under the project's
//! folder (kept per commit in the tool's cache, verified against the
//! commit each time it is used), or a dirty tree's tracked files (a fresh
//! copy). Then the files the tool read from the working tree are held
//! against it: what docker builds is what the tool checked.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Result;

use crate::engine::executor::Executor;
use crate::model::git::GitState;
use crate::plan::step::Step;
use crate::project::catalog::{self, Flavour};
use crate::project::context::{self, capped, Entry, Kind, Writer};
use crate::project::pyproject;
use crate::project::workspace::Project;
use crate::support::error::invalid;
use crate::support::output::note;

/// The folder docker reads as the context, held for the build.
pub struct BuildContext {
    pub dir: PathBuf,
    /// Removed after the build (a dirty build's copy, or a commit's
    /// context that another build's kept one could not make way for).
    temporary: bool,
    /// Whether it holds the files now (a dry run writes none).
    ready: bool,
    /// A shared lock on `dir` until the build is done: no prune removes it.
    _lock: Option<File>,
}

impl Drop for BuildContext {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// How many commits' contexts are kept (the most recently used).
const CONTEXTS_KEPT: usize = 3;

fn io_error(what: &str, dir: &Path, e: std::io::Error) -> anyhow::Error {
    anyhow::anyhow!("cannot {what} the build context {}: {e}", dir.display())
}

/// The context of a build of `flavours` from `tree`: the commit's files as
/// git stores them (kept per commit, verified), or, for a tree with
/// changes, its tracked files as they are now (a fresh copy). A dry run
/// writes nothing: it verifies a kept context, or shows the steps that
/// would write one.
pub fn build_context(
    exec: &mut Executor,
    root: &Path,
    tree: &GitState,
    project: &Project,
    flavours: &[&Flavour],
) -> Result<BuildContext> {
    let cache = crate::support::cache::dir().ok_or_else(|| {
        invalid("cannot name a cache directory for the build context: set HOME or an absolute XDG_CACHE_HOME")
    })?;
    let prefix = project_prefix(exec)?;
    // The index as read with the tree's state, not listed again.
    let listed = match &tree.index {
        Some(listed) => listed.clone(),
        None => exec.must(&Step::GitTracked)?.unwrap_or_default(),
    };
    let index = context::parse_index(&listed).map_err(anyhow::Error::msg)?;
    if !exec.dry_run() {
        let folder = context::root(&cache);
        std::fs::create_dir_all(&folder).map_err(|e| io_error("make the folder of", &folder, e))?;
        // Docker writes each image's ID there only once it is built: a
        // folder it cannot write in would fail a build only at its end.
        writable(&context::fresh(&cache, "iid"))?;
    }
    let (made, files) = if tree.dirty() {
        check_tracked(project, flavours, &index, false)?;
        (dirty_context(exec, root, &cache, &index)?, index)
    } else {
        let listing = list_commit(exec, &tree.head, &prefix)?;
        check_tracked(project, flavours, &listing, true)?;
        // git reads the filter attributes while the context is verified.
        let attrs = filter_attrs(&listing);
        if let Some(step) = &attrs {
            exec.prefetch(step.clone());
        }
        let key = context::key(&tree.head, &prefix);
        let made = clean_context(exec, &cache, &key, &listing)?;
        note_filters(exec, attrs)?;
        (made, listing)
    };
    note_submodules(&files);
    check_texts(project, flavours, &made, !tree.dirty())?;
    if !exec.dry_run() {
        context::prune(&cache, CONTEXTS_KEPT, SystemTime::now());
    }
    Ok(made)
}

impl BuildContext {
    /// A new file beside the context, in the contexts folder (which holds
    /// every context, kept or fresh, and was proved writable), for docker
    /// to write a built image's ID into (`--iidfile`); a stopped run's is
    /// pruned as a leftover.
    pub fn iid_file(&self) -> String {
        let folder = self.dir.parent().unwrap_or(&self.dir);
        context::fresh_in(folder, "iid")
            .to_string_lossy()
            .into_owned()
    }
}

/// Whether a new file can be made at `file` (made, then removed).
fn writable(file: &Path) -> Result<()> {
    let made = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(file);
    if made.is_ok() {
        let _ = std::fs::remove_file(file);
    }
    made.map(drop).map_err(|e| {
        let folder = file.parent().unwrap_or(file);
        anyhow::anyhow!(
            "cannot make {}, where docker build is to write the new image's ID: {e}; make {} writable (or set XDG_CACHE_HOME to a folder that is) and build again",
            file.display(),
            folder.display()
        )
    })
}

/// Where the project is in its repository: `` at its top, else
/// `folder/` (a project in a folder of a larger repository).
fn project_prefix(exec: &mut Executor) -> Result<String> {
    let printed = exec.must(&Step::GitPrefix)?.unwrap_or_default();
    let prefix = printed.trim_end_matches('\n');
    if prefix.contains(['\u{fffd}', '\n']) {
        return Err(invalid(format!(
            "the project's folder in its git repository, {prefix:?}, has a name that is not UTF-8; rename it"
        )));
    }
    Ok(prefix.to_string())
}

/// The files of `head` under the project's folder, as git stores them.
fn list_commit(exec: &mut Executor, head: &str, prefix: &str) -> Result<Vec<Entry>> {
    let tree = match prefix.trim_end_matches('/') {
        "" => head.to_string(),
        folder => format!("{head}:{folder}"),
    };
    let printed = exec.must(&Step::ContextList { tree })?.unwrap_or_default();
    context::parse_tree(&printed).map_err(anyhow::Error::msg)
}

/// A clean build's context: the kept one when it holds exactly the
/// commit's files, else written (again) from the commit.
fn clean_context(
    exec: &mut Executor,
    cache: &Path,
    key: &str,
    listing: &[Entry],
) -> Result<BuildContext> {
    let dir = context::of_key(cache, key);
    if exec.dry_run() {
        let ready = dir.is_dir() && verify(exec, &dir, listing)?.is_empty();
        if !ready {
            if dir.is_dir() {
                note(&format!(
                    "the kept build context {} is not the commit's: a build writes it again",
                    dir.display()
                ));
            }
            let shown = context::fresh(cache, "new");
            write_from_blobs(exec, cache, listing.iter().collect(), &shown)?;
        }
        return Ok(BuildContext {
            dir,
            temporary: false,
            ready,
            _lock: None,
        });
    }
    let kept = context::open_locked(&dir).map_err(|e| io_error("open", &dir, e))?;
    let replace = match kept {
        None => false,
        Some(lock) => {
            let differences = verify(exec, &dir, listing)?;
            if differences.is_empty() {
                // Used now: kept by the pruning.
                let _ = lock.set_modified(SystemTime::now());
                return Ok(BuildContext {
                    dir,
                    temporary: false,
                    ready: true,
                    _lock: Some(lock),
                });
            }
            note(&format!(
                "the kept build context {} is not the commit's ({}): it is written again",
                dir.display(),
                capped(&differences)
            ));
            true
        }
    };
    let (new, lock) = produce(exec, cache, listing)?;
    Ok(install(cache, new, lock, &dir, replace))
}

/// The commit's files written into a new folder, locked, and verified.
fn produce(exec: &mut Executor, cache: &Path, listing: &[Entry]) -> Result<(PathBuf, File)> {
    let new = context::fresh(cache, "new");
    let lock = context::make_locked(&new).map_err(|e| io_error("make", &new, e))?;
    let written = write_from_blobs(exec, cache, listing.iter().collect(), &new).and_then(|()| {
        let differences = verify(exec, &new, listing)?;
        anyhow::ensure!(
            differences.is_empty(),
            "the build context {} differs from the commit it was just written from ({}); is another program writing under {}?",
            new.display(),
            capped(&differences),
            cache.display()
        );
        Ok(())
    });
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&new);
        return Err(e);
    }
    Ok((new, lock))
}

/// Put the written context `new` where it is kept (`dir`), replacing the
/// one there when it is to be replaced and no build holds it; else `new`
/// serves this build alone and goes after it.
fn install(cache: &Path, new: PathBuf, lock: File, dir: &Path, replace: bool) -> BuildContext {
    if replace {
        if let Ok(Some(old_lock)) = context::take_over(dir) {
            let old = context::fresh(cache, "old");
            if std::fs::rename(dir, &old).is_ok() {
                let _ = std::fs::remove_dir_all(&old);
            }
            drop(old_lock);
        }
    }
    if std::fs::rename(&new, dir).is_ok() {
        return BuildContext {
            dir: dir.to_path_buf(),
            temporary: false,
            ready: true,
            _lock: Some(lock),
        };
    }
    if replace {
        note(&format!(
            "another build is using {}: this build uses a copy of its own, {}, removed after it",
            dir.display(),
            new.display()
        ));
    }
    BuildContext {
        dir: new,
        temporary: true,
        ready: true,
        _lock: Some(lock),
    }
}

/// Write `entries` into `dest` from their blobs' raw bytes (`git cat-file
/// --batch` into a file of the cache, read back, removed). A dry run only
/// shows the step.
fn write_from_blobs(
    exec: &mut Executor,
    cache: &Path,
    entries: Vec<&Entry>,
    dest: &Path,
) -> Result<()> {
    let objects: Vec<String> = entries
        .iter()
        .filter(|e| e.kind != Kind::Submodule)
        .map(|e| e.oid.clone())
        .collect();
    let file = context::fresh(cache, "blobs")
        .to_string_lossy()
        .into_owned();
    let ran = exec.must(&Step::ContextBlobs {
        objects,
        file: file.clone(),
    });
    let written = ran.and_then(|out| {
        if out.is_none() {
            return Ok(());
        }
        let blobs = File::open(&file).map_err(|e| anyhow::anyhow!("cannot read {file}: {e}"))?;
        let mut w = Writer::new(dest);
        context::write_blobs(
            &mut BufReader::with_capacity(1 << 20, blobs),
            &entries,
            &mut w,
        )
        .map_err(|e| e.context(format!("cannot write the build context {}", dest.display())))
    });
    let _ = std::fs::remove_file(&file);
    written
}

/// Whether the folder `dir` holds exactly `listing`'s files: what differs
/// (nothing: it does). Reads only.
fn verify(exec: &mut Executor, dir: &Path, listing: &[Entry]) -> Result<Vec<String>> {
    let s = context::survey(dir, listing).map_err(|e| io_error("read", dir, e))?;
    let mut differences = s.differences;
    if !s.files.is_empty() {
        let paths = s.files.iter().map(|(p, _)| p.clone()).collect();
        let printed = exec.must(&Step::ContextHash { paths })?.unwrap_or_default();
        differences
            .extend(context::compare_hashes(&s.files, dir, &printed).map_err(anyhow::Error::msg)?);
    }
    if !s.links.is_empty() {
        let objects = s.links.iter().map(|l| l.1.clone()).collect();
        let printed = exec
            .must(&Step::ContextLinks { objects })?
            .unwrap_or_default();
        differences.extend(context::compare_links(&s.links, &printed).map_err(anyhow::Error::msg)?);
    }
    Ok(differences)
}

/// A dirty build's context: the working tree's tracked files as they are;
/// a file flagged skip-worktree that the working tree does not hold (a
/// sparse checkout's files outside it) as the index holds it.
fn dirty_context(
    exec: &mut Executor,
    root: &Path,
    cache: &Path,
    index: &[Entry],
) -> Result<BuildContext> {
    let dir = context::fresh(cache, "dirty");
    let absent = |e: &Entry| {
        std::fs::symlink_metadata(root.join(e.rel()))
            .is_err_and(|err| err.kind() == std::io::ErrorKind::NotFound)
    };
    let (flagged, plain): (Vec<&Entry>, Vec<&Entry>) =
        index.iter().partition(|e| e.flagged && absent(e));
    note_flagged(&flagged);
    if exec.dry_run() {
        if !flagged.is_empty() {
            write_from_blobs(exec, cache, flagged, &dir)?;
        }
        return Ok(BuildContext {
            dir,
            temporary: true,
            ready: false,
            _lock: None,
        });
    }
    let lock = context::make_locked(&dir).map_err(|e| io_error("make", &dir, e))?;
    let made = BuildContext {
        dir: dir.clone(),
        temporary: true,
        ready: true,
        _lock: Some(lock),
    };
    context::copy_tracked(root, &plain, &mut Writer::new(&dir))
        .map_err(|e| io_error("copy", &dir, e))?;
    if !flagged.is_empty() {
        write_from_blobs(exec, cache, flagged, &dir)?;
    }
    Ok(made)
}

/// The files the tool reads and docker builds from (Dockerfiles,
/// pyproject.toml, the catalog), as `files` (the commit's, or the index's)
/// lists them: for a clean build each must be tracked (else a file in no
/// commit would shape it), and none may be a symbolic link (a link, to an
/// ignored file or out of the repository, would have both read a file in
/// no commit, and the context's own copy of the link would agree).
fn check_tracked(
    project: &Project,
    flavours: &[&Flavour],
    files: &[Entry],
    clean: bool,
) -> Result<()> {
    for (file, _) in project.texts(flavours) {
        let path = context::normalized(file);
        let what = match files.iter().find(|e| e.path == path).map(|e| &e.kind) {
            None if clean => return Err(invalid(format!(
                "{file} is not tracked by git (it is ignored or untracked), so a clean build would be shaped by a file that is in no commit; `git add {file}` (with -f if it is ignored), commit it and build again"
            ))),
            None | Some(Kind::File { .. }) => continue,
            Some(Kind::Link) => "a symbolic link",
            Some(Kind::Submodule) => "a submodule",
        };
        return Err(invalid(format!(
            "{file} is {what} in git; the tool reads the file itself, never through a link (which may point at a file no commit holds, even outside the repository); commit the file itself in its place (a copy of what it points at) and build again"
        )));
    }
    Ok(())
}

/// What docker builds is what the tool read and checked: each Dockerfile
/// in the context has the bytes the tool read, and for a clean build so do
/// pyproject.toml and the catalog (the commit's, as the context holds them).
fn check_texts(
    project: &Project,
    flavours: &[&Flavour],
    made: &BuildContext,
    clean: bool,
) -> Result<()> {
    if !made.ready {
        return Ok(());
    }
    for (file, text) in project.texts(flavours) {
        let dockerfile = file != pyproject::FILE && file != catalog::FILE;
        if !clean && !dockerfile {
            continue;
        }
        let why = match std::fs::read(made.dir.join(file)) {
            Ok(bytes) if bytes == text.as_bytes() => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => format!(
                "{file} is not tracked by git, so it is not in the build context and docker could not build the Dockerfile the tool checked; `git add {file}` and build again"
            ),
            _ if clean => format!(
                "{file} of the working tree, which the tool read and checked, is not the commit's bytes though git status shows no change to it (a clean/smudge filter, an end-of-line conversion or a `git replace` makes git see them as equal), so the build would not be what was checked; remove the filter or conversion for it (.gitattributes, .git/info/attributes, git config), check it out again and build again"
            ),
            _ => format!(
                "{file} in the build context is not the file the tool read and checked (it changed while the context was copied), so docker would build another Dockerfile; build again from a quiet tree"
            ),
        };
        return Err(invalid(why));
    }
    Ok(())
}

/// One line about the flagged files the working tree does not hold,
/// which a dirty build takes as the index holds them.
fn note_flagged(flagged: &[&Entry]) {
    if flagged.is_empty() {
        return;
    }
    let shown: Vec<String> = flagged.iter().map(|e| e.shown()).collect();
    let (n, s) = (shown.len(), if shown.len() == 1 { "" } else { "s" });
    note(&format!(
        "{n} tracked file{s} flagged skip-worktree (as a sparse checkout flags the files outside it) missing from the working tree ({}): the build context holds {} as the index does",
        capped(&shown),
        if n == 1 { "it" } else { "them" }
    ));
}

/// One line about submodules, which are empty folders in the context.
fn note_submodules(files: &[Entry]) {
    let subs: Vec<String> = files
        .iter()
        .filter(|e| e.kind == Kind::Submodule)
        .map(Entry::shown)
        .collect();
    if !subs.is_empty() {
        note(&format!(
            "the build context holds the submodule{} {} as empty folder{}: a commit records a submodule's commit, not its files",
            if subs.len() == 1 { "" } else { "s" },
            capped(&subs),
            if subs.len() == 1 { "" } else { "s" }
        ));
    }
}

/// The read of git's `filter` attribute of the commit's files (none for
/// a commit without files).
fn filter_attrs(listing: &[Entry]) -> Option<Step> {
    let paths: Vec<Vec<u8>> = listing
        .iter()
        .filter(|e| e.kind != Kind::Submodule)
        .map(|e| e.path.clone())
        .collect();
    (!paths.is_empty()).then_some(Step::ContextAttrs { paths })
}

/// One line about the files a checkout writes through a filter (LFS): a
/// clean build's context holds what the commit stores, their pointers.
fn note_filters(exec: &mut Executor, attrs: Option<Step>) -> Result<()> {
    let Some(step) = attrs else {
        return Ok(());
    };
    let printed = exec.must(&step)?.unwrap_or_default();
    let filtered: Vec<String> = context::parse_filters(&printed)
        .map_err(anyhow::Error::msg)?
        .into_iter()
        .map(|(path, filter)| format!("{path} (filter={filter})"))
        .collect();
    if !filtered.is_empty() {
        note(&format!(
            "{} file{} of the commit go through a git filter on checkout ({}): the build context holds the bytes the commit stores (an LFS file's pointer, not its content)",
            filtered.len(),
            if filtered.len() == 1 { "" } else { "s" },
            capped(&filtered)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::writable;

    #[test]
    fn the_image_id_file_s_folder_is_proved_writable_and_left_as_it_was() {
        let scratch = crate::support::scratch::Scratch::new("iid-probe");
        let dir = scratch.path();
        let file = dir.join(".iid-probe");
        writable(&file).unwrap();
        assert!(!file.exists(), "the probe's file was left");
        // A name taken (by whatever made it) is refused and left alone.
        std::fs::write(&file, "theirs").unwrap();
        let e = writable(&file).unwrap_err().to_string();
        assert!(e.contains("where docker build is to write"), "{e}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "theirs");
        // A folder that cannot hold it: one line naming the folder.
        let missing = dir.join("gone").join(".iid-probe");
        let e = writable(&missing).unwrap_err().to_string();
        assert!(
            e.contains(&format!("make {} writable", dir.join("gone").display())),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
    }
}
