//! Fixture images with a real `python3`, made without pulling anything:
//! Debian's `/usr/bin/python3.11`, the shared libraries it loads and its
//! standard library, copied from this machine and `docker import`ed; bases
//! built on it hold `/etc/os-release` and `*.dist-info/METADATA` stubs, so
//! `importlib.metadata.version(..)` inside them answers like a real install.
//!
//! For another platform (linux/arm64 on this x86_64 machine) the python image
//! is made of Debian's packages of that architecture instead, fetched with
//! `apt-get download` (see [`python_image_for`]); it runs under QEMU user-mode
//! emulation (binfmt_misc), which `.ci/run` sets up.

use super::{docker, docker_in, docker_ok, image_platform, Registry, TempDir};
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

/// A platform the fixtures make python images for.
#[derive(Debug)]
pub struct FixturePlatform {
    /// As docker names it: `linux/arm64`.
    pub name: &'static str,
    /// Debian's architecture: `arm64`.
    pub deb_arch: &'static str,
    /// The GNU triplet of its library directory: `aarch64-linux-gnu`.
    pub triplet: &'static str,
    /// What `platform.machine()` (and `uname -m`) says there: `aarch64`.
    pub machine: &'static str,
    /// The binfmt_misc handler that runs its programs on another machine
    /// (`update-binfmts --display` names them; qemu-user-static).
    pub binfmt: &'static str,
}

pub const PLATFORMS: &[FixturePlatform] = &[
    FixturePlatform {
        name: "linux/amd64",
        deb_arch: "amd64",
        triplet: "x86_64-linux-gnu",
        machine: "x86_64",
        binfmt: "qemu-x86_64",
    },
    FixturePlatform {
        name: "linux/arm64",
        deb_arch: "arm64",
        triplet: "aarch64-linux-gnu",
        machine: "aarch64",
        binfmt: "qemu-aarch64",
    },
];

/// The entry of [`PLATFORMS`] named `name`; panics for any other.
pub fn fixture_platform(name: &str) -> &'static FixturePlatform {
    PLATFORMS
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no python fixture for platform {name:?}"))
}

/// The platform of this machine (of its python3.11, which [`python_image`]
/// copies).
pub fn native_platform() -> &'static FixturePlatform {
    PLATFORMS
        .iter()
        .find(|p| p.machine == std::env::consts::ARCH)
        .unwrap_or_else(|| panic!("no python fixture for {}", std::env::consts::ARCH))
}

/// What a python image of another platform is made of: the interpreter
/// (python3.11-minimal and what it depends on: libpython3.11-minimal, libc6,
/// zlib1g, libexpat1), the standard library (libpython3.11-stdlib) and the
/// libraries of the extension modules `import json, importlib.metadata`
/// loads: `_bz2` (libbz2) and `_lzma` (liblzma); `_json` and `_typing` link
/// none. Not libffi: only `_ctypes` needs it, and nothing imports it.
const DEBIAN_PACKAGES: &[&str] = &[
    "python3.11-minimal",
    "libpython3.11-minimal",
    "libpython3.11-stdlib",
    "libc6",
    "zlib1g",
    "libexpat1",
    "libbz2-1.0",
    "liblzma5",
];

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

/// The name of a local image of `platform` (`linux/amd64`, `linux/arm64`)
/// holding Debian's python3.11 (`python3` on PATH) and nothing else: for this
/// machine's platform, [`python_image`]; for another, one made of Debian's
/// packages of that architecture (see [`DEBIAN_PACKAGES`]), named after their
/// versions and checksums, made at most once per process and reused when an
/// image of that name exists. Its programs run under emulation
/// ([`super::emulation_available`]). Panics, saying what to run, when apt
/// cannot download the packages (`dpkg --add-architecture arm64 && apt-get
/// update`, once per machine, as `.ci/run` does).
pub fn python_image_for(platform: &str) -> String {
    let p = fixture_platform(platform);
    if p.name == native_platform().name {
        return python_image();
    }
    static IMAGES: [OnceLock<String>; PLATFORMS.len()] =
        [const { OnceLock::new() }; PLATFORMS.len()];
    let at = PLATFORMS.iter().position(|q| q.name == p.name).unwrap();
    IMAGES[at]
        .get_or_init(|| build_debian_python_image(p))
        .clone()
}

