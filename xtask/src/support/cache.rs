//! What the checks learnt, kept by content so that the everyday loop does
//! not pay for them twice. Stored under `$XDG_CACHE_HOME/itwinai-xtask`
//! (an absolute `XDG_CACHE_HOME` only, as the XDG spec says) or
//! `~/.cache/itwinai-xtask`. A missing, unreadable or garbled cache only
//! costs the work again; the cache never decides a check on its own (see
//! `verify.rs`: a cached fact that disagrees is probed again).
//!
//! - `inside-v2`: what the in-image probe read (os-release, installed
//!   versions), keyed by the image's layer diff IDs, the parts of its config
//!   that shape a process inside (environment, working directory, user) and
//!   the distributions asked for. Layers are content-addressed, so a rebuild
//!   that changed only labels needs no container.
//! - `verdicts-v1`: image IDs that passed a given expectation. An image ID is
//!   the digest of its config, labels included.
//! - `tests-v2`: image IDs on which a flavour's test (its argv, how it ran) passed.
//! - `built-v1`: image IDs this tool built from a clean commit's context and
//!   checked. Unlike the others this one decides: `image push` publishes
//!   under a release tag, an alias or HEAD's clean default development tag
//!   only an image listed here (a `docker build` of the working tree by
//!   hand carries no dirty label either), so a lost file only asks for the
//!   build again.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Past this size a cache file is started afresh.
const MAX_BYTES: u64 = 4 << 20;

/// The tool's cache directory, if one can be named.
pub fn dir() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| !p.as_os_str().is_empty());
    if let Some(p) = xdg.as_ref().filter(|p| p.is_relative()) {
        // Once a run: the XDG spec says to ignore it, but quietly using
        // another folder would surprise whoever set it.
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| {
            crate::support::output::warn(&format!(
                "XDG_CACHE_HOME={} is not an absolute path, which the XDG spec says to ignore: the cache is under $HOME/.cache instead; set an absolute path to use that folder",
                p.display()
            ));
        });
    }
    let xdg = xdg.filter(|p| p.is_absolute());
    let base = xdg.or_else(|| {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .map(|h| h.join(".cache"))
    })?;
    Some(base.join("itwinai-xtask"))
}

fn is_digest_list(items: &[String]) -> bool {
    !items.is_empty()
        && items
            .iter()
            .all(|l| crate::support::digest::check_sha256(l).is_ok())
}

fn lookup(file: &str, key: &str) -> Option<String> {
    lookup_at(&dir()?, file, key)
}

/// The value of the last line of `dir/file` with `key`.
fn lookup_at(dir: &Path, file: &str, key: &str) -> Option<String> {
    // Lossy: a stray byte in an old line (an append checks only the end of
    // a file) must not hide every other line.
    let bytes = std::fs::read(dir.join(file)).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    text.lines().rev().find_map(|l| {
        let (k, v) = l.split_once('\t')?;
        (k == key).then(|| v.to_string())
    })
}

/// Whole lines of `key<TAB>value`, nothing else.
fn is_cache_text(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    (text.is_empty() || text.ends_with('\n'))
        && text.lines().all(|l| {
            // Keys join their parts with U+001F; values may hold tabs.
            l.split_once('\t').is_some_and(|(k, _)| {
                !k.is_empty()
                    && !l
                        .chars()
                        .any(|c| c.is_control() && !matches!(c, '\t' | '\u{1f}'))
            })
        })
}

/// How much of a cache file's end [`store`] reads to see whether it holds
/// this tool's lines: some 20 lines, not the whole file (read and checked
/// character by character on every store).
const TAIL: u64 = 16 << 10;

/// The whole lines in the last `max` bytes of the file at `path`.
fn tail(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    let from = f.metadata()?.len().saturating_sub(max);
    f.seek(SeekFrom::Start(from))?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)?;
    if from > 0 {
        // It starts inside a line: from the next one on (no line end at
        // all: kept whole, and not the tool's lines).
        let cut = bytes
            .iter()
            .position(|&b| b == b'\n')
            .map_or(0, |at| at + 1);
        bytes.drain(..cut);
    }
    Ok(bytes)
}

