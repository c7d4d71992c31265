//! `check`: every problem of the catalog, pyproject.toml, the Dockerfiles
//! and the git state at once, without running docker.

use anyhow::Result;

use crate::engine::executor::Executor;
use crate::project::workspace::Workspace;
use crate::support::error::invalid;

pub fn run(ws: &Workspace) -> Result<()> {
    let (project, mut problems) = ws.load_all();
    let mut warnings = Vec::new();
    // The git state: the repository and HEAD every build records.
    let mut exec = Executor::new(&ws.sh, false, false);
    let git = match exec.git_state() {
        Ok(state) => {
            if state.dirty() {
                warnings.push(format!(
                    "the working tree has uncommitted changes: a release build refuses them (a development build is labelled dirty); commit them before releasing ({})",
                    state.dirt()
                ));
            }
            Some(state)
        }
        Err(e) if crate::support::error::is_interrupted(&e) => return Err(e),
        Err(e) => {
            problems.push(e);
            None
        }
    };
    if let Some(project) = &project {
        for f in &project.catalog.flavours {
            if let Some(line) = project.heredoc_line(f) {
                warnings.push(format!(
                    "{}:{line}: a heredoc, which only BuildKit reads: without the buildx plugin `image build` refuses flavour '{}'",
                    f.dockerfile, f.name
                ));
            }
        }
    }
    for w in &warnings {
        crate::support::output::warn(w);
    }
    // Each problem once, in the order met.
    let mut lines: Vec<String> = Vec::new();
    for e in &problems {
        let line = crate::support::output::printable(&format!("{e:#}"));
        if !lines.contains(&line) {
            lines.push(line);
        }
    }
    for line in &lines {
        crate::support::output::stderr_line(&format!("error: {line}"));
    }
    let problems = lines;
    match (project, git, problems.len()) {
        (Some(project), Some(git), 0) => {
            let n = project.catalog.flavours.len();
            crate::support::output::stderr_line(&format!(
                "checked {} (version {}), {} ({n} flavour{}, {n} Dockerfile{}) and the git state (HEAD {}): no problem",
                crate::project::pyproject::FILE,
                project.version,
                crate::project::catalog::FILE,
                if n == 1 { "" } else { "s" },
                if n == 1 { "" } else { "s" },
                &git.head[..12],
            ));
            Ok(())
        }
        (_, _, n) => Err(invalid(format!(
            "{n} problem{} found (above); fix {} and run `cargo xtask check` again",
            if n == 1 { "" } else { "s" },
            if n == 1 { "it" } else { "them" }
        ))),
    }
}
