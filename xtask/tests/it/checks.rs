//! The checks that stand between an image and the registry, against a real
//! engine and a real registry on 127.0.0.1: an image that lies (made by
//! hand, not by the tool) is never published or promoted; a build names
//! what differs; a dirty tree is built and labelled but never released; a
//! tree that changes during a build undoes the build; the probe's cache
//! spares the container on a labels-only rebuild; and `--dry-run` prints
//! every step without changing anything.

use crate::support::*;

const OCI: &str = "org.opencontainers.image";
const DIRTY: &str = "eu.intertwin.itwinai.tree-dirty";
const TAG: &str = "0.2.2-torch2.6-jammy";

/// `<host>/itwinai:0.2.2-torch2.6-jammy`, the fixture's release reference.
fn release(registry: &Registry) -> String {
    format!("{}/itwinai:{TAG}", registry.host())
}

fn label(image: &str, key: &str) -> Option<String> {
    labels(image)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// With plain `docker build` (not the tool): `reference`, built FROM `base`
/// (`<host>/<name>:1`, served by `registry`) plus one COPY layer, carrying
/// all six OCI labels with plausible values: version 0.2.2, ref.name the
/// reference itself, revision HEAD of `ws`, a creation date, the base's
/// name, and the digest the registry reports for the base.
fn hand_built(registry: &Registry, ws: &Workspace, reference: &str, base: &str) {
    hand_built_with(
        registry,
        ws,
        reference,
        base,
        &[("marker", "hand-built\n")],
        "",
    );
}

/// [`hand_built`], with `files` (relative path, contents) as the COPY layer
/// (copied to /) and `extra` Dockerfile lines after it.
fn hand_built_with(
    registry: &Registry,
    ws: &Workspace,
    reference: &str,
    base: &str,
    files: &[(&str, &str)],
    extra: &str,
) {
    let (repo, tag) = base.rsplit_once(':').unwrap();
    let name = repo.split_once('/').unwrap().1;
    let digest = registry
        .digest(name, tag)
        .expect("the registry serves the base");
    let dir = TempDir::new("hand-built");
    for (rel, text) in files {
        let p = dir.path().join("root").join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!("FROM {base}\nCOPY root/ /\n{extra}"),
    )
    .unwrap();
    let l = |k: &str, v: &str| format!("{OCI}.{k}={v}");
    let labels = [
        l("version", "0.2.2"),
        l("ref.name", reference),
        l("revision", &ws.head()),
        l("created", CREATION_DATE),
        l("base.name", base),
        l("base.digest", &format!("{repo}@{digest}")),
    ];
    let mut args = vec!["build", "-q", "-t", reference];
    for x in &labels {
        args.extend(["--label", x.as_str()]);
    }
    args.push(dir.path().to_str().unwrap());
    docker(&args);
}

/// What the image's own `python3` prints for `program` (given on stdin; no
/// network, nothing else of the image runs).
fn python3_says(image: &str, program: &str) -> String {
    docker_with_input(
        &[
            "run",
            "--rm",
            "-i",
            "--network",
            "none",
            "--entrypoint",
            "python3",
            image,
            "-",
        ],
        program,
    )
    .trim()
    .to_string()
}

/// The differences an `… does not tell the truth: A; B; nothing pushed…`
/// (or `… does not tell the truth: A; B`) line names.
fn differences(line: &str) -> Vec<String> {
    let rest = line
        .split_once("does not tell the truth: ")
        .unwrap_or_else(|| panic!("not a check failure: {line}"))
        .1;
    let rest = rest.split("; nothing pushed").next().unwrap();
    rest.split("; ").map(str::to_string).collect()
}

#[test]
fn push_refuses_a_lying_image() {
    let Some(EngineTest {
        registry,
        base: noble,
        ws,
    }) = EngineTest::start("chk-lie", NOBLE)
    else {
        return;
    };
    let old_torch = seeded_base(&registry, OLD_TORCH);
    let reference = release(&registry);
    let alias = format!("{}/itwinai:fix-latest", registry.host());
    let _cleanup = Cleanup::new(&[&reference, &alias, &noble, &old_torch]);

    // (1) The catalog says jammy; the image is noble.
    hand_built(&registry, &ws, &reference, &noble);
    let run = ws.xtask(&["image", "push", "fix"], None, &[]);
    run.expect(1);
    let line = run.error_line();
    assert_eq!(
        differences(&line),
        ["/etc/os-release says VERSION_CODENAME=noble, but the catalog's distro is 'jammy'"],
        "the codename, and nothing else, is named: {line}"
    );
    assert!(line.contains("nothing pushed"), "{line}");
    assert!(!wrote_to_registry(&run.stderr), "{}", run.stderr);
    assert_eq!(registry.tags("itwinai"), Vec::<String>::new());
    let run = ws.xtask(&["image", "push", "fix", "--latest"], None, &[]);
    run.expect(1);
    assert!(
        run.error_line().contains("VERSION_CODENAME=noble"),
        "{}",
        run.stderr
    );
    assert_eq!(registry.tags("itwinai"), Vec::<String>::new(), "no alias");

    // (2) The codename is right, the framework is not (on the base the
    // catalog now declares).
    let catalog_text = std::fs::read_to_string(ws.root().join("env-files/images.toml")).unwrap();
    ws.write(
        "env-files/images.toml",
        &format!("{catalog_text}base-image = \"{old_torch}\"\n"),
    );
    ws.commit();
    hand_built(&registry, &ws, &reference, &old_torch);
    for args in [
        &["image", "push", "fix"][..],
        &["image", "push", "fix", "--latest"],
    ] {
        let run = ws.xtask(args, None, &[]);
        run.expect(1);
        let line = run.error_line();
        assert_eq!(
            differences(&line),
            ["torch 2.5.1 is installed, but the tag says torch 2.6"],
            "{args:?}: {line}"
        );
        assert!(!wrote_to_registry(&run.stderr), "{}", run.stderr);
        assert_eq!(registry.tags("itwinai"), Vec::<String>::new(), "{args:?}");
    }
    assert!(!docker_ok(&["image", "inspect", &alias]));
}

#[test]
fn tag_from_refuses_a_lying_source() {
    let Some(EngineTest {
        registry,
        base: noble,
        ws,
    }) = EngineTest::start("chk-lie-tag", NOBLE)
    else {
        return;
    };
    // Named as a development image of the flavour at this version: only
    // its codename lies.
    let source = format!(
        "{}/itwinai-dev:0.2.2-torch2.6-jammy-{}",
        registry.host(),
        &ws.head()[..12]
    );
    let prod = release(&registry);
    let _cleanup = Cleanup::new(&[&source, &prod, &noble]);
    hand_built(&registry, &ws, &source, &noble);

    // The development push checks it: the lie is found, nothing written.
    let run = ws.xtask(&["image", "push", "fix", "--dev"], None, &[]);
    run.expect(1);
    let line = run.error_line();
    assert!(line.contains(&source), "{line}");
    assert_eq!(
        differences(&line),
        ["/etc/os-release says VERSION_CODENAME=noble, but the catalog's distro is 'jammy'"],
        "{line}"
    );
    assert_eq!(registry.tags("itwinai-dev"), Vec::<String>::new());

    // Pushed around the tool, it carries no evidence of a checked, tested
    // image: the promotion refuses it and writes nothing.
    docker(&["push", &source]);
    let run = ws.xtask(&["image", "tag", "fix", "--from", &source], None, &[]);
    run.expect(1);
    let line = run.error_line();
    assert!(
        line.contains("no evidence that the checks of flavour 'fix' passed")
            && line.contains("nothing was promoted"),
        "{line}"
    );
    assert!(!run.stderr.contains("+ docker build "), "{}", run.stderr);
    assert!(
        !docker_ok(&["image", "inspect", &prod]),
        "{prod} must not exist"
    );
    assert_eq!(registry.tags("itwinai"), Vec::<String>::new());
}

#[test]
fn build_names_both_framework_versions() {
    let Some(EngineTest { registry, base, ws }) = EngineTest::start("chk-fw", OLD_TORCH) else {
        return;
    };
    let _cleanup = Cleanup::new(&[&release(&registry), &base]);
    let run = ws.xtask(&["image", "build", "fix"], None, &[]);
    run.expect(1);
    let line = run.error_line();
    assert!(
        line.contains("torch 2.5.1") && line.contains("torch 2.6"),
        "{line}"
    );
    assert_eq!(
        differences(&line),
        ["torch 2.5.1 is installed, but the tag says torch 2.6"],
        "{line}"
    );
    assert!(run.stderr.contains("+ docker build "), "{}", run.stderr);
    // The line names the image that failed by its ID (it has no name),
    // and says the name was not moved to it.
    let reference = release(&registry);
    let filter = format!("label=org.opencontainers.image.ref.name={reference}");
    let built = docker(&["images", "-q", "--no-trunc", "--filter", &filter]);
    let built = built.trim();
    assert!(built.starts_with("sha256:"), "{built:?}");
    assert!(
        line.contains(&format!(
            "the image built for {reference} ({built}, left unnamed: {reference} was not moved to it)"
        )),
        "{line}"
    );
    assert!(!docker_ok(&["image", "inspect", &reference]));
}

#[test]
fn allow_dirty_release_is_built_but_never_pushed() {
    let Some(EngineTest { registry, base, ws }) = EngineTest::start("chk-dirty", JAMMY) else {
        return;
    };
    ws.write("notes.txt", "not committed\n");
    let reference = release(&registry);
    let alias = format!("{}/itwinai:fix-latest", registry.host());
    let _cleanup = Cleanup::new(&[&reference, &alias, &base]);

    let run = ws.xtask(&["image", "build", "fix", "--allow-dirty"], None, &[]);
    run.expect(0);
    assert!(
        run.stderr
            .contains("warning: building from a tree with uncommitted changes"),
        "{}",
        run.stderr
    );
    assert_eq!(label(&reference, DIRTY).as_deref(), Some("true"));
    assert_eq!(
        label(&reference, &format!("{OCI}.revision")),
        Some(ws.head())
    );

    // An alias moves from a clean tree only (its name is the catalog's).
    for args in [
        &["image", "push", "fix", "--latest", "--force"][..],
        &["image", "tag", "fix", "--latest", "--force"],
    ] {
        let run = ws.xtask(args, None, &[]);
        run.expect(2);
        assert!(
            run.error_line().contains(
                "the working tree has uncommitted changes (0 changed, 1 untracked): a -latest alias is moved as HEAD's catalog declares it"
            ),
            "{args:?}: {}",
            run.stderr
        );
    }
    // From the clean tree, the image itself is refused: it was built dirty.
    std::fs::remove_file(ws.root().join("notes.txt")).unwrap();
    for args in [
        &["image", "push", "fix"][..],
        &["image", "push", "fix", "--force"],
        &["image", "push", "fix", "--latest", "--force"],
    ] {
        let run = ws.xtask(args, None, &[]);
        run.expect(1);
        let line = run.error_line();
        assert!(
            line.contains("built from a working tree with uncommitted changes"),
            "{args:?}: {line}"
        );
        assert!(!wrote_to_registry(&run.stderr), "{}", run.stderr);
        assert_eq!(registry.tags("itwinai"), Vec::<String>::new(), "{args:?}");
    }
    // Nor is the local alias made.
    let run = ws.xtask(&["image", "tag", "fix", "--latest", "--force"], None, &[]);
    run.expect(1);
    assert!(
        run.error_line()
            .contains("built from a working tree with uncommitted changes"),
        "{}",
        run.stderr
    );
    assert!(!docker_ok(&["image", "inspect", &alias]));
}

#[test]
fn dirty_dev_build_is_tagged_dirty() {
    let Some(EngineTest { registry, base, ws }) = EngineTest::start("chk-dirty-dev", JAMMY) else {
        return;
    };
    ws.write("notes.txt", "not committed\n");
    let tag = format!("{TAG}-{}-dirty", &ws.head()[..12]);
    let dev = format!("{}/itwinai-dev:{tag}", registry.host());
    let prod = release(&registry);
    let _cleanup = Cleanup::new(&[&dev, &prod, &base]);

    ws.xtask(&["image", "build", "fix", "--dev"], None, &[])
        .expect(0);
    assert!(docker_ok(&["image", "inspect", &dev]), "{dev} was built");
    assert_eq!(label(&dev, DIRTY).as_deref(), Some("true"));
    assert_eq!(label(&dev, &format!("{OCI}.ref.name")), Some(dev.clone()));

    ws.xtask(&["image", "push", "fix", "--dev"], None, &[])
        .expect(0);
    assert_eq!(registry.tags("itwinai-dev"), [tag.as_str()]);
    assert_eq!(registry.tags("itwinai"), Vec::<String>::new());
    // The registry serves the local image.
    assert_eq!(
        registry.config_digest("itwinai-dev", &tag),
        Some(image_id(&dev))
    );

    // It is never promoted to a release: from the dirty tree, refused at
    // once (the rules must be HEAD's); from the clean tree, for its label.
    let run = ws.xtask(&["image", "tag", "fix", "--from", &dev], None, &[]);
    run.expect(2);
    assert!(
        run.error_line()
            .contains("a promotion into a release applies the catalog and pyproject.toml of HEAD"),
        "{}",
        run.stderr
    );
    std::fs::remove_file(ws.root().join("notes.txt")).unwrap();
    let run = ws.xtask(&["image", "tag", "fix", "--from", &dev], None, &[]);
    run.expect(1);
    assert!(
        run.error_line()
            .contains("built from a working tree with uncommitted changes"),
        "{}",
        run.stderr
    );
    assert!(!docker_ok(&["image", "inspect", &prod]));
    assert_eq!(registry.tags("itwinai"), Vec::<String>::new());
}

#[test]
fn a_tree_changed_during_the_build_fails_and_removes_the_tag() {
    let Some(EngineTest { registry, base, ws }) = EngineTest::start("chk-changed", JAMMY) else {
        return;
    };
    let reference = release(&registry);
    let _cleanup = Cleanup::new(&[&reference, &base]);
    // A good image first: a failed build leaves its name where it is.
    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    let good = image_id(&reference);
    let wrapper = docker_that_edits_at_build(&ws.root().join("pyproject.toml"));

    let run = ws.xtask(
        &["image", "build", "fix", "--no-cache"],
        Some(wrapper.path()),
        &[],
    );
    run.expect(1);
    let line = run.error_line();
    assert!(
        line.contains(&format!(
            "the working tree changed while {reference} was built"
        )),
        "{line}"
    );
    assert!(
        line.contains(&format!("it was not named {reference}")),
        "{line}"
    );
    assert!(run.stderr.contains("+ docker build "), "{}", run.stderr);
    assert!(
        ws.git(&["status", "--porcelain"])
            .contains("pyproject.toml"),
        "the wrapper edited the tree"
    );
    assert_eq!(
        image_id(&reference),
        good,
        "{reference} still names the good image"
    );
    // The build itself got no name: the repository holds only the good one.
    let (repository, tag) = reference.rsplit_once(':').unwrap();
    assert_eq!(
        docker(&["images", "--format", "{{.Tag}}", repository]).trim(),
        tag,
        "a name other than {reference} in {repository}"
    );
}

#[test]
fn a_rebuild_that_changes_only_labels_runs_no_container() {
    let Some(EngineTest { registry, base, ws }) = EngineTest::start("chk-cache", JAMMY) else {
        return;
    };
    let reference = release(&registry);
    let _cleanup = Cleanup::new(&[&reference, &base]);

    let run = ws.xtask(&["image", "build", "fix"], None, &[]);
    run.expect(0);
    assert!(run.stderr.contains("+ docker run"), "{}", run.stderr);
    let (id1, layers1) = (image_id(&reference), image_layers(&reference));

    // 100 s later: another CREATION_DATE, so another image ID, same layers.
    let run = ws.xtask(
        &["image", "build", "fix"],
        None,
        &[("SOURCE_DATE_EPOCH", "1700000100")],
    );
    run.expect(0);
    assert!(!run.stderr.contains("+ docker run"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("checked {reference}, as built (")),
        "{}",
        run.stderr
    );
    let id2 = image_id(&reference);
    assert_ne!(id1, id2, "the labels changed");
    assert_eq!(image_layers(&reference), layers1, "the layers did not");
    assert_eq!(
        label(&reference, &format!("{OCI}.created")).as_deref(),
        Some("2023-11-14T22:15:00+00:00")
    );

    let run = ws.xtask(&["image", "push", "fix"], None, &[]);
    run.expect(0);
    assert!(!run.stderr.contains("+ docker run"), "{}", run.stderr);
    assert!(run.stderr.contains("+ docker save"), "{}", run.stderr);
    assert_eq!(registry.tags("itwinai"), [TAG]);
    // The second build is what was published.
    assert_eq!(registry.config_digest("itwinai", TAG), Some(id2));
}

#[test]
fn push_dry_run_prints_every_step() {
    let Some(EngineTest { registry, base, ws }) = EngineTest::start("chk-dry", JAMMY) else {
        return;
    };
    let reference = release(&registry);
    let alias = format!("{}/itwinai:fix-latest", registry.host());
    let _cleanup = Cleanup::new(&[&reference, &alias, &base]);
    // What would change state, and the checks around it, in order.
    let writes = |stdout: &str| -> Vec<String> {
        stdout
            .lines()
            .filter(|l| !l.starts_with("# read-only: "))
            .map(str::to_string)
            .collect()
    };
    // `id_word`: the ID as the shell line quotes it.
    // Every write is the registry client's: the image by its ID, then
    // the manifest under each tag; no docker command writes.
    let want = |id: &str| {
        let repository = reference.rsplit_once(':').unwrap().0;
        let digest = format!("<digest of {reference} as read back>");
        [
            format!("# check that the registry serves nothing under {reference}"),
            format!("# write the image {id} into {repository} by digest: docker save of the ID, each blob the registry lacks uploaded, the manifest by digest"),
            format!("# write the manifest {digest} under {reference}"),
            format!("# check that the registry serves the image {id} under {reference}"),
            format!("# check that the registry serves nothing under {alias}"),
            format!("# write the manifest {digest} under {alias}"),
            format!("# check that the registry serves the image {id} under {alias}"),
        ]
    };
    let push_dry_run = &["image", "push", "fix", "--latest", "--dry-run"];

    // Not built yet: the same plan, the image ID a placeholder, and a note.
    let run = ws.xtask(push_dry_run, None, &[]);
    run.expect(0);
    assert_eq!(
        writes(&run.stdout),
        want(&format!("<image ID of {reference}>")),
        "stdout:\n{}",
        run.stdout
    );
    assert!(
        run.stderr.contains(&format!(
            "note: {reference} is not built yet (`cargo xtask image build fix`)"
        )),
        "{}",
        run.stderr
    );

    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    let id = image_id(&reference);

    let run = ws.xtask(push_dry_run, None, &[]);
    run.expect(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(writes(&run.stdout), want(&id), "stdout:\n{}", run.stdout);

    // The registry is read before anything would be written: both tags
    // when deciding, and each again right before its write.
    let lookup = |r: &str| manifest_read_line(r);
    let at = |l: &str| {
        lines
            .iter()
            .position(|x| *x == l)
            .unwrap_or_else(|| panic!("no line {l:?} in:\n{}", run.stdout))
    };
    let all = |l: &str| {
        lines
            .iter()
            .enumerate()
            .filter(|(_, x)| **x == l)
            .map(|(i, _)| i)
            .collect::<Vec<_>>()
    };
    let ref_lookups = all(&lookup(&reference));
    let alias_lookups = all(&lookup(&alias));
    assert_eq!(
        ref_lookups.len(),
        3,
        "decide, guard, read-back:\n{}",
        run.stdout
    );
    assert_eq!(
        alias_lookups.len(),
        3,
        "decide, guard, read-back:\n{}",
        run.stdout
    );
    let repository = reference.rsplit_once(':').unwrap().0;
    let write_ref = at(&format!("# write the image {id} into {repository} by digest: docker save of the ID, each blob the registry lacks uploaded, the manifest by digest"));
    let digest = format!("<digest of {reference} as read back>");
    let tag_ref = at(&format!("# write the manifest {digest} under {reference}"));
    let tag_alias = at(&format!("# write the manifest {digest} under {alias}"));
    let guard_ref = at(&format!(
        "# check that the registry serves nothing under {reference}"
    ));
    let guard_alias = at(&format!(
        "# check that the registry serves nothing under {alias}"
    ));
    assert_eq!(ref_lookups[1], guard_ref + 1, "{}", run.stdout);
    assert_eq!(alias_lookups[1], guard_alias + 1, "{}", run.stdout);
    assert!(ref_lookups[0] < alias_lookups[0], "{}", run.stdout);
    assert!(
        alias_lookups[0] < guard_ref,
        "all decided first:\n{}",
        run.stdout
    );
    assert!(ref_lookups[1] < write_ref && write_ref < tag_ref);
    assert!(tag_ref < ref_lookups[2] && ref_lookups[2] < guard_alias);
    assert!(alias_lookups[1] < tag_alias && tag_alias < alias_lookups[2]);

    // Nothing changed: nothing saved or written, nothing in the registry,
    // no alias.
    assert!(!run.stderr.contains("+ docker save"), "{}", run.stderr);
    assert!(!run.stderr.contains("--request PUT"), "{}", run.stderr);
    assert!(!run.stderr.contains("--request POST"), "{}", run.stderr);
    assert_eq!(registry.tags("itwinai"), Vec::<String>::new());
    assert!(!docker_ok(&["image", "inspect", &alias]));
}

#[test]
fn a_config_only_change_is_probed_again() {
    let Some(EngineTest { registry, base, ws }) = EngineTest::start("chk-config", JAMMY) else {
        return;
    };
    let reference = release(&registry);
    let _cleanup = Cleanup::new(&[&reference, &base]);
    // A layer that also holds torch 2.5.1's metadata, off sys.path.
    let old = [(
        "opt/old/torch-2.5.1.dist-info/METADATA",
        "Metadata-Version: 2.1\nName: torch\nVersion: 2.5.1\n",
    )];
    // What the image's own python3 says, the program read from stdin.
    let torch = |image: &str| {
        python3_says(
            image,
            "import importlib.metadata as m\nprint(m.version('torch'))\n",
        )
    };

    // Truthful: python3 finds torch 2.6.0. Checked, which caches what the
    // probe read for these layers (not by a dry run, which writes nothing,
    // its cache included); refused only because the tool did not build it
    // (a release needs that), so nothing is pushed.
    hand_built_with(&registry, &ws, &reference, &base, &old, "");
    assert_eq!(torch(&reference), "2.6.0");
    let layers_truthful = image_layers(&reference);
    let cache_files = || {
        let dir = ws.home.path().join(".cache/itwinai-xtask");
        let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
            .map(|d| d.flatten().collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e.path().is_file())
            .map(|e| {
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                (e.file_name().to_string_lossy().into_owned(), text)
            })
            .collect();
        files.sort();
        files
    };
    for args in [
        &["image", "push", "fix", "--dry-run"][..],
        &["image", "push", "fix"],
    ] {
        let before = cache_files();
        let run = ws.xtask(args, None, &[]);
        run.expect(1);
        assert!(run.stderr.contains("+ docker run"), "{}", run.stderr);
        assert!(
            run.error_line()
                .contains("tells the truth, but this tool's cache holds no record that it built this image from a clean commit"),
            "{}",
            run.stderr
        );
        let dry = args.contains(&"--dry-run");
        assert_eq!(
            cache_files() == before,
            dry,
            "{args:?}: the cache written only by a run"
        );
    }
    assert_eq!(registry.tags("itwinai"), Vec::<String>::new());

    // The same layers, one ENV more (no layer): python3 now finds 2.5.1.
    hand_built_with(
        &registry,
        &ws,
        &reference,
        &base,
        &old,
        "ENV PYTHONPATH=/opt/old\n",
    );
    assert_eq!(image_layers(&reference), layers_truthful, "same layers");
    assert_eq!(torch(&reference), "2.5.1", "the image lies");

    // Without the cache, the check sees it.
    let fresh = TempDir::new("fresh-cache");
    let cache = fresh.path().to_str().unwrap();
    let run = ws.xtask(
        &["image", "push", "fix"],
        None,
        &[("XDG_CACHE_HOME", cache)],
    );
    run.expect(1);
    assert!(
        run.error_line()
            .contains("torch 2.5.1 is installed, but the tag says torch 2.6"),
        "{}",
        run.stderr
    );
    assert_eq!(registry.tags("itwinai"), Vec::<String>::new());

    // With the cache it must see it too. (Here is the bug: exit 0, no
    // probe, and the lying image is published.)
    let run = ws.xtask(&["image", "push", "fix"], None, &[]);
    run.expect(1);
    assert!(
        run.error_line()
            .contains("torch 2.5.1 is installed, but the tag says torch 2.6"),
        "{}",
        run.stderr
    );
    assert_eq!(registry.tags("itwinai"), Vec::<String>::new());
}

#[test]
fn a_promoted_dev_tag_names_the_image_s_own_commit() {
    let Some(EngineTest { registry, base, ws }) = EngineTest::start("chk-dev-promo", JAMMY) else {
        return;
    };
    let dev = |head: &str| format!("{}/itwinai-dev:{TAG}-{}", registry.host(), &head[..12]);
    let a = ws.head();
    let mut cleanup = Cleanup::new(&[&dev(&a), &base]);
    ws.xtask(&["image", "build", "fix", "--dev"], None, &[])
        .expect(0);
    // A later commit; the image of commit A is promoted under the dev name.
    ws.write("README", "a later commit\n");
    ws.commit();
    let b = ws.head();
    assert_ne!(a, b);
    cleanup.0.push(dev(&b));
    let run = ws.xtask(
        &["image", "tag", "fix", "--dev", "--from", &dev(&a)],
        None,
        &[],
    );
    // Refusing is fine; making a tag that names commit B is not, unless
    // the image really is commit B's.
    if docker_ok(&["image", "inspect", &dev(&b)]) {
        assert_eq!(
            label(&dev(&b), &format!("{OCI}.revision")),
            Some(b.clone()),
            "{} names commit {b}, but its image was built from {a}:\n{}",
            dev(&b),
            run.stderr
        );
    }
}

/// A `docker build` by hand with every provenance value right (the old
/// recipe) tells the truth by every label, though what it copied is the
/// working tree's (an untracked file here): not a release nor an alias.
/// The tool's own build of the commit is, on the same machine.
#[test]
fn a_release_push_takes_only_the_tools_own_clean_build() {
    let Some(EngineTest { registry, base, ws }) = EngineTest::start("chk-foreign", JAMMY) else {
        return;
    };
    let reference = release(&registry);
    let alias = format!("{}/itwinai:fix-latest", registry.host());
    let _cleanup = Cleanup::new(&[&reference, &alias, &base]);
    hand_built_with(
        &registry,
        &ws,
        &reference,
        &base,
        &[("secret.txt", "UNTRACKED\n")],
        "",
    );
    for args in [
        &["image", "push", "fix"][..],
        &["image", "push", "fix", "--latest"],
    ] {
        let run = ws.xtask(args, None, &[]);
        run.expect(1);
        assert!(
            run.error_line().contains(
                "tells the truth, but this tool's cache holds no record that it built this image from a clean commit"
            ),
            "{args:?}: {}",
            run.stderr
        );
        assert!(!wrote_to_registry(&run.stderr), "{}", run.stderr);
    }
    assert_eq!(registry.tags("itwinai"), Vec::<String>::new());
    // Nor under HEAD's default development tag, which `release` promotes.
    let dev = format!("{}/itwinai-dev:{TAG}-{}", registry.host(), &ws.head()[..12]);
    let _dev = Cleanup::new(&[&dev]);
    hand_built_with(
        &registry,
        &ws,
        &dev,
        &base,
        &[("secret.txt", "UNTRACKED\n")],
        "",
    );
    let run = ws.xtask(&["image", "push", "fix", "--dev"], None, &[]);
    run.expect(1);
    assert!(
        run.error_line()
            .contains("tells the truth, but this tool's cache holds no record"),
        "{}",
        run.stderr
    );
    assert_eq!(registry.all_tags("itwinai-dev"), Vec::<String>::new());
    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    push_latest(&ws, &registry);
}

/// A release tag is first written only from HEAD's build: a fix committed
/// after the build (same version) is not published as the release by an
/// old build. An alias may still move later to a release that build
/// already published.
#[test]
fn a_release_is_first_published_from_heads_build_only() {
    let Some(EngineTest { registry, base, ws }) = EngineTest::start("chk-head", JAMMY) else {
        return;
    };
    let reference = release(&registry);
    let alias = format!("{}/itwinai:fix-latest", registry.host());
    let _cleanup = Cleanup::new(&[&reference, &alias, &base]);
    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    let built_at = ws.head();
    ws.write("NOTES.md", "a fix, committed after the build\n");
    ws.commit();
    let run = ws.xtask(&["image", "push", "fix"], None, &[]);
    run.refused_as_not_heads(&built_at, &ws.head());
    assert!(!wrote_to_registry(&run.stderr), "{}", run.stderr);
    assert_eq!(registry.tags("itwinai"), Vec::<String>::new());
    // Published from its own commit, its alias may follow from a later one.
    ws.git(&["checkout", "-q", &built_at]);
    ws.xtask(&["image", "push", "fix"], None, &[]).expect(0);
    ws.git(&["checkout", "-q", "-"]);
    push_latest(&ws, &registry);
}

/// A promotion into a release is HEAD's build too: an older commit's
/// tested development image (a fix committed since, same version) is not
/// published as the release by `image tag --from`; at its own commit it is.
#[test]
fn a_promotion_into_a_release_takes_heads_build_only() {
    let Some(EngineTest { registry, base, ws }) = EngineTest::start("chk-promote-head", JAMMY)
    else {
        return;
    };
    let prod = release(&registry);
    let built_at = ws.head();
    let dev = format!("{}/itwinai-dev:{TAG}-{}", registry.host(), &built_at[..12]);
    let _cleanup = Cleanup::new(&[&dev, &prod, &base]);
    for verb in ["build", "push"] {
        ws.xtask(&["image", verb, "fix", "--dev"], None, &[])
            .expect(0);
    }
    ws.write("NOTES.md", "a fix, committed after the development push\n");
    ws.commit();
    let run = ws.xtask(&["image", "tag", "fix", "--from", &dev], None, &[]);
    run.expect(1);
    assert!(
        run.error_line()
            .contains(&format!("not HEAD's commit {}", ws.head())),
        "{}",
        run.stderr
    );
    assert_eq!(registry.tags("itwinai"), Vec::<String>::new());
    ws.git(&["checkout", "-q", &built_at]);
    ws.xtask(&["image", "tag", "fix", "--from", &dev], None, &[])
        .expect(0);
    assert_eq!(registry.tags("itwinai"), [prod.rsplit(':').next().unwrap()]);
    // Promoted in the registry, the release is not local: a push of its
    // alias says how the alias moves instead.
    let run = ws.xtask(&["image", "push", "fix", "--latest"], None, &[]);
    run.expect(1);
    assert!(
        run.error_line()
            .contains("`cargo xtask release fix` at the commit it was built from moves its alias"),
        "{}",
        run.stderr
    );
    ws.xtask(&["release", "fix"], None, &[]).expect(0);
    assert_eq!(registry.tags("itwinai"), [TAG, "fix-latest"]);
}

/// The alias may follow a release published earlier after a rebuild made
/// the local image another one (a new CREATION_DATE): no-clobber refuses
/// the push, and its advice, a pull of what is published, works.
#[test]
fn an_alias_follows_a_published_release_after_a_rebuild_as_the_refusal_advises() {
    let Some(EngineTest { registry, base, ws }) = EngineTest::start("chk-alias-after", JAMMY)
    else {
        return;
    };
    let reference = release(&registry);
    let alias = format!("{}/itwinai:fix-latest", registry.host());
    let _cleanup = Cleanup::new(&[&reference, &alias, &base]);
    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    ws.xtask(&["image", "push", "fix"], None, &[]).expect(0);
    let published = image_id(&reference);
    ws.xtask(&["image", "build", "fix", "--no-cache"], None, &[])
        .expect(0);
    assert_ne!(image_id(&reference), published);
    let run = ws.xtask(&["image", "push", "fix", "--latest"], None, &[]);
    run.expect(1);
    assert!(
        run.error_line()
            .contains(&format!("`docker pull {reference}` and push again")),
        "{}",
        run.stderr
    );
    assert!(docker_ok(&["pull", "-q", &reference]));
    assert_eq!(image_id(&reference), published);
    push_latest(&ws, &registry);
}

/// The classic builder takes the base by its local name, which another
/// process on the engine may move between the tool's pull and the build
/// (here a docker that retags it to the base plus one layer right as the
/// build starts): the check sees the engine built on another image, the
/// built image gets no name, and nothing is published.
#[test]
fn a_base_retagged_during_the_build_is_caught() {
    let Some(EngineTest { registry, base, ws }) = EngineTest::start("chk-retag", JAMMY) else {
        return;
    };
    let reference = release(&registry);
    let evil = format!("{}/evil-base:1", registry.host());
    let _cleanup = Cleanup::new(&[&reference, &evil, &base]);
    let dir = TempDir::new("chk-retag-evil");
    std::fs::write(dir.path().join("evil"), "pwned\n").unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!("FROM {base}\nCOPY evil /evil\n"),
    )
    .unwrap();
    docker(&["build", "-q", "-t", &evil, dir.path().to_str().unwrap()]);
    let retag = docker_wrapper(
        "chk-retag-docker",
        &format!("if [ \"$1\" = build ]; then \"$REAL\" tag '{evil}' '{base}'; fi"),
    );
    let run = ws.xtask(&["image", "build", "fix"], Some(retag.path()), &[]);
    run.expect(1);
    assert!(
        run.error_line()
            .contains(&format!("built it on {}", image_id(&evil))),
        "{}",
        run.stderr
    );
    assert!(
        run.error_line().contains("not on the base pulled as"),
        "{}",
        run.stderr
    );
    assert!(!docker_ok(&["image", "inspect", &reference]), "no name");
    // The base back as the registry has it: the build passes, and only it
    // is published.
    docker(&["pull", "-q", &base]);
    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    ws.xtask(&["image", "push", "fix"], None, &[]).expect(0);
    assert_eq!(registry.tags("itwinai"), [TAG]);
}

/// A base with ONBUILD triggers: under the classic builder an image built
/// on it meanwhile (its triggers run there) would pass for the triggers'
/// own commits, so the build is refused and its image gets no name.
#[test]
fn a_classic_build_on_a_base_with_onbuild_triggers_is_refused() {
    let Some(EngineTest {
        registry,
        base,
        ws: _,
    }) = EngineTest::start("chk-onb", JAMMY)
    else {
        return;
    };
    let onb = format!("{}/onb-base:1", registry.host());
    let reference = release(&registry);
    let _cleanup = Cleanup::new(&[&onb, &reference, &base]);
    docker_with_input(
        &["build", "-q", "-t", &onb, "-"],
        &format!("FROM {base}\nONBUILD LABEL t=1\n"),
    );
    docker(&["push", "-q", &onb]);
    let ws = unique_workspace("chk-onb", &onb, &catalog(&registry.host(), ""));
    let run = ws.xtask(&["image", "build", "fix"], None, &[]);
    run.expect(1);
    assert!(
        run.error_line().contains("has 1 ONBUILD trigger(s)"),
        "{}",
        run.stderr
    );
    assert!(!docker_ok(&["image", "inspect", &reference]), "no name");
}

/// `image push fix --latest` passes, and the registry holds the release
/// and its alias.
fn push_latest(ws: &Workspace, registry: &Registry) {
    ws.xtask(&["image", "push", "fix", "--latest"], None, &[])
        .expect(0);
    assert_eq!(registry.tags("itwinai"), [TAG, "fix-latest"]);
}
