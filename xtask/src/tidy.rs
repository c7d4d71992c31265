//! Tidy checks over the repository's own files: the shipped catalog, the
//! pyproject version, the Dockerfiles, the sources, README and CI.

use std::path::{Path, PathBuf};

use crate::dockerfile::BASE_ARG;
use crate::workspace::Workspace;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn shipped_project_loads() {
    let ws = Workspace::open(None).unwrap();
    let project = ws.load().unwrap_or_else(|e| panic!("{e:#}"));
    let names: Vec<&str> = project
        .catalog
        .flavours
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert!(names.contains(&"torch"), "{names:?}");
    assert!(project
        .catalog
        .flavours
        .iter()
        .any(|f| f.framework.as_str() == "tf"));
    assert!(project.catalog.flavours.iter().any(|f| f.jupyterlab));
    // Keep the CVMFS-mirrored aliases few: at most one per framework.
    let aliases = project
        .catalog
        .flavours
        .iter()
        .filter(|f| f.latest.is_some())
        .count();
    assert!(aliases <= 2, "{aliases} -latest aliases declared");
}

#[test]
fn shipped_dockerfiles_record_provenance_and_install_the_tagged_framework() {
    let ws = Workspace::open(None).unwrap();
    let project = ws.load().unwrap();
    for f in &project.catalog.flavours {
        let text = read(&f.dockerfile);
        let base = project.base(f, None).unwrap();
        assert!(
            base.uses_base_arg,
            "{}: the final FROM must use ${{{BASE_ARG}}}",
            f.dockerfile
        );
        for arg in crate::provenance::ARGS
            .iter()
            .chain([&crate::catalog::FRAMEWORK_ARG])
        {
            assert!(
                text.contains(&format!("ARG {arg}")),
                "{}: no ARG {arg}",
                f.dockerfile
            );
        }
        crate::dockerfile::check_provenance(&text, &crate::labels::FROM_ARGS)
            .unwrap_or_else(|e| panic!("{}: {e}", f.dockerfile));
        for label in ["title", "source", "licenses"] {
            assert!(
                text.contains(&format!("org.opencontainers.image.{label}=")),
                "{}: no {label}",
                f.dockerfile
            );
        }
        let package = &f.framework_package;
        assert!(
            text.contains(&format!("\"{package}==${{FRAMEWORK_VERSION}}.*\"")),
            "{}: must install {package} at the catalog's framework-version",
            f.dockerfile
        );
        assert_eq!(
            f.jupyterlab,
            text.contains("jupyterlab"),
            "{}",
            f.dockerfile
        );
        let ignore = repo().join(format!("{}.dockerignore", f.dockerfile));
        assert!(
            ignore.is_file(),
            "{} has no .dockerignore beside it",
            f.dockerfile
        );
    }
}

#[test]
fn no_shell_in_the_sources() {
    let mut files = Vec::new();
    for dir in ["xtask/src", "xtask/tests"] {
        collect_rs(&repo().join(dir), &mut files);
    }
    let banned = ["\"sh\"", "\"bash\"", "sh -c", "bash -c", "\"/bin/sh\""];
    for file in files {
        if file.ends_with("tidy.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for b in banned {
            assert!(
                !text.contains(b),
                "{}: contains {b}; build argv from typed values instead",
                file.display()
            );
        }
        // `-c` runs a program text: only the in-image probe may, and only
        // with python3 (its fixed script, in plan.rs).
        for (at, _) in text.match_indices("\"-c\"") {
            let before = &text[at.saturating_sub(200)..at];
            assert!(
                file.ends_with("src/plan.rs") && before.contains("\"python3\""),
                "{}: contains \"-c\" outside the python3 probe; build argv from typed values instead",
                file.display()
            );
        }
    }
}

/// Every external command is a step of a plan: only the executor starts
/// processes (through `runner`), so `--dry-run` shows them all.
#[test]
fn only_the_executor_runs_commands() {
    let mut files = Vec::new();
    collect_rs(&repo().join("xtask/src"), &mut files);
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if ["executor.rs", "runner.rs", "tidy.rs"].contains(&name.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for b in [
            "runner::run",
            "Command::new",
            "Command::from",
            ".cmd(",
            "cmd!(",
        ] {
            assert!(
                !text.contains(b),
                "{}: contains {b}; add a Step and run it through the executor",
                file.display()
            );
        }
    }
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            collect_rs(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn ci_runs_the_readme_test_command() {
    let readme = read("README.md");
    let ci = read(".ci/run");
    let command = readme
        .lines()
        .skip_while(|l| !l.contains("<!-- test-command -->"))
        .nth(2)
        .expect("README.md marks its test command with <!-- test-command --> before a code block")
        .trim()
        .to_string();
    assert!(command.starts_with("cargo test"), "{command}");
    assert!(
        ci.lines().any(|l| l.trim() == command),
        ".ci/run must run `{command}`"
    );
}

#[test]
fn top_level_is_as_designed() {
    let mut names: Vec<String> = std::fs::read_dir(repo())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".git" && n != "target")
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ".cargo",
            ".ci",
            ".gitignore",
            "Cargo.lock",
            "Cargo.toml",
            "README.md",
            "env-files",
            "pyproject.toml",
            "xtask"
        ]
    );
}
