//! The build context is exactly the commit's bytes, whatever the local git
//! setup, the cache or the umask does (the red-team findings of issue 17),
//! against a real engine, a real registry and real git.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::support::*;

/// The release name of the standard workspace's flavour.
fn release(registry: &Registry) -> String {
    format!("{}/itwinai:0.2.2-torch2.6-jammy", registry.host())
}

/// The workspace's Dockerfile copying the whole context into /app too.
fn copy_all(ws: &Workspace) {
    let path = ws.root().join("env-files/fix/Dockerfile");
    let text = std::fs::read_to_string(&path).unwrap();
    ws.write("env-files/fix/Dockerfile", &format!("{text}COPY . /app\n"));
}

/// What `code` prints, run by python3 inside `image` (no network; the
/// program on stdin).
fn in_image(image: &str, code: &str) -> String {
    docker_with_input(
        &[
            "run",
            "--rm",
            "--interactive",
            "--network",
            "none",
            "--entrypoint",
            "python3",
            image,
            "-",
        ],
        code,
    )
    .trim()
    .to_string()
}

/// The content of `/app/<rel>` in `image`, trimmed.
fn app_file(image: &str, rel: &str) -> String {
    in_image(image, &format!("print(open('/app/{rel}').read(), end='')"))
}

/// The names under /app of `image` (relative, sorted; non-UTF-8 bytes as
/// Python escapes them).
fn app_names(image: &str) -> String {
    in_image(
        image,
        "import os;print(sorted(os.path.relpath(os.path.join(d,f),b'/app') for d,_,fs in os.walk(b'/app') for f in fs))",
    )
}

/// The contexts folder of the workspace's cache.
fn contexts(ws: &Workspace) -> PathBuf {
    ws.home.path().join(".cache/itwinai-xtask/contexts")
}

/// A local replace ref or a smudge filter changes what git checks out, not
/// what the tool builds: a clean build holds the commit's blobs. A
/// Dockerfile whose working-tree bytes are not its blob's (written through
/// a filter; git status sees no change) is refused in one line.
#[test]
fn replace_refs_and_filters_do_not_change_the_context() {
    let Some(EngineTest {
        registry,
        base: _,
        ws,
    }) = EngineTest::start("ctx-filters", JAMMY)
    else {
        return;
    };
    let reference = release(&registry);
    let _cleanup = Cleanup::new(&[&reference]);
    copy_all(&ws);
    ws.write("app.txt", "unreviewed\n");
    ws.commit();
    let unreviewed = ws.head();
    ws.write("app.txt", "reviewed\n");
    ws.write("notes.txt", "reviewed notes\n");
    ws.commit();
    let head = ws.head();
    // HEAD reads as the older commit to git, unless told otherwise.
    ws.git(&["replace", &head, &unreviewed]);
    std::fs::write(
        ws.root().join(".git/info/attributes"),
        "notes.txt filter=swap\n",
    )
    .unwrap();
    ws.git(&["config", "filter.swap.smudge", "sed s/reviewed/SWAPPED/"]);
    ws.git(&["config", "filter.swap.clean", "cat"]);

    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    assert_eq!(app_file(&reference, "app.txt"), "reviewed");
    assert_eq!(app_file(&reference, "notes.txt"), "reviewed notes");
    let revision = labels(&reference)
        .into_iter()
        .find(|(k, _)| k == "org.opencontainers.image.revision")
        .map(|(_, v)| v);
    assert_eq!(revision.as_deref(), Some(head.as_str()));

    // The Dockerfile checked out through a filter: the tool would check
    // other bytes than docker builds.
    ws.git(&["replace", "-d", &head]);
    std::fs::write(
        ws.root().join(".git/info/attributes"),
        "env-files/fix/Dockerfile filter=swap\n",
    )
    .unwrap();
    // A filter that round-trips, as LFS's does: git status sees the blob.
    ws.git(&["config", "filter.swap.smudge", "sed s/^COPY/#COPY/"]);
    ws.git(&["config", "filter.swap.clean", "sed s/^#COPY/COPY/"]);
    std::fs::remove_file(ws.root().join("env-files/fix/Dockerfile")).unwrap();
    ws.git(&["checkout", "--", "env-files/fix/Dockerfile"]);
    assert_eq!(ws.git(&["status", "--porcelain"]), "", "git sees no change");
    let run = ws.xtask(&["image", "build", "fix"], None, &[]);
    run.expect(2);
    let line = run.error_line();
    assert!(
        line.contains("env-files/fix/Dockerfile") && line.contains("filter"),
        "{line}"
    );
    assert_eq!(run.stderr.matches("error").count(), 1, "{}", run.stderr);
}

