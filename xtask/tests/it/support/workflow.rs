//! The `run:` steps of a GitHub Actions workflow, run here as a runner would
//! run them: a reader of the block-style YAML such a workflow is written in
//! (maps, lists, `|` scripts; flow values stay text), and a runner of its
//! jobs in file order, each matrix entry a job of its own, on a "fresh
//! machine" (its own HOME, no local image under the registry's names).
//! `uses:` steps only make sense on GitHub: they are listed, not run, and
//! must be known ones. `${{ … }}` is evaluated where GitHub evaluates it
//! (`env:`, step and job `if:`, job `outputs:`, the matrix) from a small
//! context, and is refused inside a `run:` script. A job runs once every
//! job it `needs:` passed; `runs-on:` must name a runner this machine
//! stands in for ([`stand_in`]).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{emulation_available, forget_local_images, pinned, TempDir};

/// A node of the YAML subset.
#[derive(Debug, Clone)]
pub enum Node {
    Str(String),
    Map(Vec<(String, Node)>),
    List(Vec<Node>),
}

impl Node {
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    #[track_caller]
    pub fn str(&self) -> &str {
        match self {
            Node::Str(s) => s,
            other => panic!("not a string: {other:?}"),
        }
    }

    #[track_caller]
    pub fn list(&self) -> &[Node] {
        match self {
            Node::List(items) => items,
            other => panic!("not a list: {other:?}"),
        }
    }

    #[track_caller]
    pub fn entries(&self) -> &[(String, Node)] {
        match self {
            Node::Map(entries) => entries,
            other => panic!("not a map: {other:?}"),
        }
    }
}

/// Read `text`, block style only: `key: value`, `key:` with a nested block,
/// `key: |` with a literal script, `- ` list items; comment lines skipped
/// outside scripts.
pub fn parse(text: &str) -> Node {
    let mut p = Parser {
        lines: text.lines().map(str::to_string).collect(),
        at: 0,
    };
    let node = p.block(0);
    p.skip();
    assert!(
        p.at == p.lines.len(),
        "line {}: unexpected {:?}",
        p.at + 1,
        p.lines[p.at]
    );
    node
}

struct Parser {
    lines: Vec<String>,
    at: usize,
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// `- key: …` or `- key:` opens a map; anything else is a scalar item.
fn opens_map(item: &str) -> bool {
    let key = item.split_once(':').map_or("", |(k, _)| k);
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && (item.len() == key.len() + 1 || item[key.len() + 1..].starts_with(' '))
}

fn unquote(s: &str) -> String {
    for q in ['\'', '"'] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner.to_string();
        }
    }
    s.to_string()
}

impl Parser {
    fn skip(&mut self) {
        while self.lines.get(self.at).is_some_and(|l| {
            let t = l.trim();
            t.is_empty() || t.starts_with('#')
        }) {
            self.at += 1;
        }
    }

    fn next_indent(&mut self) -> Option<usize> {
        self.skip();
        self.lines.get(self.at).map(|l| indent(l))
    }

    fn block(&mut self, ind: usize) -> Node {
        self.skip();
        if self.lines[self.at].trim_start().starts_with("- ") {
            self.list(ind)
        } else {
            self.map(ind)
        }
    }

    fn map(&mut self, ind: usize) -> Node {
        let mut entries = Vec::new();
        while self.next_indent() == Some(ind) {
            let line = self.lines[self.at].trim().to_string();
            if line.starts_with("- ") {
                break;
            }
            let (key, rest) = match line.split_once(": ") {
                Some((k, r)) => (k.to_string(), r.trim().to_string()),
                None => match line.strip_suffix(':') {
                    Some(k) => (k.to_string(), String::new()),
                    None => panic!("line {}: not `key: value`: {line:?}", self.at + 1),
                },
            };
            self.at += 1;
            let value = self.value(&rest, ind);
            entries.push((key, value));
        }
        Node::Map(entries)
    }