fn store(file: &str, key: &str, value: &str) {
    if let Some(dir) = dir() {
        let _ = store_at(&dir, file, key, value);
    }
}

/// Append `key<TAB>value` to `dir/file`: a file past [`MAX_BYTES`], or
/// one whose end is not this tool's lines (garbled, or written by
/// something else), is started afresh rather than grown.
fn store_at(dir: &Path, file: &str, key: &str, value: &str) -> std::io::Result<()> {
    if key.contains(['\t', '\n']) || value.contains('\n') {
        return Ok(());
    }
    let path = dir.join(file);
    std::fs::create_dir_all(dir)?;
    let too_big = std::fs::metadata(&path).is_ok_and(|m| m.len() > MAX_BYTES);
    let garbled = !too_big && tail(&path, TAIL).is_ok_and(|end| !is_cache_text(&end));
    let reset = too_big || garbled;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(!reset)
        .write(true)
        .truncate(reset)
        .open(&path)?;
    // One write of one line: appends of concurrent runs do not interleave.
    f.write_all(format!("{key}\t{value}\n").as_bytes())
}

/// Layers, the config that shapes a process inside (environment, working
/// directory, user), and the distributions asked for: all the probe's
/// output depends on. `None` (no caching) when a value cannot be written
/// on one line unambiguously.
fn inside_key(layers: &[String], runtime: &[String], dists: &[String]) -> Option<String> {
    let dists_ok = dists
        .iter()
        .all(|d| !d.is_empty() && !d.contains([',', '|', '\t', '\n']));
    let runtime_ok = runtime.iter().all(|r| !r.chars().any(|c| c.is_control()));
    (is_digest_list(layers) && dists_ok && runtime_ok).then(|| {
        format!(
            "{}|{}|{}",
            layers.join(","),
            runtime.join("\u{1f}"),
            dists.join(",")
        )
    })
}

/// The probe's output for this image content and these distributions, if known.
pub fn inside(layers: &[String], runtime: &[String], dists: &[String]) -> Option<String> {
    lookup("inside-v2", &inside_key(layers, runtime, dists)?)
}

pub fn store_inside(layers: &[String], runtime: &[String], dists: &[String], probe_output: &str) {
    if let Some(key) = inside_key(layers, runtime, dists) {
        store("inside-v2", &key, probe_output.trim());
    }
}

fn verdict_key(id: &str, expectation: &str) -> Option<String> {
    (crate::support::digest::check_sha256(id).is_ok() && !expectation.contains(['\t', '\n']))
        .then(|| format!("{id} {expectation}"))
}

/// Whether image `id` already passed `expectation` (a canonical text).
pub fn passed(id: &str, expectation: &str) -> bool {
    verdict_key(id, expectation).is_some_and(|k| lookup("verdicts-v1", &k).as_deref() == Some("ok"))
}

pub fn store_pass(id: &str, expectation: &str) {
    if let Some(key) = verdict_key(id, expectation) {
        store("verdicts-v1", &key, "ok");
    }
}

fn test_key(id: &str, test: &str) -> Option<String> {
    let ok = crate::support::digest::check_sha256(id).is_ok() && !test.contains(['\t', '\n']);
    ok.then(|| format!("{id} {test}"))
}

/// Whether the test `test` (its key: its argv and how it ran) passed on
/// image `id` before.
pub fn test_passed(id: &str, test: &str) -> bool {
    test_key(id, test).is_some_and(|k| lookup(TESTS, &k).as_deref() == Some("passed"))
}

pub fn store_test_pass(id: &str, test: &str) {
    if let Some(key) = test_key(id, test) {
        store(TESTS, &key, "passed");
    }
}

/// Whether this tool built image `id` from a clean commit's context (and
/// its checks passed), on this machine with this cache.
pub fn built_clean(id: &str) -> bool {
    crate::support::digest::check_sha256(id).is_ok()
        && lookup(BUILT, id).as_deref() == Some("clean")
}