/// A kept context is verified each time it is used: a file added, one
/// removed, one changed (same size) or with another mode is noticed, and
/// the context written again from the commit.
#[test]
fn a_tampered_kept_context_is_written_again() {
    let Some(EngineTest {
        registry,
        base: _,
        ws,
    }) = EngineTest::start("ctx-tamper", JAMMY)
    else {
        return;
    };
    let reference = release(&registry);
    let _cleanup = Cleanup::new(&[&reference]);
    copy_all(&ws);
    ws.write("app.txt", "committed\n");
    ws.commit();
    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    let kept = contexts(&ws).join(ws.head());
    assert_eq!(
        std::fs::read_to_string(kept.join("app.txt")).unwrap(),
        "committed\n"
    );
    std::fs::write(kept.join("injected.env"), "SECRET=not-in-any-commit\n").unwrap();
    std::fs::write(kept.join("app.txt"), "tampered!\n").unwrap();
    std::fs::remove_file(kept.join("pyproject.toml")).unwrap();

    let run = ws.xtask(&["image", "build", "fix"], None, &[]);
    run.expect(0);
    assert!(
        run.stderr.contains("is not the commit's") && run.stderr.contains("injected.env"),
        "{}",
        run.stderr
    );
    assert_eq!(app_file(&reference, "app.txt"), "committed");
    let names = app_names(&reference);
    assert!(
        !names.contains("injected.env") && names.contains("pyproject.toml"),
        "{names}"
    );
    assert!(!kept.join("injected.env").exists());

    // Another mode only: noticed too.
    std::fs::set_permissions(kept.join("app.txt"), PermissionsExt::from_mode(0o600)).unwrap();
    let run = ws.xtask(&["image", "build", "fix"], None, &[]);
    run.expect(0);
    assert!(run.stderr.contains("app.txt: mode 600"), "{}", run.stderr);
    let mode = std::fs::metadata(kept.join("app.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644);
}

/// Set a path's modification time.
fn age(path: &Path, when: SystemTime) {
    std::fs::File::open(path)
        .unwrap()
        .set_modified(when)
        .unwrap();
}

/// Pruning keeps the most recent contexts and never one a build holds
/// (a shared lock, here held by the test), and removes the leftovers of
/// runs an hour old (`.new-*`, `.index-*` of an earlier version) but not a
/// fresh one, which a running build may be writing.
#[test]
fn prune_spares_held_contexts_and_removes_stale_leftovers() {
    let Some(EngineTest {
        registry,
        base: _,
        ws,
    }) = EngineTest::start("ctx-prune", JAMMY)
    else {
        return;
    };
    let reference = release(&registry);
    let _cleanup = Cleanup::new(&[&reference]);
    let root = contexts(&ws);
    std::fs::create_dir_all(&root).unwrap();
    let old = SystemTime::now() - Duration::from_secs(7200);
    let name = |i: u32| root.join(format!("{i:040}"));
    for i in 1..=4 {
        std::fs::create_dir(name(i)).unwrap();
        std::fs::write(name(i).join("f"), "x").unwrap();
        age(&name(i), old + Duration::from_secs(u64::from(i)));
    }
    // The oldest, held by a build (this test).
    let held = std::fs::File::open(name(1)).unwrap();
    held.lock_shared().unwrap();
    let stale = [root.join(".new-1-00ff"), root.join(".index-1-00ff")];
    std::fs::create_dir(&stale[0]).unwrap();
    std::fs::write(&stale[1], "index").unwrap();
    for s in &stale {
        age(s, old);
    }
    let fresh = root.join(".new-2-00ff");
    std::fs::create_dir(&fresh).unwrap();

    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    // Kept: HEAD's (just used), the two most recent others, the held one.
    assert!(root.join(ws.head()).is_dir());
    for (i, kept) in [(1, true), (2, false), (3, true), (4, true)] {
        assert_eq!(name(i).is_dir(), kept, "{}", name(i).display());
    }
    assert!(name(1).join("f").is_file(), "a held context is whole");
    assert!(!stale[0].exists() && !stale[1].exists());
    assert!(fresh.is_dir());
    drop(held);
}

/// Every entry under `dir` with its modification time and size.
fn snapshot(dir: &Path) -> Vec<(PathBuf, SystemTime, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                stack.push(p.clone());
            }
            out.push((p, m.modified().unwrap(), m.len()));
        }
    }
    out.sort();
    out
}