    fn value(&mut self, rest: &str, ind: usize) -> Node {
        match rest {
            "|" => self.literal(ind),
            "" => match self.next_indent() {
                Some(i) if i > ind => self.block(i),
                _ => Node::Str(String::new()),
            },
            _ => Node::Str(unquote(rest)),
        }
    }

    /// A `|` block: every following line indented deeper (or blank), less
    /// the block's indentation, each ending in a newline.
    fn literal(&mut self, ind: usize) -> Node {
        let mut body = Vec::new();
        while let Some(l) = self.lines.get(self.at) {
            if !l.trim().is_empty() && indent(l) <= ind {
                break;
            }
            body.push(l.clone());
            self.at += 1;
        }
        while body.last().is_some_and(|l| l.trim().is_empty()) {
            body.pop();
        }
        let strip = body
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| indent(l))
            .min()
            .unwrap_or(0);
        let text: String = body
            .iter()
            .map(|l| format!("{}\n", l.get(strip..).unwrap_or("")))
            .collect();
        Node::Str(text)
    }

    fn list(&mut self, ind: usize) -> Node {
        let mut items = Vec::new();
        while self.next_indent() == Some(ind) && self.lines[self.at].trim_start().starts_with("- ")
        {
            let item = self.lines[self.at].trim_start()[2..].to_string();
            if opens_map(&item) {
                // The item's first key, as if on a line of its own.
                self.lines[self.at] = format!("{}{item}", " ".repeat(ind + 2));
                items.push(self.map(ind + 2));
            } else {
                self.at += 1;
                items.push(Node::Str(unquote(&item)));
            }
        }
        Node::List(items)
    }
}

/// What triggered a run.
#[derive(Debug, Clone)]
pub enum Event {
    /// A push to main.
    Push,
    /// A published release, its tag name.
    Release(String),
}

impl Event {
    fn name(&self) -> &'static str {
        match self {
            Event::Push => "push",
            Event::Release(_) => "release",
        }
    }
}

/// The outcome of one workflow run: whether every job passed, and the log
/// of every step (its name, its output, its exit status).
#[derive(Debug)]
pub struct WorkflowRun {
    pub ok: bool,
    pub log: String,
}

/// Runs a workflow's jobs on the checkout `workspace`, with `path_first`
/// (a fake `cargo`) before PATH; `registry` is the host whose local image
/// names a fresh machine would not have (None: jobs that make no image).
pub struct Runner {
    pub workflow: Node,
    pub workspace: PathBuf,
    pub path_first: PathBuf,
    pub registry: Option<String>,
}

/// One job's values: the matrix entry, the outputs of earlier jobs.
struct JobContext<'a> {
    event: &'a Event,
    matrix: Vec<(String, String)>,
    needs: &'a [(String, Vec<(String, String)>)],
    steps: Vec<(String, String)>,
}

impl JobContext<'_> {
    /// The value of a `${{ … }}` expression GitHub would give.
    fn eval(&self, expr: &str) -> String {
        let lookup = |pairs: &[(String, String)], key: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("${{{{ {expr} }}}}: no {key}"))
        };
        if let Some(key) = expr.strip_prefix("matrix.") {
            return lookup(&self.matrix, key);
        }
        if let Some(key) = expr.strip_prefix("steps.") {
            return lookup(&self.steps, key);
        }
        if let Some((job, key)) = expr
            .strip_prefix("needs.")
            .and_then(|r| r.split_once(".outputs."))
        {
            let outputs = self
                .needs
                .iter()
                .find(|(n, _)| n == job)
                .unwrap_or_else(|| panic!("${{{{ {expr} }}}}: {job} has not run"));
            return lookup(&outputs.1, key);
        }
        match expr {
            "github.event_name" => self.event.name().to_string(),
            "github.actor" => "fixture-actor".to_string(),
            "secrets.GITHUB_TOKEN" => "fixture-token".to_string(),
            "github.event.release.tag_name" => match self.event {
                Event::Release(tag) => tag.clone(),
                Event::Push => String::new(),
            },
            _ => panic!("${{{{ {expr} }}}} is not in the test's context"),
        }
    }

    /// `text` with every `${{ … }}` replaced by its value.
    fn expand(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(i) = rest.find("${{") {
            out.push_str(&rest[..i]);
            let end = rest[i..].find("}}").expect("an unterminated ${{") + i;
            out.push_str(&self.eval(rest[i + 3..end].trim()));
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }

    /// Whether an `if:` holds: comparisons (`A == 'v'`, `A != 'v'`) of
    /// values of the context, joined by `&&`.
    fn condition(&self, cond: &str) -> bool {
        let cond = cond.trim();
        let cond = cond
            .strip_prefix("${{")
            .and_then(|c| c.strip_suffix("}}"))
            .unwrap_or(cond)
            .trim();
        cond.split(" && ").all(|part| {
            if let Some((lhs, rhs)) = part.split_once(" == ") {
                self.eval(lhs.trim()) == unquote(rhs.trim())
            } else if let Some((lhs, rhs)) = part.split_once(" != ") {
                self.eval(lhs.trim()) != unquote(rhs.trim())
            } else {
                panic!("if: {cond}: not understood by the test")
            }
        })
    }
}

