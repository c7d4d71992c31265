//! Fixture images with a real `python3`, made without pulling anything:
//! Debian's `/usr/bin/python3.11`, the shared libraries it loads and its
//! standard library, copied from this machine and `docker import`ed; bases
//! built on it hold `/etc/os-release` and `*.dist-info/METADATA` stubs, so
//! `importlib.metadata.version(..)` inside them answers like a real install.

use super::{docker, docker_ok, Registry, TempDir};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

const PYTHON: &str = "/usr/bin/python3.11";
const STDLIB: &str = "/usr/lib/python3.11";
const INSTALL: &str = "apt-get install python3.11-minimal libpython3.11-stdlib";

/// On Debian's python3.11 `sys.path` (site.py adds it when it exists), as
/// in the Ubuntu images the Dockerfiles build on; distributions go here.
pub const DIST_PACKAGES: &str = "/usr/local/lib/python3.11/dist-packages";

/// What `make_base` installs: (distribution name, version).
pub const DEFAULT_DISTS: &[(&str, &str)] = &[("torch", "2.6.0"), ("tensorflow", "2.16.1")];

/// Stdlib directories that `import json, importlib.metadata, os, sys` does
/// not need (also skipped: `config-3.11-*`, the static library and build
/// files, and the test extension modules of lib-dynload).
const SKIP_DIRS: &[&str] = &[
    "__pycache__",
    "test",
    "idlelib",
    "tkinter",
    "turtledemo",
    "ensurepip",
    "lib2to3",
    "distutils",
    "pydoc_data",
    "venv",
];

/// Extension modules loaded by `import json, importlib.metadata` (zipfile
/// imports bz2 and lzma): their libraries are copied too, so the image
/// imports exactly what the machine's python does.
const LOADED_EXTENSIONS: &[&str] = &["_bz2", "_lzma", "_json", "_typing"];

/// One path of the image: a file copied from the machine, or a symlink.
enum Entry {
    File(PathBuf),
    Link(PathBuf),
}

/// The name of a local image holding Debian's python3.11 (`python3` on PATH)
/// and nothing else: no shell. Named after a hash of its content; made at
/// most once per process and reused when an image of that name exists.
/// Panics, saying what to install, when this machine has no python3.11.
pub fn python_image() -> String {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(build_python_image).clone()
}

fn build_python_image() -> String {
    assert!(
        Path::new(PYTHON).is_file(),
        "{PYTHON} is missing: the python fixture image copies Debian's python3.11 \
         ({INSTALL})"
    );
    assert!(
        Path::new(STDLIB).join("json/__init__.py").is_file(),
        "{STDLIB}/json is missing: the python fixture image copies Debian's python3.11 \
         standard library ({INSTALL})"
    );
    let entries = python_entries();
    let name = format!(
        "xtask-fixture-python:v1-{:012x}",
        content_hash(&entries) >> 16
    );
    if docker_ok(&["image", "inspect", &name]) {
        return name;
    }
    let dir = TempDir::new("python-image");
    let root = dir.path().join("root");
    for (rel, entry) in &entries {
        let dest = root.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        match entry {
            Entry::File(src) => {
                std::fs::copy(src, &dest).unwrap_or_else(|e| {
                    panic!("copy {} to {}: {e}", src.display(), dest.display())
                });
            }
            Entry::Link(target) => std::os::unix::fs::symlink(target, &dest).unwrap(),
        }
    }
    let tar = dir.path().join("python.tar");
    let out = Command::new("tar")
        .args(["--owner=0", "--group=0", "--numeric-owner", "-C"])
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tar: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    docker(&["import", tar.to_str().unwrap(), &name]);
    name
}