/// A dry run writes nothing to the cache: no prune, no touch, no context
/// written (from an empty cache, no folder at all).
#[test]
fn a_dry_run_writes_nothing_to_the_cache() {
    let Some(EngineTest {
        registry,
        base: _,
        ws,
    }) = EngineTest::start("ctx-dry", JAMMY)
    else {
        return;
    };
    let reference = release(&registry);
    let _cleanup = Cleanup::new(&[&reference]);
    ws.xtask(&["image", "build", "fix", "--dry-run"], None, &[])
        .expect(0);
    assert!(!ws.home.path().join(".cache").exists());

    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    let root = contexts(&ws);
    let old = SystemTime::now() - Duration::from_secs(7200);
    for i in 1..=4u32 {
        let dir = root.join(format!("{i:040}"));
        std::fs::create_dir(&dir).unwrap();
        age(&dir, old);
    }
    std::fs::create_dir(root.join(".new-1-00ff")).unwrap();
    age(&root.join(".new-1-00ff"), old);
    age(&root.join(ws.head()), old);
    let before = snapshot(&root);
    assert_eq!(
        before
            .iter()
            .filter(|e| e.0.parent() == Some(&root))
            .count(),
        6
    );
    ws.xtask(&["image", "build", "fix", "--dry-run"], None, &[])
        .expect(0);
    assert_eq!(snapshot(&root), before);
    // A tampered kept context: a dry run says so and leaves it.
    std::fs::write(root.join(ws.head()).join("x"), "x").unwrap();
    let before = snapshot(&root);
    let run = ws.xtask(&["image", "build", "fix", "--dry-run"], None, &[]);
    run.expect(0);
    assert!(run.stderr.contains("is not the commit's"), "{}", run.stderr);
    assert_eq!(snapshot(&root), before);
}

/// A clean build is shaped only by tracked files: an ignored catalog,
/// pyproject.toml or Dockerfile is refused in one line naming it (the
/// context is the commit, which does not hold them).
#[test]
fn a_clean_build_refuses_untracked_files_that_shape_it() {
    let Some(EngineTest {
        registry,
        base: _,
        ws,
    }) = EngineTest::start("ctx-tracked", JAMMY)
    else {
        return;
    };
    let reference = release(&registry);
    let _cleanup = Cleanup::new(&[&reference]);
    for file in [
        "env-files/images.toml",
        "pyproject.toml",
        "env-files/fix/Dockerfile",
    ] {
        ws.git(&["rm", "-q", "--cached", file]);
        ws.write(".gitignore", &format!("{file}\n"));
        ws.commit();
        assert_eq!(ws.git(&["status", "--porcelain"]), "", "{file} ignored");
        let run = ws.xtask(&["image", "build", "fix"], None, &[]);
        run.expect(2);
        let line = run.error_line();
        assert!(
            line.contains(&format!("{file} is not tracked by git")),
            "{line}"
        );
        assert!(!run.stderr.contains("+ docker build "), "{}", run.stderr);
        std::fs::remove_file(ws.root().join(".gitignore")).unwrap();
        ws.git(&["add", "-A"]);
        ws.commit();
    }
    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
}