/// The jobs a job `needs:`: none, one name, or a flow (`[a, b]`) or
/// block list of names.
pub fn needs(job: &Node) -> Vec<String> {
    let names = match job.get("needs") {
        None => return Vec::new(),
        Some(Node::List(items)) => items.iter().map(|n| n.str().to_string()).collect(),
        Some(Node::Str(s)) => match s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            Some(flow) => flow.split(',').map(|n| unquote(n.trim())).collect(),
            None => vec![s.clone()],
        },
        Some(other) => panic!("needs: {other:?}: not understood by the test"),
    };
    assert!(
        names.iter().all(|n| !n.is_empty() && !n.contains(' ')),
        "needs: {names:?}: not understood by the test"
    );
    names
}

/// The platform whose programs a job on the GitHub-hosted runner `label`
/// runs natively, and which this machine runs for it. The arm64 runner is
/// stood in for by this machine's amd64 engine with arm64 under QEMU
/// binfmt_misc emulation (as the multi-platform tests run it): what a job
/// there does is the same commands, only slower.
pub fn stand_in(label: &str) -> &'static str {
    match label {
        "ubuntu-24.04" => "linux/amd64",
        "ubuntu-24.04-arm" => "linux/arm64",
        _ => panic!("runs-on: {label}: not a runner the test stands in for"),
    }
}

impl Runner {
    /// Every job in file order (a job's `needs` must come before it); a job
    /// whose `needs` failed or was skipped, or whose `if:` does not hold, is
    /// skipped, as GitHub does.
    pub fn run(&self, event: &Event) -> WorkflowRun {
        let mut log = String::new();
        let mut ok = true;
        let mut done: Vec<(String, Vec<(String, String)>)> = Vec::new();
        for (name, job) in self.workflow.get("jobs").expect("jobs:").entries() {
            let needs = needs(job);
            if let Some(missing) = needs.iter().find(|n| !done.iter().any(|(d, _)| d == *n)) {
                log.push_str(&format!(
                    "== job {name}: skipped ({missing} did not pass)\n"
                ));
                continue;
            }
            let ctx = JobContext {
                event,
                matrix: Vec::new(),
                needs: &done,
                steps: Vec::new(),
            };
            if let Some(cond) = job.get("if") {
                if !ctx.condition(cond.str()) {
                    log.push_str(&format!("== job {name}: skipped (if: {})\n", cond.str()));
                    continue;
                }
            }
            let runs_on = job.get("runs-on").expect("runs-on:").str();
            let platform = stand_in(runs_on);
            assert!(
                emulation_available(platform),
                "{name}: runs-on {runs_on}: this machine cannot run {platform} programs"
            );
            let mut outputs = Vec::new();
            let mut job_ok = true;
            for matrix in self.matrix(job, &needs, event, &done) {
                log.push_str(&format!(
                    "== job {name} on {runs_on} ({platform}) {matrix:?}\n"
                ));
                match self.job(job, event, matrix, &done, &mut log) {
                    Some(out) => outputs = out,
                    None => job_ok = false,
                }
            }
            ok &= job_ok;
            if job_ok {
                done.push((name.clone(), outputs));
            }
        }
        WorkflowRun { ok, log }
    }