/// The image's paths (relative to /) and where each comes from.
fn python_entries() -> BTreeMap<PathBuf, Entry> {
    let mut entries = BTreeMap::new();
    entries.insert(
        PathBuf::from("usr/bin/python3.11"),
        Entry::File(PYTHON.into()),
    );
    entries.insert(
        PathBuf::from("usr/bin/python3"),
        Entry::Link("python3.11".into()),
    );
    let mut ldd = Command::new("ldd");
    ldd.arg(PYTHON);
    for item in std::fs::read_dir(Path::new(STDLIB).join("lib-dynload")).unwrap() {
        let path = item.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // `_bz2.cpython-311-x86_64-linux-gnu.so`, whatever the architecture.
        if LOADED_EXTENSIONS
            .iter()
            .any(|m| name.starts_with(&format!("{m}.cpython-311-")))
        {
            ldd.arg(path);
        }
    }
    for lib in shared_libraries(ldd) {
        let rel = lib.strip_prefix("/").unwrap().to_path_buf();
        entries.insert(rel, Entry::File(lib));
    }
    stdlib_entries(Path::new(STDLIB), &mut entries);
    entries
}

/// The absolute paths `ldd` prints (each library, the dynamic loader
/// included; not the vDSO, which has no file).
fn shared_libraries(mut ldd: Command) -> Vec<PathBuf> {
    let out = ldd
        .stdin(Stdio::null())
        .output()
        .expect("ldd (libc-bin) runs");
    assert!(
        out.status.success(),
        "ldd: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut libs: Vec<PathBuf> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with(char::is_whitespace))
        .filter_map(|l| {
            let path = l.split("=>").last()?.split_whitespace().next()?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect();
    libs.sort();
    libs.dedup();
    assert!(!libs.is_empty(), "ldd {PYTHON} listed no libraries");
    libs
}

fn stdlib_entries(dir: &Path, entries: &mut BTreeMap<PathBuf, Entry>) {
    for item in std::fs::read_dir(dir).unwrap() {
        let item = item.unwrap();
        let path = item.path();
        let name = item.file_name();
        let name = name.to_string_lossy();
        let kind = item.file_type().unwrap();
        let rel = path.strip_prefix("/").unwrap().to_path_buf();
        if kind.is_dir() {
            if !SKIP_DIRS.contains(&&*name) && !name.starts_with("config-") {
                stdlib_entries(&path, entries);
            }
        } else if kind.is_symlink() {
            // Relative links stay links; sitecustomize.py points into /etc
            // (a hook for apport), which the image does not hold.
            let target = std::fs::read_link(&path).unwrap();
            if target.is_relative() {
                entries.insert(rel, Entry::Link(target));
            }
        } else if !(dir.ends_with("lib-dynload")
            && ["_test", "_xx", "xx", "_ctypes_test"]
                .iter()
                .any(|p| name.starts_with(p)))
        {
            entries.insert(rel, Entry::File(path));
        }
    }
}

/// FNV-1a (64 bits) of each path, its kind, mode and content or target.
fn content_hash(entries: &BTreeMap<PathBuf, Entry>) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    for (rel, entry) in entries {
        eat(rel.as_os_str().as_bytes());
        match entry {
            Entry::File(src) => {
                let mode = std::fs::metadata(src).unwrap().permissions().mode() & 0o7777;
                eat(format!("\0F{mode:o}\0").as_bytes());
                eat(&std::fs::read(src).unwrap());
            }
            Entry::Link(target) => {
                eat(b"\0L");
                eat(target.as_os_str().as_bytes());
            }
        }
        eat(b"\0");
    }
    h
}

/// The directory name of an installed distribution: its name with runs of
/// `-`, `_` and `.` made one `_`, then `-VERSION.dist-info`.
fn dist_info(name: &str, version: &str) -> String {
    let mut norm = String::new();
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !norm.ends_with('_') {
                norm.push('_');
            }
        } else {
            norm.push(c);
        }
    }
    format!("{norm}-{version}.dist-info")
}