/// A project in a folder of a larger repository (a monorepo): the clean
/// context is that folder of HEAD's tree, nothing above it.
#[test]
fn a_project_in_a_folder_of_its_repository_builds_that_folder() {
    let Some(EngineTest {
        registry,
        base: _,
        ws,
    }) = EngineTest::start("ctx-mono", JAMMY)
    else {
        return;
    };
    let reference = release(&registry);
    let _cleanup = Cleanup::new(&[&reference]);
    copy_all(&ws);
    ws.commit();
    // The same files, one folder down, in a repository of their own.
    let mono = Workspace::new("ctx-mono-repo", &[("top.txt", "top\n".to_string())]);
    let proj = mono.root().join("tools/images");
    for rel in [
        "pyproject.toml",
        "env-files/images.toml",
        "env-files/fix/Dockerfile",
    ] {
        let to = proj.join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(ws.root().join(rel), to).unwrap();
    }
    mono.commit();
    let run = |args: &[&str]| -> Run {
        let mut cmd = pinned(
            std::process::Command::new(env!("CARGO_BIN_EXE_xtask")),
            mono.home.path(),
        );
        cmd.arg("--root").arg(&proj).args(args);
        Run::from(cmd.output().unwrap())
    };
    run(&["image", "build", "fix"]).expect(0);
    assert_eq!(
        app_names(&reference),
        "[b'env-files/fix/Dockerfile', b'env-files/images.toml', b'pyproject.toml']"
    );
    let key = std::fs::read_dir(mono.home.path().join(".cache/itwinai-xtask/contexts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| !n.starts_with('.'))
        .unwrap();
    assert!(key.starts_with(&format!("{}-", mono.head())), "{key}");
    // A dirty development build: the folder's tracked files only.
    std::fs::write(proj.join("scratch.txt"), "x").unwrap();
    let dev = format!(
        "{}/itwinai-dev:0.2.2-torch2.6-jammy-{}-dirty",
        registry.host(),
        &mono.head()[..12]
    );
    let _dev_cleanup = Cleanup::new(&[&dev]);
    run(&["image", "build", "fix", "--dev"]).expect(0);
    assert!(!app_names(&dev).contains("top.txt"));
}

/// An untracked file made while a clean build runs changes nothing it
/// built (its context is the commit): the image is kept.
#[test]
fn an_untracked_file_made_during_a_clean_build_keeps_it() {
    let Some(EngineTest {
        registry,
        base: _,
        ws,
    }) = EngineTest::start("ctx-untracked", JAMMY)
    else {
        return;
    };
    let reference = release(&registry);
    let _cleanup = Cleanup::new(&[&reference]);
    let notes = ws.root().join("notes.txt");
    let wrapper = docker_wrapper(
        "ctx-untracked",
        &format!(
            "if [ \"$1\" = build ]; then echo notes > '{}'; fi",
            notes.display()
        ),
    );
    let run = ws.xtask(&["image", "build", "fix"], Some(wrapper.path()), &[]);
    run.expect(0);
    assert!(notes.is_file());
    assert!(docker_ok(&["image", "inspect", &reference]));
    // A tracked file changed meanwhile still discards it.
    std::fs::remove_file(&notes).unwrap();
    let wrapper = docker_wrapper(
        "ctx-tracked-change",
        &format!(
            "if [ \"$1\" = build ]; then echo changed >> '{}'; fi",
            ws.root().join("pyproject.toml").display()
        ),
    );
    let run = ws.xtask(&["image", "build", "fix"], Some(wrapper.path()), &[]);
    run.expect(1);
    assert!(
        run.error_line().contains("the working tree changed"),
        "{}",
        run.error_line()
    );
}

/// A sparse checkout (thousands of files flagged skip-worktree) is refused
/// for a release in one short line that says how to end it.
#[test]
fn a_sparse_checkout_is_refused_in_one_short_line() {
    let Some(EngineTest {
        registry,
        base: _,
        ws,
    }) = EngineTest::start("ctx-sparse", JAMMY)
    else {
        return;
    };
    let _ = registry;
    for i in 0..2000 {
        ws.write(&format!("data/f{i}"), &format!("{i}\n"));
    }
    ws.commit();
    ws.git(&["sparse-checkout", "set", "--no-cone", "/*", "!/data/"]);
    assert!(!ws.root().join("data").exists());
    let run = ws.xtask(&["image", "build", "fix"], None, &[]);
    run.expect(2);
    let line = run.error_line();
    assert!(
        line.contains("2000 tracked files")
            && line.contains("and 1997 more")
            && line.contains("git sparse-checkout disable"),
        "{line}"
    );
    assert!(run.stderr.len() < 1000, "{}", run.stderr.len());
}

/// A tracked file whose name is not UTF-8 is in both a clean and a dirty
/// build's context; an untracked file is in neither.
#[test]
fn non_utf8_names_are_built_and_untracked_files_are_not() {
    let Some(EngineTest {
        registry,
        base: _,
        ws,
    }) = EngineTest::start("ctx-names", JAMMY)
    else {
        return;
    };
    let _ = registry.host();
    copy_all(&ws);
    let name: &std::ffi::OsStr = std::os::unix::ffi::OsStrExt::from_bytes(b"caf\xe9.txt");
    let odd = ws.root().join(name);
    std::fs::write(&odd, "x").unwrap();
    ws.commit();
    let dev = format!(
        "{}/itwinai-dev:0.2.2-torch2.6-jammy-{}",
        registry.host(),
        &ws.head()[..12]
    );
    let dirty = format!("{dev}-dirty");
    let _cleanup = Cleanup::new(&[&dev, &dirty]);
    ws.xtask(&["image", "build", "fix", "--dev"], None, &[])
        .expect(0);
    ws.write("untracked.txt", "scratch\n");
    ws.xtask(&["image", "build", "fix", "--dev"], None, &[])
        .expect(0);
    let clean_names = app_names(&dev);
    assert!(clean_names.contains(r"b'caf\xe9.txt'"), "{clean_names}");
    assert_eq!(app_names(&dirty), clean_names);
}

/// Files 0644 (0755 when executable) and folders 0755 in the context,
/// whatever the umask of whoever wrote it first.
#[test]
fn modes_do_not_follow_the_umask() {
    let Some(EngineTest {
        registry,
        base: _,
        ws,
    }) = EngineTest::start("ctx-umask", JAMMY)
    else {
        return;
    };
    let reference = release(&registry);
    let _cleanup = Cleanup::new(&[&reference]);
    copy_all(&ws);
    ws.write("bin/run", "#!/usr/bin/env python3\n");
    std::fs::set_permissions(ws.root().join("bin/run"), PermissionsExt::from_mode(0o755)).unwrap();
    ws.commit();
    let strict = TempDir::new("ctx-umask-bin");
    let script = strict.path().join("xtask");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\numask 077\nexec '{}' \"$@\"\n",
            env!("CARGO_BIN_EXE_xtask")
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, PermissionsExt::from_mode(0o755)).unwrap();
    let mut cmd = pinned(std::process::Command::new(&script), ws.home.path());
    cmd.arg("--root")
        .arg(ws.root())
        .args(["image", "build", "fix"]);
    Run::from(cmd.output().unwrap()).expect(0);
    let modes = in_image(
        &reference,
        "import os;print(*(oct(os.stat('/app/'+p).st_mode&0o777) for p in ['pyproject.toml','bin/run','bin','env-files/fix']))",
    );
    assert_eq!(modes, "0o644 0o755 0o755 0o755");
}

/// A dirty development build copies the tracked files of the working tree,
/// never a file reached through a folder that is now a symbolic link: the
/// file outside the repository it points at stays out of the image.
#[test]
fn a_dirty_build_follows_no_folder_link_out_of_the_repository() {
    let Some(EngineTest {
        registry,
        base: _,
        ws,
    }) = EngineTest::start("ctx-link", JAMMY)
    else {
        return;
    };
    copy_all(&ws);
    ws.write("secrets/config.txt", "in the repository\n");
    ws.write("secrets/kept.txt", "kept\n");
    ws.commit();
    let outside = TempDir::new("ctx-link-outside");
    std::fs::write(outside.path().join("config.txt"), "OUTSIDE\n").unwrap();
    std::fs::remove_dir_all(ws.root().join("secrets")).unwrap();
    std::os::unix::fs::symlink(outside.path(), ws.root().join("secrets")).unwrap();
    let dirty = format!(
        "{}/itwinai-dev:0.2.2-torch2.6-jammy-{}-dirty",
        registry.host(),
        &ws.head()[..12]
    );
    let _cleanup = Cleanup::new(&[&dirty]);
    ws.xtask(&["image", "build", "fix", "--dev"], None, &[])
        .expect(0);
    let names = app_names(&dirty);
    assert!(!names.contains("secrets"), "{names}");
    assert!(names.contains("pyproject.toml"), "{names}");
}

/// A Dockerfile or pyproject.toml committed as a symbolic link (here to an
/// ignored file of the working tree) is refused before anything is built,
/// clean or dirty: the file it points at is in no commit.
#[test]
fn a_dockerfile_or_pyproject_committed_as_a_link_is_refused() {
    let Some(EngineTest {
        registry,
        base: _,
        ws,
    }) = EngineTest::start("ctx-flink", JAMMY)
    else {
        return;
    };
    let _ = registry.host();
    let dockerfile = ws.root().join("env-files/fix/Dockerfile");
    let text = std::fs::read_to_string(&dockerfile).unwrap();
    ws.write(".gitignore", "local.*\n");
    ws.write(
        "env-files/fix/local.Dockerfile",
        &format!("{text}COPY pyproject.toml /INJECTED\n"),
    );
    std::fs::remove_file(&dockerfile).unwrap();
    std::os::unix::fs::symlink(
        ws.root().join("env-files/fix/local.Dockerfile"),
        &dockerfile,
    )
    .unwrap();
    ws.commit();
    for (args, dirty) in [
        (&["image", "build", "fix"][..], false),
        (&["image", "build", "fix", "--dev"], false),
        (&["image", "build", "fix", "--dev"], true),
    ] {
        if dirty {
            ws.write("notes.txt", "not committed\n");
        }
        let run = ws.xtask(args, None, &[]);
        run.expect(2);
        assert!(
            run.error_line()
                .contains("env-files/fix/Dockerfile is a symbolic link in git"),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains("+ docker build "), "{}", run.stderr);
        assert!(!run.stderr.contains("+ git cat-file"), "{}", run.stderr);
    }
    std::fs::remove_file(ws.root().join("notes.txt")).unwrap();
    std::fs::remove_file(&dockerfile).unwrap();
    std::fs::write(&dockerfile, &text).unwrap();
    let pyproject = ws.root().join("pyproject.toml");
    std::fs::rename(&pyproject, ws.root().join("local.pyproject.toml")).unwrap();
    std::os::unix::fs::symlink(ws.root().join("local.pyproject.toml"), &pyproject).unwrap();
    ws.commit();
    let run = ws.xtask(&["image", "build", "fix"], None, &[]);
    run.expect(2);
    assert!(
        run.error_line()
            .contains("pyproject.toml is a symbolic link in git"),
        "{}",
        run.stderr
    );
}
