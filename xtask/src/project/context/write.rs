//! Writing a context: a commit's files from their blobs' raw bytes, or the
//! working tree's tracked files as they are; files 0644 (0755 when
//! executable), folders 0755, whatever the umask of whoever writes it.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io::{self, BufRead, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::{Entry, Kind};

/// Writes files into a context folder, making the folders they need.
pub struct Writer {
    dest: PathBuf,
    made: HashSet<PathBuf>,
    /// Bytes of file content written.
    pub bytes: u64,
}

/// A folder with mode 0755 (set again after mkdir, which the umask cuts).
fn make_dir(p: &Path) -> io::Result<()> {
    match std::fs::DirBuilder::new().mode(0o755).create(p) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && p.is_dir() => {}
        r => r?,
    }
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))
}

impl Writer {
    /// Writing into `dest`, an existing folder (made by `store.rs`).
    pub fn new(dest: &Path) -> Writer {
        Writer {
            dest: dest.to_path_buf(),
            made: HashSet::new(),
            bytes: 0,
        }
    }

    /// Where `rel` goes, its folders made.
    fn place(&mut self, rel: &Path) -> io::Result<PathBuf> {
        let mut dir = self.dest.clone();
        if let Some(parent) = rel.parent() {
            for c in parent.components() {
                dir.push(c);
                if self.made.insert(dir.clone()) {
                    make_dir(&dir)?;
                }
            }
        }
        Ok(self.dest.join(rel))
    }

    /// A regular file with `content`, never through an existing name.
    pub fn file(
        &mut self,
        rel: &Path,
        executable: bool,
        content: &mut impl Read,
    ) -> io::Result<()> {
        let to = self.place(rel)?;
        let mode = if executable { 0o755 } else { 0o644 };
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&to)?;
        self.bytes += io::copy(content, &mut f)?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))
    }

    /// A symbolic link to `target` (any bytes, as git stores it).
    pub fn link(&mut self, rel: &Path, target: &[u8]) -> io::Result<()> {
        let to = self.place(rel)?;
        std::os::unix::fs::symlink(OsStr::from_bytes(target), to)
    }

    /// An empty folder (a submodule, as a checkout without it holds it).
    pub fn folder(&mut self, rel: &Path) -> io::Result<()> {
        let to = self.place(rel)?;
        self.made.insert(to.clone());
        make_dir(&to)
    }
}

/// One `git cat-file --batch` header: `<oid> <type> <size>`.
fn header(blobs: &mut impl BufRead, e: &Entry) -> Result<u64> {
    let mut line = Vec::new();
    blobs.read_until(b'\n', &mut line)?;
    let text = String::from_utf8_lossy(&line);
    let fields: Vec<&str> = text.trim_end_matches('\n').split(' ').collect();
    match fields[..] {
        [oid, "blob", size] if oid == e.oid => size
            .parse()
            .with_context(|| format!("git cat-file printed the header {text:?}")),
        _ => bail!(
            "git cat-file printed {:?} for the blob {} of {}",
            text.trim_end(),
            e.oid,
            e.shown()
        ),
    }
}

/// Write `entries` (in the order their blob ids were given to `git
/// cat-file --batch`; submodules take none) from its output `blobs`.
pub fn write_blobs(blobs: &mut impl BufRead, entries: &[&Entry], w: &mut Writer) -> Result<()> {
    for e in entries {
        if e.kind == Kind::Submodule {
            w.folder(e.rel())?;
            continue;
        }
        let size = header(blobs, e)?;
        let mut content = blobs.by_ref().take(size);
        match e.kind {
            Kind::File { executable } => w.file(e.rel(), executable, &mut content)?,
            _ => {
                let mut target = Vec::new();
                content.read_to_end(&mut target)?;
                if std::str::from_utf8(&target).is_err() {
                    // Its check reads targets as text.
                    bail!(
                        "{}: a symbolic link whose target is not UTF-8, which a build context cannot hold; point it at a UTF-8 path",
                        e.shown()
                    );
                }
                w.link(e.rel(), &target)?;
            }
        }
        let mut end = [0u8; 1];
        if content.limit() != 0 || blobs.read(&mut end)? != 1 || end[0] != b'\n' {
            bail!(
                "git cat-file's output ended inside the blob of {}",
                e.shown()
            );
        }
    }
    if !blobs.fill_buf()?.is_empty() {
        bail!("git cat-file printed more blobs than were asked for");
    }
    Ok(())
}

/// Copy `entries` from the working tree `root` as they are now: regular
/// files with their executable bit, symbolic links as links, a submodule
/// as an empty folder. A file missing from the working tree, or replaced
/// there by something else (git status says so), is not copied; nor is
/// one whose folder is now a symbolic link (git tracks no file through a
/// link: what is there is some other file, maybe outside the repository).
pub fn copy_tracked(root: &Path, entries: &[&Entry], w: &mut Writer) -> io::Result<()> {
    let missing = |e: &io::Error| e.kind() == io::ErrorKind::NotFound;
    let mut folders = Folders::default();
    for e in entries {
        if !folders.real(root, e.rel())? {
            continue;
        }
        let from = root.join(e.rel());
        match e.kind {
            Kind::Submodule => w.folder(e.rel())?,
            Kind::Link => match std::fs::read_link(&from) {
                Ok(target) => w.link(e.rel(), target.as_os_str().as_bytes())?,
                Err(err) if missing(&err) || err.kind() == io::ErrorKind::InvalidInput => {}
                Err(err) => return Err(err),
            },
            Kind::File { executable } => {
                match std::fs::symlink_metadata(&from) {
                    Ok(m) if m.is_file() => {}
                    Ok(_) => continue,
                    Err(err) if missing(&err) => continue,
                    Err(err) => return Err(err),
                }
                w.file(e.rel(), executable, &mut std::fs::File::open(&from)?)?;
            }
        }
    }
    Ok(())
}

/// Folders of the working tree known to be real folders (not links).
#[derive(Default)]
struct Folders {
    real: HashSet<PathBuf>,
}

impl Folders {
    /// Whether every folder on the way from `root` to `rel` is a real
    /// folder, none of them a symbolic link or missing.
    fn real(&mut self, root: &Path, rel: &Path) -> io::Result<bool> {
        let mut at = PathBuf::new();
        let Some(parent) = rel.parent() else {
            return Ok(true);
        };
        for part in parent.components() {
            at.push(part);
            if self.real.contains(&at) {
                continue;
            }
            match std::fs::symlink_metadata(root.join(&at)) {
                Ok(m) if m.is_dir() => {
                    self.real.insert(at.clone());
                }
                Ok(_) => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}