/// Panics, saying what to install, when this machine has no Debian
/// python3.11 and standard library.
fn require_machine_python() {
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
}

fn build_python_image() -> String {
    require_machine_python();
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

/// What to run so apt can fetch `p`'s packages, and when.
fn apt_setup(p: &FixturePlatform) -> String {
    format!(
        "`dpkg --add-architecture {arch} && apt-get update` (once per machine, as root; \
         .ci/run does it)",
        arch = p.deb_arch
    )
}

/// One of [`DEBIAN_PACKAGES`] as apt's candidate for an architecture.
struct DebianPackage {
    /// `libc6:arm64`.
    name: String,
    version: String,
    sha256: String,
}

/// What the image's name hashes (as `derive(Debug)` wrote it, so names
/// made before stay the same): each candidate, its checksum included.
impl std::fmt::Debug for DebianPackage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DebianPackage")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("sha256", &self.sha256)
            .finish()
    }
}

/// apt's candidate of each of [`DEBIAN_PACKAGES`] for `p` (read from the
/// package lists, nothing downloaded); panics, saying what to run, when apt
/// does not list one of them.
fn debian_candidates(p: &FixturePlatform) -> Vec<DebianPackage> {
    let names: Vec<String> = DEBIAN_PACKAGES
        .iter()
        .map(|n| format!("{n}:{}", p.deb_arch))
        .collect();
    let out = Command::new("apt-cache")
        .args(["show", "--no-all-versions"])
        .args(&names)
        .env("LANG", "C")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "apt-cache: {e}: the {} python fixture is made of Debian's {} packages",
                p.name, p.deb_arch
            )
        });
    let text = String::from_utf8_lossy(&out.stdout);
    // One stanza per package (apt-cache skips an unknown name when it finds
    // another, so each is looked for).
    let stanzas: Vec<BTreeMap<&str, &str>> = text
        .split("\n\n")
        .map(|stanza| stanza.lines().filter_map(|l| l.split_once(": ")).collect())
        .collect();
    DEBIAN_PACKAGES
        .iter()
        .map(|name| {
            let found = stanzas.iter().find(|f| {
                f.get("Package") == Some(name) && f.get("Architecture") == Some(&p.deb_arch)
            });
            let Some(fields) = found else {
                panic!(
                    "apt does not list {name}:{arch}, which the {platform} python fixture \
                     is made of: run {setup}; apt-cache said: {err}",
                    arch = p.deb_arch,
                    platform = p.name,
                    setup = apt_setup(p),
                    err = String::from_utf8_lossy(&out.stderr).trim()
                )
            };
            DebianPackage {
                name: format!("{name}:{}", p.deb_arch),
                version: fields["Version"].to_string(),
                sha256: fields
                    .get("SHA256")
                    .copied()
                    .unwrap_or_default()
                    .to_string(),
            }
        })
        .collect()
}