pub fn store_built_clean(id: &str) {
    if crate::support::digest::check_sha256(id).is_ok() && !built_clean(id) {
        store(BUILT, id, "clean");
    }
}

const BUILT: &str = "built-v1";

/// Passes by image ID and test: v2 keys say how the test ran (through the
/// entrypoint or not, with which network), which v1 keys did not.
const TESTS: &str = "tests-v2";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_tools_own_lines_are_kept() {
        assert!(is_cache_text(b""));
        assert!(is_cache_text(b"sha256:a\tsha256:b\nk\tv w\n"));
        assert!(is_cache_text(
            "sha256:a python3\u{1f}-m\tpassed\nk\tv\tw\n".as_bytes()
        ));
        for bad in [
            &b"garbage"[..],
            b"k\tv",
            b"no tab\n",
            b"\tv\n",
            b"k\tv\x1b\n",
            b"\xff\xfe\n",
        ] {
            assert!(!is_cache_text(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_check_before_an_append_reads_whole_lines_of_the_end_only() {
        let scratch = crate::support::scratch::Scratch::new("cache-tail");
        let path = scratch.path().join("f");
        let line = format!("sha256:{}\tok\n", "a".repeat(64));
        // Short: all of it.
        std::fs::write(&path, line.repeat(3)).unwrap();
        assert_eq!(tail(&path, TAIL).unwrap(), line.repeat(3).into_bytes());
        // Long, garbage first: the lines of its end, the first cut one left out.
        let mut long = "\u{1b} garbage \u{0}\n".repeat(10_000);
        long.push_str(&line.repeat(1000));
        std::fs::write(&path, &long).unwrap();
        let end = tail(&path, TAIL).unwrap();
        assert!(end.len() as u64 <= TAIL && end.len() as u64 > TAIL - line.len() as u64);
        assert!(long.as_bytes().ends_with(&end));
        assert!(end.starts_with(b"sha256:") && is_cache_text(&end));
        // Garbage at its end is seen.
        long.push_str("\u{1b}[31m not a cache line\n");
        std::fs::write(&path, &long).unwrap();
        assert!(!is_cache_text(&tail(&path, TAIL).unwrap()));
    }

    #[test]
    fn a_store_appends_unless_the_file_is_full_or_ends_in_what_is_not_its_lines() {
        let scratch = crate::support::scratch::Scratch::new("cache-store");
        let dir = scratch.path().to_path_buf();
        let line = format!("sha256:{}\tok\n", "a".repeat(64));
        let mut long = "\u{1b} garbage \u{0}\n".repeat(10_000);
        long.push_str(&line.repeat(1000));
        std::fs::write(dir.join("v"), &long).unwrap();
        store_at(&dir, "v", "k", "v").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("v")).unwrap(),
            format!("{long}k\tv\n")
        );
        std::fs::write(dir.join("v"), format!("{long}\u{1b} not a line\n")).unwrap();
        store_at(&dir, "v", "k", "v").unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("v")).unwrap(), "k\tv\n");
        // A stray byte in an old line hides nothing else.
        std::fs::write(
            dir.join("v"),
            [&b"k\t\xff\n"[..], b"k\tv1\nj\tw\n"].concat(),
        )
        .unwrap();
        assert_eq!(lookup_at(&dir, "v", "k").as_deref(), Some("v1"));
        assert_eq!(lookup_at(&dir, "v", "j").as_deref(), Some("w"));
        assert_eq!(lookup_at(&dir, "v", "i"), None);
        // A long run with no line end at all at its end: not its lines.
        std::fs::write(dir.join("v"), format!("{long}{}", "x".repeat(40_000))).unwrap();
        store_at(&dir, "v", "k", "v").unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("v")).unwrap(), "k\tv\n");
        let full = line.repeat((MAX_BYTES as usize / line.len()) + 1);
        std::fs::write(dir.join("v"), &full).unwrap();
        store_at(&dir, "v", "k", "v").unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("v")).unwrap(), "k\tv\n");
    }
}