    /// The matrix entries of a job: one empty entry without a matrix, else
    /// `include: ${{ fromJSON(needs.JOB.outputs.KEY) }}` read as JSON.
    fn matrix(
        &self,
        job: &Node,
        needs: &[String],
        event: &Event,
        done: &[(String, Vec<(String, String)>)],
    ) -> Vec<Vec<(String, String)>> {
        let Some(include) = job
            .get("strategy")
            .and_then(|s| s.get("matrix"))
            .map(|m| m.get("include").expect("matrix: include:").str())
        else {
            return vec![Vec::new()];
        };
        let inner = include
            .trim()
            .strip_prefix("${{ fromJSON(needs.")
            .and_then(|r| r.strip_suffix(") }}"))
            .unwrap_or_else(|| panic!("include: {include}: not understood by the test"));
        let (need, key) = inner.split_once(".outputs.").unwrap();
        // GitHub gives a job the outputs of the jobs it needs, no others.
        assert!(
            needs.iter().any(|n| n == need),
            "include: {include}: {need} is not among the job's needs {needs:?}"
        );
        let ctx = JobContext {
            event,
            matrix: Vec::new(),
            needs: done,
            steps: Vec::new(),
        };
        let text = ctx.eval(&format!("needs.{need}.outputs.{key}"));
        let doc =
            xtask::support::json::Json::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let entries = doc.as_array().unwrap_or_else(|| panic!("{text}"));
        assert!(!entries.is_empty(), "an empty matrix: {text}");
        entries
            .iter()
            .map(|e| {
                e.as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), json_value(v)))
                    .collect()
            })
            .collect()
    }

    /// One job on a fresh machine; its outputs, or None when a step failed.
    fn job(
        &self,
        job: &Node,
        event: &Event,
        matrix: Vec<(String, String)>,
        done: &[(String, Vec<(String, String)>)],
        log: &mut String,
    ) -> Option<Vec<(String, String)>> {
        if let Some(registry) = &self.registry {
            forget_local_images(&format!("{registry}/"));
        }
        let home = TempDir::new("runner-home");
        let mut ctx = JobContext {
            event,
            matrix,
            needs: done,
            steps: Vec::new(),
        };
        let steps = job.get("steps").expect("steps:").list();
        for (i, step) in steps.iter().enumerate() {
            let name = step
                .get("name")
                .map_or(format!("step {i}"), |n| n.str().to_string());
            if let Some(uses) = step.get("uses") {
                let uses = uses.str();
                assert!(
                    ["actions/checkout@", "docker/setup-qemu-action@"]
                        .iter()
                        .any(|known| uses.starts_with(known)),
                    "{uses}: a step the test cannot stand in for"
                );
                log.push_str(&format!("-- {name}: uses {uses} (GitHub only)\n"));
                continue;
            }
            if let Some(cond) = step.get("if") {
                if !ctx.condition(cond.str()) {
                    log.push_str(&format!("-- {name}: skipped (if: {})\n", cond.str()));
                    continue;
                }
            }
            let outputs = self.step(step, &ctx, home.path(), &name, log)?;
            if let Some(id) = step.get("id") {
                for (k, v) in outputs {
                    ctx.steps.push((format!("{}.outputs.{k}", id.str()), v));
                }
            }
        }
        let outputs = job.get("outputs").map_or(Vec::new(), |o| {
            o.entries()
                .iter()
                .map(|(k, v)| (k.clone(), ctx.expand(v.str())))
                .collect()
        });
        Some(outputs)
    }

    /// One `run:` step, as `bash --noprofile --norc -eo pipefail FILE`
    /// (GitHub's default shell) in the checkout; what it wrote to
    /// GITHUB_OUTPUT, or None when it failed.
    fn step(
        &self,
        step: &Node,
        ctx: &JobContext,
        home: &Path,
        name: &str,
        log: &mut String,
    ) -> Option<Vec<(String, String)>> {
        let run = step.get("run").expect("a step with run: or uses:").str();
        assert!(
            !run.contains("${{"),
            "{name}: an expression inside run: (pass it through env:): {run}"
        );
        let dir = TempDir::new("runner-step");
        let script = dir.path().join("step");
        std::fs::write(
            &script,
            format!("#!/usr/bin/env -S bash --noprofile --norc -eo pipefail\n{run}"),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let output = dir.path().join("output");
        std::fs::write(&output, "").unwrap();
        let mut cmd = pinned(Command::new(&script), home);
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env("PATH", format!("{}:{path}", self.path_first.display()))
            .env("CI", "true")
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_EVENT_NAME", ctx.event.name())
            .env("GITHUB_WORKSPACE", &self.workspace)
            .env("GITHUB_OUTPUT", &output)
            .current_dir(&self.workspace)
            .stdin(Stdio::null());
        for (k, v) in step.get("env").map_or(&[][..], |e| e.entries()) {
            cmd.env(k, ctx.expand(v.str()));
        }
        let out = run_just_written(&mut cmd);
        log.push_str(&format!(
            "-- {name}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
        if !out.status.success() {
            return None;
        }
        let written = std::fs::read_to_string(&output).unwrap();
        Some(
            written
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }
}

/// A matrix value as GitHub gives it to an expression: text as it is,
/// booleans and numbers as written, null as empty.
fn json_value(v: &xtask::support::json::Json) -> String {
    use xtask::support::json::Json;
    match v {
        Json::Str(s) => s.clone(),
        Json::Bool(b) => b.to_string(),
        Json::Null => String::new(),
        other => other.render(),
    }
}

/// Run `cmd`, whose program was just written: exec fails with ETXTBSY
/// while a child another test forked meanwhile still holds the file open
/// for writing (it closes at that child's own exec), so that is retried.
fn run_just_written(cmd: &mut Command) -> std::process::Output {
    for _ in 0..200 {
        match cmd.output() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            result => return result.unwrap(),
        }
    }
    panic!("{cmd:?}: its file stayed busy for a second");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_reads_a_name_a_flow_list_and_a_block_list() {
        let jobs = parse(
            "none:\n  runs-on: x\none:\n  needs: a\nflow:\n  needs: [a, 'b']\n\
             block:\n  needs:\n    - a\n    - b\n",
        );
        let of = |job: &str| needs(jobs.get(job).unwrap());
        assert_eq!(of("none"), Vec::<String>::new());
        assert_eq!(of("one"), ["a"]);
        assert_eq!(of("flow"), ["a", "b"]);
        assert_eq!(of("block"), ["a", "b"]);
    }

    #[test]
    #[should_panic(expected = "not understood by the test")]
    fn needs_refuses_what_it_cannot_read() {
        needs(&parse("needs: [a b]\n"));
    }

    #[test]
    fn the_runners_stood_in_for_are_amd64_and_arm64() {
        assert_eq!(stand_in("ubuntu-24.04"), "linux/amd64");
        assert_eq!(stand_in("ubuntu-24.04-arm"), "linux/arm64");
    }

    #[test]
    #[should_panic(expected = "runs-on: windows-latest: not a runner the test stands in for")]
    fn another_runner_is_refused() {
        stand_in("windows-latest");
    }

    /// A runner of `yaml` in `dir`, for jobs that need no image, engine or
    /// registry.
    fn echo_runner(yaml: &str, dir: &TempDir) -> Runner {
        Runner {
            workflow: parse(yaml),
            workspace: dir.path().to_path_buf(),
            path_first: dir.path().to_path_buf(),
            registry: None,
        }
    }

    /// Jobs of `echo` steps on an amd64 runner (no image, no engine):
    /// which run, which are skipped, and the matrix one reads from the
    /// outputs of a job it needs.
    #[test]
    fn jobs_run_after_what_they_need_and_when_their_if_holds() {
        let yaml = "jobs:\n\
            \x20 list:\n    runs-on: ubuntu-24.04\n    outputs:\n      m: ${{ steps.s.outputs.m }}\n\
            \x20   steps:\n      - id: s\n        run: echo 'm=[{\"n\":\"x\"},{\"n\":\"y\"}]' >> \"$GITHUB_OUTPUT\"\n\
            \x20 each:\n    needs: [list]\n    runs-on: ubuntu-24.04\n    strategy:\n      matrix:\n\
            \x20       include: ${{ fromJSON(needs.list.outputs.m) }}\n    steps:\n\
            \x20     - env:\n          N: ${{ matrix.n }}\n        run: echo \"each $N\"\n\
            \x20 pushed:\n    needs: [list, each]\n    if: github.event_name == 'push'\n\
            \x20   runs-on: ubuntu-24.04\n    steps:\n      - run: echo pushed; false\n\
            \x20 after:\n    needs: pushed\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo after\n";
        let dir = TempDir::new("workflow-unit");
        let runner = echo_runner(yaml, &dir);
        let run = runner.run(&Event::Push);
        assert!(!run.ok, "{}", run.log);
        for line in [
            "== job each on ubuntu-24.04 (linux/amd64) [(\"n\", \"x\")]",
            "each x\n",
            "each y\n",
            "pushed\n",
            "== job after: skipped (pushed did not pass)",
        ] {
            assert!(run.log.contains(line), "{line:?} in {}", run.log);
        }
        let run = runner.run(&Event::Release("v1".into()));
        assert!(run.ok, "{}", run.log);
        for line in [
            "== job pushed: skipped (if: github.event_name == 'push')",
            "== job after: skipped (pushed did not pass)",
        ] {
            assert!(run.log.contains(line), "{line:?} in {}", run.log);
        }
        assert!(!run.log.contains("pushed\n"), "{}", run.log);
    }

    /// A job whose matrix would be empty is skipped by its `if:` (GitHub
    /// refuses a job with an empty matrix).
    #[test]
    fn an_if_reads_the_outputs_of_jobs_run_before() {
        let dir = TempDir::new("workflow-unit");
        let run = |m: &str| {
            let yaml = format!(
                "jobs:\n\
                \x20 list:\n    runs-on: ubuntu-24.04\n    outputs:\n      m: '{m}'\n\
                \x20   steps:\n      - run: 'true'\n\
                \x20 each:\n    needs: list\n    if: github.event_name == 'push' && needs.list.outputs.m != '[]'\n\
                \x20   runs-on: ubuntu-24.04\n    strategy:\n      matrix:\n\
                \x20       include: ${{{{ fromJSON(needs.list.outputs.m) }}}}\n    steps:\n\
                \x20     - env:\n          N: ${{{{ matrix.n }}}}\n        run: echo \"each $N\"\n"
            );
            echo_runner(&yaml, &dir).run(&Event::Push)
        };
        let skipped = run("[]");
        assert!(skipped.ok, "{}", skipped.log);
        assert!(
            skipped.log.contains("== job each: skipped (if: "),
            "{}",
            skipped.log
        );
        let ran = run("[{\"n\":\"x\"}]");
        assert!(ran.ok && ran.log.contains("each x\n"), "{}", ran.log);
    }

    #[test]
    #[should_panic(
        expected = "include: ${{ fromJSON(needs.list.outputs.m) }}: list is not among the job's needs [\"other\"]"
    )]
    fn a_matrix_reads_only_the_jobs_it_needs() {
        let yaml = "jobs:\n\
            \x20 list:\n    runs-on: ubuntu-24.04\n    outputs:\n      m: '[]'\n    steps:\n      - run: 'true'\n\
            \x20 other:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: 'true'\n\
            \x20 each:\n    needs: other\n    runs-on: ubuntu-24.04\n    strategy:\n      matrix:\n\
            \x20       include: ${{ fromJSON(needs.list.outputs.m) }}\n    steps:\n      - run: 'true'\n";
        let dir = TempDir::new("workflow-unit");
        let runner = echo_runner(yaml, &dir);
        runner.run(&Event::Push);
    }
}