/// The image [`python_image_for`] makes for a platform other than this
/// machine's: each of [`DEBIAN_PACKAGES`] downloaded by apt and unpacked
/// with `dpkg -x` into one tree, less what python does not read (the
/// documentation under /usr/share, glibc's iconv modules, the stdlib parts
/// [`SKIP_DIRS`] names), plus `/usr/bin/python3` and the standard library
/// compiled to `__pycache__` (as Debian's postinst does; `dpkg -x` runs none)
/// by this machine's python3.11: bytecode does not depend on the
/// architecture, and an emulated python3 then starts in about 1.3 s instead
/// of 3.2 s. Built `FROM scratch` with `--platform`, and checked.
fn build_debian_python_image(p: &FixturePlatform) -> String {
    require_machine_python();
    let packages = debian_candidates(p);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("debian-python-v1 {} {packages:?} {SKIP_DIRS:?}", p.name).bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let name = format!("xtask-fixture-python:v1-{}-{:012x}", p.deb_arch, h >> 16);
    if docker_ok(&["image", "inspect", &name]) && image_platform(&name) == p.name {
        return name;
    }
    let dir = TempDir::new(&format!("python-image-{}", p.deb_arch));
    let debs = dir.path().join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    // apt-get download writes into the working directory. As root apt would
    // fetch as the user _apt, who cannot write to this directory.
    let pinned: Vec<String> = packages
        .iter()
        .map(|d| format!("{}={}", d.name, d.version))
        .collect();
    let out = Command::new("apt-get")
        .args(["download", "-q", "-o", "APT::Sandbox::User=root"])
        .args(&pinned)
        .current_dir(&debs)
        .env("LANG", "C")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("apt-get: {e}"));
    assert!(
        out.status.success(),
        "apt-get download {pinned:?} failed: run {}; apt-get said: {}",
        apt_setup(p),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(&debs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|f| f.extension().is_some_and(|e| e == "deb"))
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        packages.len(),
        "apt-get download {pinned:?} wrote {files:?}"
    );
    let context = dir.path().join("context");
    let root = context.join("root");
    std::fs::create_dir_all(&root).unwrap();
    for deb in &files {
        run(Command::new("dpkg").arg("-x").arg(deb).arg(&root));
    }
    for unread in [
        root.join("usr/share"),
        root.join("usr/lib").join(p.triplet).join("gconv"),
    ] {
        std::fs::remove_dir_all(&unread)
            .unwrap_or_else(|e| panic!("remove {}: {e}", unread.display()));
    }
    let stdlib = root.join(STDLIB.trim_start_matches('/'));
    prune_stdlib(&stdlib);
    let python3 = root.join("usr/bin/python3");
    if std::fs::symlink_metadata(&python3).is_err() {
        std::os::unix::fs::symlink("python3.11", &python3).unwrap();
    }
    // Absolute paths: compileall strips `root` from each file's path and
    // prepends `/`, so tracebacks name /usr/lib/python3.11/...; unchecked
    // hash-based .pyc files are used whatever the files' mtimes in the image.
    run(Command::new(PYTHON)
        .args(["-I", "-m", "compileall", "-q", "-j0"])
        .args(["--invalidation-mode", "unchecked-hash", "-p", "/", "-s"])
        .arg(&root)
        .arg(&stdlib));
    std::fs::write(context.join("Dockerfile"), "FROM scratch\nCOPY root/ /\n").unwrap();
    // --no-cache: the classic builder's cache key of a COPY onto `scratch`
    // leaves the platform out (engine 20.10), so the same tree built once
    // without --platform would come back as a linux/amd64 image.
    docker(&[
        "build",
        "-q",
        "--no-cache",
        "--platform",
        p.name,
        "-t",
        &name,
        context.to_str().unwrap(),
    ]);
    let made = image_platform(&name);
    assert_eq!(
        made, p.name,
        "docker build --platform {} made an image of {made}",
        p.name
    );
    name
}

/// Remove from an unpacked standard library what [`stdlib_entries`] does not
/// copy for this machine's image: the directories of [`SKIP_DIRS`] (at any
/// depth), `config-3.11-*`, and lib-dynload's test modules.
fn prune_stdlib(dir: &Path) {
    for item in std::fs::read_dir(dir).unwrap() {
        let item = item.unwrap();
        let path = item.path();
        let name = item.file_name();
        let name = name.to_string_lossy();
        let kind = item.file_type().unwrap();
        if kind.is_dir() {
            if SKIP_DIRS.contains(&&*name) || name.starts_with("config-") {
                std::fs::remove_dir_all(&path).unwrap();
            } else {
                prune_stdlib(&path);
            }
        } else if dir.ends_with("lib-dynload")
            && ["_test", "_xx", "xx", "_ctypes_test"]
                .iter()
                .any(|p| name.starts_with(p))
        {
            std::fs::remove_file(&path).unwrap();
        }
    }
}

/// Run `cmd` (a program, never a shell), asserting success.
#[track_caller]
fn run(cmd: &mut Command) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
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
    build_base(&python_image(), None, reference, codename, dists);
}