/// Build, as the local image `reference`, the python image plus
/// /etc/os-release (`ID=ubuntu`, `VERSION_CODENAME=codename`) and one
/// `METADATA` per `(distribution, version)` under [`DIST_PACKAGES`]. Each
/// call makes a new image (no build cache), as `docker import` does.
pub fn import_python_image(reference: &str, codename: &str, dists: &[(&str, &str)]) {
    let base = python_image();
    let dir = TempDir::new("python-base");
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(
        root.join("etc/os-release"),
        format!("ID=ubuntu\nVERSION_CODENAME={codename}\n"),
    )
    .unwrap();
    let site = root.join(DIST_PACKAGES.trim_start_matches('/'));
    std::fs::create_dir_all(&site).unwrap();
    for (name, version) in dists {
        let info = site.join(dist_info(name, version));
        std::fs::create_dir_all(&info).unwrap();
        std::fs::write(
            info.join("METADATA"),
            format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"),
        )
        .unwrap();
    }
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!("FROM {base}\nCOPY root/ /\n"),
    )
    .unwrap();
    docker(&[
        "build",
        "-q",
        "--no-cache",
        "-t",
        reference,
        dir.path().to_str().unwrap(),
    ]);
}

/// A base with python3 and the given distributions, pushed to `registry` as
/// `<host>/<name>:1`; the local tag is removed. Returns the reference.
pub fn make_base_with(
    registry: &Registry,
    name: &str,
    codename: &str,
    dists: &[(&str, &str)],
) -> String {
    let reference = format!("{}/{name}:1", registry.host());
    import_python_image(&reference, codename, dists);
    docker(&["push", &reference]);
    docker(&["rmi", &reference]);
    reference
}

/// [`make_base_with`] torch 2.6.0 and tensorflow 2.16.1.
pub fn make_base(registry: &Registry, name: &str, codename: &str) -> String {
    make_base_with(registry, name, codename, DEFAULT_DISTS)
}

/// A base a seeded registry holds as `<name>:1`: (name, codename,
/// distributions), as [`make_base_with`] makes it.
pub type BaseSpec = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// A registry storage directory (what `docker-registry`'s filesystem driver
/// wrote) holding each base of `specs`, for [`Registry::start_seeded`]. Made
/// once per python image and `specs` (one registry, one push of the python
/// layer for all of them), kept under cargo's target tmp directory and
/// reused by later runs; published by a rename, so it is complete or absent.
pub fn seed_storage(specs: &[BaseSpec]) -> PathBuf {
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = MAKING.lock().unwrap_or_else(|e| e.into_inner());
    let python = python_image();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("seed-v1 {python} {specs:?}").bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let seed = root.join(format!("registry-seed-{h:016x}"));
    if seed.is_dir() {
        return seed;
    }
    let registry = Registry::start();
    for (name, codename, dists) in specs {
        let reference = make_base_with(&registry, name, codename, dists);
        // make_base_with leaves the python layer; the base's own is gone
        // with its tag, so a later pull fetches it from the registry.
        assert!(!docker_ok(&["image", "inspect", &reference]));
    }
    let mut registry = registry;
    let _ = registry.child.kill();
    let _ = registry.child.wait();
    let partial = root.join(format!(
        "registry-seed-{h:016x}.partial-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&partial);
    copy_tree(&registry.dir.path().join("data"), &partial);
    if std::fs::rename(&partial, &seed).is_err() {
        // Another process published it first.
        let _ = std::fs::remove_dir_all(&partial);
        assert!(seed.is_dir(), "cannot publish {}", seed.display());
    }
    seed
}

/// Copy a directory tree of plain files and directories.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for item in std::fs::read_dir(from).unwrap() {
        let item = item.unwrap();
        let dest = to.join(item.file_name());
        if item.file_type().unwrap().is_dir() {
            copy_tree(&item.path(), &dest);
        } else {
            std::fs::copy(item.path(), &dest).unwrap();
        }
    }
}