/// [`import_python_image`] for `platform`: on [`python_image_for`] that
/// platform, built with `--platform`; checks the image's platform.
pub fn import_python_image_for(
    reference: &str,
    codename: &str,
    dists: &[(&str, &str)],
    platform: &str,
) {
    let base = python_image_for(platform);
    build_base(&base, Some(platform), reference, codename, dists);
    let made = image_platform(reference);
    assert_eq!(made, platform, "{reference} was built for {made}");
}

fn build_base(
    base: &str,
    platform: Option<&str>,
    reference: &str,
    codename: &str,
    dists: &[(&str, &str)],
) {
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
    let mut args = vec!["build", "-q", "--no-cache"];
    if let Some(platform) = platform {
        args.extend(["--platform", platform]);
    }
    args.extend(["-t", reference, dir.path().to_str().unwrap()]);
    docker(&args);
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

/// [`make_base_with`] for `platform` (`linux/arm64`): a base of that
/// platform pushed to `registry` as `<host>/<name>:1`; the local tag is
/// removed. Returns the reference.
pub fn make_base_with_platform(
    registry: &Registry,
    name: &str,
    codename: &str,
    dists: &[(&str, &str)],
    platform: &str,
) -> String {
    let reference = format!("{}/{name}:1", registry.host());
    push_base_for(&reference, codename, dists, platform);
    reference
}

fn push_base_for(reference: &str, codename: &str, dists: &[(&str, &str)], platform: &str) {
    import_python_image_for(reference, codename, dists, platform);
    docker(&["push", reference]);
    docker(&["rmi", reference]);
}

/// A multi-platform base in a registry (see [`make_multi_platform_base`]).
#[derive(Debug)]
pub struct MultiPlatformBase {
    /// `<host>/<name>:1`, a manifest list.
    pub reference: String,
    /// The manifest list's digest as the registry serves it (`sha256:…`).
    pub digest: String,
    /// Each platform and the tag its image was pushed under
    /// (`<host>/<name>:1-arm64`).
    pub images: Vec<(String, String)>,
}

/// The media type of a Docker manifest list.
pub const MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// A base for each of `platforms`, as [`make_base_with_platform`] makes it,
/// pushed to `registry` as `<host>/<name>:1-<arch>` (`1-amd64`, `1-arm64`),
/// and the manifest list of them pushed as `<host>/<name>:1` (`docker
/// manifest create` and `push`, `--insecure` for a plain-HTTP registry, with
/// a docker config of their own: nothing is left in the caller's). The local
/// tags are removed.
pub fn make_multi_platform_base(
    registry: &Registry,
    name: &str,
    codename: &str,
    dists: &[(&str, &str)],
    platforms: &[&str],
) -> MultiPlatformBase {
    let each: Vec<(&str, &str)> = platforms.iter().map(|p| (*p, codename)).collect();
    make_multi_platform_base_with(registry, name, dists, &each)
}

/// [`make_multi_platform_base`] with a codename per platform (`(platform,
/// codename)`): a base whose platforms' images disagree.
pub fn make_multi_platform_base_with(
    registry: &Registry,
    name: &str,
    dists: &[(&str, &str)],
    platforms: &[(&str, &str)],
) -> MultiPlatformBase {
    let reference = format!("{}/{name}:1", registry.host());
    let mut images = Vec::new();
    for (platform, codename) in platforms {
        let arch = platform.rsplit('/').next().unwrap();
        let image = format!("{reference}-{arch}");
        push_base_for(&image, codename, dists, platform);
        images.push((platform.to_string(), image));
    }
    let config = TempDir::new("manifest-config");
    let mut create = vec!["manifest", "create", "--insecure", &reference];
    create.extend(images.iter().map(|(_, image)| image.as_str()));
    docker_in(Some(config.path()), &create);
    let pushed = docker_in(
        Some(config.path()),
        &["manifest", "push", "--insecure", "--purge", &reference],
    );
    let digest = registry
        .digest(name, "1")
        .unwrap_or_else(|| panic!("the registry does not serve {reference}"));
    assert_eq!(
        pushed.trim(),
        digest,
        "docker manifest push printed another digest than the registry serves"
    );
    MultiPlatformBase {
        reference,
        digest,
        images,
    }
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
