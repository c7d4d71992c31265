//! Against a real Docker engine and a real registry on 127.0.0.1: bases are
//! made with `docker import` (nothing is pulled from outside), pushed to the
//! registry and removed locally, then built on with `--root` fixtures.
//! Without an engine these tests fail, unless XTASK_DOCKER_TESTS=skip.

use crate::support::*;

const OCI: &str = "org.opencontainers.image";

/// A unique base name per test run, so parallel tests never share one.
fn unique(name: &str) -> String {
    format!("{name}-{}", std::process::id())
}

#[test]
fn build_records_true_provenance() {
    let Some(EngineTest { registry, base, ws }) = EngineTest::start("e2e-build", JAMMY) else {
        return;
    };
    let reference = format!("{}/itwinai:0.2.2-torch2.6-jammy", registry.host());

    let run = ws.xtask(&["image", "build", "fix", "--json"], None, &[]);
    run.expect(0);

    // Every label, against the facts: git, pyproject, the pinned clock, and
    // the digest the registry itself reports for the base.
    let base_name = base.rsplit_once(':').unwrap().0.split_once('/').unwrap().1;
    let registry_digest = registry
        .digest(base_name, "1")
        .expect("registry knows the base");
    let labels = labels(&reference);
    let label = |k: &str| {
        labels
            .iter()
            .find(|(key, _)| key == &format!("{OCI}.{k}"))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(label("revision"), Some(ws.head()));
    assert_eq!(label("version"), Some("0.2.2".into()));
    assert_eq!(label("created"), Some(CREATION_DATE.into()));
    assert_eq!(label("ref.name"), Some(reference.clone()));
    assert_eq!(label("base.name"), Some(base.clone()));
    assert_eq!(
        label("base.digest"),
        Some(format!("{}/{base_name}@{registry_digest}", registry.host()))
    );

    // The JSON names the image that is really there.
    let id = image_id(&reference);
    assert!(
        run.stdout
            .contains(&format!("\"image_id\":\"{}\"", id.trim())),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.trim_start().starts_with('['),
        "stdout is only JSON: {}",
        run.stdout
    );
    assert!(
        run.stderr.contains(&format!("checked {reference}")),
        "{}",
        run.stderr
    );
    // No -latest alias was created by the build.
    assert!(!docker_ok(&[
        "image",
        "inspect",
        &format!("{}/itwinai:fix-latest", registry.host())
    ]));

    // A dev build goes under the development name with HEAD's 12 hex digits.
    let run = ws.xtask(&["image", "build", "fix", "--dev"], None, &[]);
    run.expect(0);
    let dev = format!(
        "{}/itwinai-dev:0.2.2-torch2.6-jammy-{}",
        registry.host(),
        &ws.head()[..12]
    );
    assert!(docker_ok(&["image", "inspect", &dev]));

    let _ = docker_ok(&["rmi", &reference, &dev, &base]);
}

#[test]
fn the_engine_docker_names_is_asked_on_its_socket_else_through_the_cli() {
    let Some(EngineTest { registry, base, ws }) = EngineTest::start("e2e-engine-route", JAMMY)
    else {
        return;
    };
    let reference = format!("{}/itwinai:0.2.2-torch2.6-jammy", registry.host());
    let _cleanup = Cleanup::new(&[&reference, &base]);
    // A docker whose engine has another ID than this machine's socket's
    // (one that runs docker on another host or in another namespace, a
    // context naming another engine): every step runs the docker CLI.
    let elsewhere = docker_wrapper("e2e-another-engine", ANOTHER_ENGINE);
    let run = ws.xtask(&["image", "build", "fix"], Some(elsewhere.path()), &[]);
    run.expect(0);
    for echoed in [
        "+ docker version --format ",
        "+ docker image inspect -- ",
        "+ docker history --no-trunc --quiet -- ",
        "+ docker tag -- ",
    ] {
        assert!(
            run.stderr.lines().any(|l| l.starts_with(echoed)),
            "{echoed}\n{}",
            run.stderr
        );
    }
    let asked: Vec<&str> = run
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("+ engine API: "))
        .collect();
    // Its ping and ID, and its version (asked beside `docker info`, and
    // not taken): no image of it is read or named.
    assert_eq!(asked.len(), 3, "{}", run.stderr);
    assert!(
        asked[0] == "GET /_ping" && asked[1].ends_with("/info") && asked[2].ends_with("/version"),
        "{asked:?}"
    );
    let built = image_id(&reference);
    // An engine with this one's ID on another host (VMs cloned from one
    // image share it): the host's name differs, so it is not this socket's.
    let twin = docker_wrapper(
        "e2e-twin-engine",
        r#"[ "$1" = info ] && { printf '"%s/another-host"\n' "$("$REAL" info --format '{{.ID}}')"; exit 0; }"#,
    );
    let run = ws.xtask(
        &["image", "build", "fix", "--dry-run"],
        Some(twin.path()),
        &[],
    );
    run.expect(0);
    run.listed_the_platform_through_the_cli();
    // The engine on its socket is asked directly, and the same image named.
    let run = ws.xtask(&["image", "build", "fix"], None, &[]);
    run.expect(0);
    for echoed in [
        "+ docker version",
        "+ docker image inspect",
        "+ docker history",
        "+ docker tag",
    ] {
        assert!(!run.stderr.contains(echoed), "{echoed}\n{}", run.stderr);
    }
    run.named_through_the_engine_api();
    assert_eq!(image_id(&reference), built);
    // A context made current in docker's config, under the key as docker
    // also reads it (`CurrentContext`), that points at a proxy in front of
    // the same engine: docker goes through the proxy, and its engine's ID
    // is the socket's, so the tool asks the engine directly.
    let proxy = EngineProxy::start("e2e-context-proxy", "\u{0}", |_| {});
    let config = ws.home.path().join(".docker");
    let host = format!("host={}", proxy.host());
    docker_in(
        Some(&config),
        &["context", "create", "xtask-proxy", "--docker", &host],
    );
    docker_in(Some(&config), &["context", "use", "xtask-proxy"]);
    let file = config.join("config.json");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("\"currentContext\""), "{text}");
    std::fs::write(
        &file,
        text.replace("\"currentContext\"", "\"CurrentContext\""),
    )
    .unwrap();
    let run = ws.xtask(&["image", "build", "fix"], None, &[]);
    run.expect(0);
    let seen = proxy.seen();
    // Docker's own connections (each starts with its `HEAD /_ping`) went
    // through the proxy; none of the tool's requests (`GET`, `POST`).
    assert!(!seen.is_empty(), "{seen:?}");
    assert!(seen.iter().all(|l| l.starts_with("HEAD ")), "{seen:?}");
    run.named_through_the_engine_api();
    assert_eq!(image_id(&reference), built);
}

#[test]
fn build_refuses_images_that_would_lie() {
    // The catalog says jammy; the base is noble.
    let Some(EngineTest { registry, base, ws }) = EngineTest::start("e2e-distro", NOBLE) else {
        return;
    };
    let run = ws.xtask(&["image", "build", "fix"], None, &[]);
    run.expect(1);
    let line = run.error_line();
    assert!(
        line.contains("VERSION_CODENAME=noble, but the catalog's distro is 'jammy'"),
        "{line}"
    );

    // A Dockerfile that drops a label is refused before any docker command.
    let ws = Workspace::fixture("e2e-label", &registry.host(), &base);
    let text = dockerfile(&base).replace(&format!("{OCI}.revision=\"${{COMMIT_HASH}}\""), "x=1");
    ws.write("env-files/fix/Dockerfile", &text);
    ws.commit();
    let run = ws.xtask(&["image", "build", "fix"], None, &[]);
    run.expect(2);
    let line = run.error_line();
    assert!(
        line.contains("env-files/fix/Dockerfile:2:")
            && line.contains(&format!("{OCI}.revision from ${{COMMIT_HASH}}")),
        "{line}"
    );
    assert!(!run.stderr.contains("+ docker"), "{}", run.stderr);
    let _ = docker_ok(&["rmi", &base]);
}

#[test]
fn unresolvable_base_stops_before_the_build() {
    if !engine_available() {
        return;
    }
    let registry = Registry::start();
    let missing = format!("{}/{}:1", registry.host(), unique("never-pushed"));
    let ws = Workspace::fixture("e2e-missing", &registry.host(), &missing);
    let reference = format!("{}/itwinai:0.2.2-torch2.6-jammy", registry.host());
    // An earlier run that drew the same port may have left this name.
    let _ = docker_ok(&["rmi", &reference]);
    let run = ws.xtask(&["image", "build", "fix"], None, &[]);
    run.expect(1);
    let line = run.error_line();
    assert!(
        line.contains(&format!("pulling base image {missing}")),
        "{line}"
    );
    assert!(
        !run.stderr.contains("+ docker build "),
        "the build must not start: {}",
        run.stderr
    );
    assert!(!docker_ok(&["image", "inspect", &reference]));

    // A local image that never came from a registry has no digest: refused too.
    let local = format!("{}:1", unique("local-only-base"));
    import_image(&local, "jammy");
    let ws = Workspace::fixture("e2e-local", "", &local);
    let run = ws.xtask(&["image", "build", "fix"], None, &[]);
    run.expect(1);
    assert!(!run.stderr.contains("+ docker build "), "{}", run.stderr);
    let _ = docker_ok(&["rmi", &local]);
}

/// The files of an image's folder `dir`, copied out with `docker cp`
/// (fixture images have no shell to list them).
fn files_in(image: &str, dir: &str) -> std::collections::BTreeMap<String, String> {
    let out = TempDir::new("files-in");
    let container = docker(&["create", "--entrypoint", "python3", image]);
    let container = container.trim();
    docker(&[
        "cp",
        &format!("{container}:{dir}"),
        &out.path().join("x").to_string_lossy(),
    ]);
    docker(&["rm", container]);
    let mut files = std::collections::BTreeMap::new();
    let root = out.path().join("x");
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                files.insert(rel, std::fs::read_to_string(&p).unwrap_or_default());
            }
        }
    }
    files
}

/// The build context is the commit: an ignored secret beside the
/// Dockerfile never enters the image, a tracked file flagged skip-worktree
/// makes the tree dirty, and a release holds HEAD's content exactly.
#[test]
fn the_build_context_is_the_commit() {
    let Some(EngineTest { registry, base, ws }) = EngineTest::start("e2e-context", JAMMY) else {
        return;
    };
    let reference = format!("{}/itwinai:0.2.2-torch2.6-jammy", registry.host());
    let _cleanup = Cleanup::new(&[&reference]);
    let dockerfile = std::fs::read_to_string(ws.root().join("env-files/fix/Dockerfile")).unwrap();
    ws.write(
        "env-files/fix/Dockerfile",
        &format!("{dockerfile}COPY . /app\n"),
    );
    ws.write(".gitignore", "secret.env\n");
    ws.write("config.txt", "committed\n");
    ws.commit();
    ws.write("secret.env", "AWS_SECRET_ACCESS_KEY=fixture\n");
    ws.write("config.txt", "changed under skip-worktree\n");
    ws.git(&["update-index", "--skip-worktree", "config.txt"]);
    assert_eq!(
        ws.git(&["status", "--porcelain"]),
        "",
        "git status sees nothing"
    );

    // The flagged file makes the tree dirty: a release build refuses it.
    let run = ws.xtask(&["image", "build", "fix"], None, &[]);
    run.expect(2);
    let line = run.error_line();
    assert!(
        line.contains("uncommitted changes") && line.contains("config.txt"),
        "{line}"
    );

    // A dirty development build: the working tree's tracked files only.
    let dev = format!(
        "{}/itwinai-dev:0.2.2-torch2.6-jammy-{}-dirty",
        registry.host(),
        &ws.head()[..12]
    );
    let _dev_cleanup = Cleanup::new(&[&dev]);
    ws.xtask(&["image", "build", "fix", "--dev"], None, &[])
        .expect(0);
    let inside = files_in(&dev, "/app");
    assert_eq!(
        inside.get("config.txt").map(String::as_str),
        Some("changed under skip-worktree\n")
    );
    assert!(!inside.contains_key("secret.env"), "{inside:?}");
    assert!(!inside.contains_key(".git/HEAD"), "{inside:?}");

    // Clean again (the secret still there, ignored): HEAD's content, exactly.
    ws.git(&["update-index", "--no-skip-worktree", "config.txt"]);
    ws.git(&["checkout", "--", "config.txt"]);
    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    let inside = files_in(&reference, "/app");
    let tracked: Vec<String> = ws.git(&["ls-files"]).lines().map(str::to_string).collect();
    let mut names: Vec<String> = inside.keys().cloned().collect();
    names.sort();
    let mut want = tracked.clone();
    want.sort();
    assert_eq!(names, want, "exactly the tracked files");
    assert_eq!(
        inside.get("config.txt").map(String::as_str),
        Some("committed\n")
    );
    let _ = base;
}

/// A per-platform builder stage picked by `${TARGETARCH}`, its default
/// another platform's: the classic builder sets no TARGET* ARG, so the tool
/// passes them for the platform it builds, as BuildKit would, and the
/// image holds its own platform's stage.
#[test]
fn a_per_platform_stage_is_the_built_platform_s_under_the_classic_builder() {
    let Some(EngineTest { registry, base, ws }) = EngineTest::start("e2e-targetarch", JAMMY) else {
        return;
    };
    let reference = format!("{}/itwinai:0.2.2-torch2.6-jammy", registry.host());
    let _cleanup = Cleanup::new(&[&reference]);
    let dockerfile = std::fs::read_to_string(ws.root().join("env-files/fix/Dockerfile")).unwrap();
    let native = docker(&["version", "--format", "{{.Server.Arch}}"]);
    let other = if native.trim() == "arm64" {
        "amd64"
    } else {
        "arm64"
    };
    ws.write("arch/amd64", "amd64\n");
    ws.write("arch/arm64", "arm64\n");
    // Its global ARGs first, then the stages, then its own FROM on.
    let at = dockerfile.find("\nFROM ").unwrap() + 1;
    let (globals, rest) = dockerfile.split_at(at);
    ws.write(
        "env-files/fix/Dockerfile",
        &format!(
            "{globals}ARG TARGETARCH={other}\nFROM scratch AS build-amd64\nCOPY arch/amd64 /arch/stage\nFROM scratch AS build-arm64\nCOPY arch/arm64 /arch/stage\nFROM build-${{TARGETARCH}} AS build\n{rest}COPY --from=build /arch /arch\n"
        ),
    );
    ws.commit();
    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    let inside = files_in(&reference, "/arch");
    assert_eq!(
        inside.get("stage").map(String::as_str),
        Some(format!("{}\n", native.trim()).as_str())
    );
    let _ = base;
}

/// What the engine corpus expects of one Dockerfile.
#[derive(Clone, Copy)]
enum Want {
    /// The tool names base `'a'` or `'b'`, and the engine builds on it with
    /// this many layers of the Dockerfile's own.
    Base(char, usize),
    /// The tool refuses it before any docker command, with this in its
    /// message; the engine builds on `'a'` or `'b'`, or fails (`'-'`).
    Refused(&'static str, char),
    /// A heredoc: the tool reads it as BuildKit does (base `'a'`) and, as
    /// here without buildx, refuses the classic builder, which would read
    /// it otherwise (the engine: `'a'`, `'b'` or `'-'`).
    Heredoc(char),
}

use Want::{Base, Heredoc, Refused};

/// One Dockerfile of the corpus: `@A@` and `@B@` stand for the two bases;
/// the provenance block ([`PROVENANCE`]) is appended. `base_image`: passed as --base-image
/// (and so as the build arg BASE_IMG_NAME), `'a'` or `'b'`.
struct DfCase {
    what: &'static str,
    text: &'static str,
    base_image: Option<char>,
    want: Want,
}

const fn df(what: &'static str, text: &'static str, want: Want) -> DfCase {
    DfCase {
        what,
        text,
        base_image: None,
        want,
    }
}

/// Tricky Dockerfiles: parser directives in every order and position,
/// unknown ones, `escape`, what follows an escape character at a line's end,
/// comments and blank lines inside continuations, stage aliases, global
/// ARGs and overrides, keyword case, heredocs, and the two attacks (an
/// unknown directive before `escape`; a form feed or no-break space after a
/// backslash). `USER x \` joins the next line when it is a continuation, so
/// a FROM @B@ after it shows which reading the engine took.
const DF_CORPUS: &[DfCase] = &[
    // Parser directives.
    df(
        "escape directive: a backtick continues",
        "# escape=`\nFROM @A@\nUSER x `\nFROM @B@\nCOPY f /f\n",
        Base('a', 1),
    ),
    df(
        "an unknown directive, then escape (attack)",
        "# foo=bar\n# escape=`\nFROM @A@\nUSER x `\nFROM @B@\nCOPY f /f\n",
        Base('b', 1),
    ),
    df(
        "escape after an empty line",
        "\n# escape=`\nFROM @A@\nUSER x `\nFROM @B@\n",
        Base('b', 0),
    ),
    df(
        "escape after a comment",
        "# hello\n# escape=`\nFROM @A@\nUSER x `\nFROM @B@\n",
        Base('b', 0),
    ),
    df(
        "escape after a #! line",
        "#!/bin/sh\n# escape=`\nFROM @A@\nUSER x `\nFROM @B@\n",
        Base('b', 0),
    ),
    df(
        "escape after an instruction",
        "FROM @A@\n# escape=`\nUSER x `\nFROM @B@\n",
        Base('b', 0),
    ),
    df(
        "syntax, then escape",
        "# syntax=docker/dockerfile:1\n# escape=`\nFROM @A@\nUSER x `\nFROM @B@\n",
        Base('a', 0),
    ),
    df(
        "escape, then syntax",
        "# escape=`\n#syntax=docker/dockerfile:1\nFROM @A@\nUSER x `\nFROM @B@\n",
        Base('a', 0),
    ),
    df(
        "escape, then check",
        "# escape=`\n# check=skip=all\nFROM @A@\nUSER x `\nFROM @B@\n",
        Base('a', 0),
    ),
    df(
        "escape indented by a tab",
        "\t# escape=`\nFROM @A@\nUSER x `\nFROM @B@\n",
        Base('a', 0),
    ),
    df(
        "escape indented by a no-break space",
        "\u{a0}# escape=`\nFROM @A@\nUSER x `\nFROM @B@\n",
        Base('a', 0),
    ),
    df(
        "escape in capitals, spaced",
        "#ESCAPE  =  `  \nFROM @A@\nUSER x `\nFROM @B@\n",
        Base('a', 0),
    ),
    df(
        "escape then a form feed",
        "# escape=`\x0c\nFROM @A@\nUSER x `\nFROM @B@\n",
        Base('a', 0),
    ),
    df(
        "a byte order mark, then escape",
        "\u{feff}# escape=`\nFROM @A@\nUSER x `\nFROM @B@\n",
        Base('a', 0),
    ),
    df(
        "escape in a CRLF file",
        "# escape=`\r\nFROM @A@\r\nUSER x `\r\nFROM @B@\r\n",
        Base('a', 0),
    ),
    df(
        "escape=\\ makes a backtick plain",
        "# escape=\\\nFROM @A@\nUSER x `\nFROM @B@\n",
        Base('b', 0),
    ),
    df(
        "under escape=` a backslash is plain",
        "# escape=`\nFROM @A@\nUSER x \\\nFROM @B@\n",
        Base('b', 0),
    ),
    df(
        "escape then a vertical tab",
        "# escape=`\x0b\nFROM @A@\n",
        Refused("invalid escape directive", '-'),
    ),
    df(
        "escape then a no-break space",
        "# escape=`\u{a0}\nFROM @A@\n",
        Refused("invalid escape directive", '-'),
    ),
    df(
        "escape twice",
        "# escape=`\n# escape=`\nFROM @A@\n",
        Refused("a second 'escape' parser directive", '-'),
    ),
    df(
        "check, then escape",
        "# check=skip=all\n# escape=`\nFROM @A@\nUSER x `\nFROM @B@\n",
        Refused("after the check directive of line 1", 'b'),
    ),
    df(
        "another frontend",
        "# syntax=example.com/frontend:1\nFROM @A@\n",
        Refused("hands this file to the BuildKit frontend", 'a'),
    ),
    df(
        "another frontend, // form",
        "//syntax=example.com/frontend:1\nFROM @A@\n",
        Refused("hands this file to the BuildKit frontend", '-'),
    ),
    // What follows the escape character at a line's end.
    df(
        "backslash, spaces and tabs",
        "FROM @A@\nUSER x \\ \t \nFROM @B@\nCOPY f /f\n",
        Base('a', 1),
    ),
    df(
        "backslash, form feed (attack)",
        "FROM @A@\nUSER x \\\x0c\nFROM @B@\nCOPY f /f\n",
        Base('b', 1),
    ),
    df(
        "backslash, no-break space (attack)",
        "FROM @A@\nUSER x \\\u{a0}\nFROM @B@\n",
        Base('b', 0),
    ),
    df(
        "backslash, vertical tab",
        "FROM @A@\nUSER x \\\x0b\nFROM @B@\n",
        Base('b', 0),
    ),
    df(
        "backslash, ideographic space",
        "FROM @A@\nUSER x \\\u{3000}\nFROM @B@\n",
        Base('b', 0),
    ),
    df(
        "backslash, CRLF",
        "FROM @A@\r\nUSER x \\\r\nFROM @B@\r\n",
        Base('a', 0),
    ),
    df(
        "backslash, CR CR LF",
        "FROM @A@\nUSER x \\\r\r\nFROM @B@\n",
        Refused("a carriage return that does not end the line", 'b'),
    ),
    df(
        "a lone CR in a line",
        "FROM @A@\nUSER x \\\rFROM @B@\n",
        Refused("a carriage return that does not end the line", 'a'),
    ),
    df(
        "two backslashes",
        "FROM @A@\nUSER x \\\\\nFROM @B@\n",
        Refused("ends in two escape characters", 'b'),
    ),
    df(
        "two backticks under escape=`",
        "# escape=`\nFROM @A@\nUSER x ``\nFROM @B@\n",
        Refused("ends in two escape characters", 'b'),
    ),
    // Comment and blank lines inside a continuation.
    df(
        "a comment inside",
        "FROM @A@\nUSER x \\\n# c\nFROM @B@\n",
        Base('a', 0),
    ),
    df(
        "an indented comment inside",
        "FROM @A@\nUSER x \\\n\u{a0}\t# c \\\nFROM @B@\n",
        Base('a', 0),
    ),
    df(
        "an empty line inside",
        "FROM @A@\nUSER x \\\n\nFROM @B@\n",
        Base('a', 0),
    ),
    df(
        "blank lines of form feed and no-break space inside",
        "FROM @A@\nUSER x \\\n\x0c\n\u{a0}\nFROM @B@\n",
        Base('a', 0),
    ),
    df(
        "a lone backslash line",
        "FROM @A@\n\\\nFROM @B@\n",
        Base('b', 0),
    ),
    df(
        "FROM continued over a comment",
        "FROM \\\n  # c\n  @A@\nCOPY f /f\n",
        Base('a', 1),
    ),
    // Instructions, stages, ARGs.
    df(
        "lowercase keywords, alias in capitals",
        "from @A@ as base\nfrom @B@\nFROM BASE\n",
        Base('a', 0),
    ),
    df(
        "an alias chain",
        "FROM @A@ AS one\nCOPY f /f\nFROM @B@ AS two\nFROM one AS three\nCOPY f /g\nFROM three\n",
        Base('a', 2),
    ),
    df(
        "a stage name used twice",
        "FROM @A@ AS s\nFROM @B@ AS s\nFROM s\n",
        Refused("stage name 's' is already used at line 1", '-'),
    ),
    df("a global ARG", "ARG IMG=@A@\nFROM ${IMG}\n", Base('a', 0)),
    df(
        "a later default wins",
        "ARG IMG=@A@\nARG IMG=@B@\nFROM $IMG\n",
        Base('b', 0),
    ),
    df(
        "an ARG after FROM is not global",
        "ARG IMG=@A@\nFROM @B@\nARG IMG=@B@\nFROM $IMG\n",
        Base('a', 0),
    ),
    df(
        "a default in the FROM",
        "ARG IMG\nFROM ${IMG:-@A@}\n",
        Base('a', 0),
    ),
    df(
        "a default that is itself a substitution",
        "ARG IMG\nARG DEF=@A@\nFROM ${IMG:-${DEF}}\n",
        Base('a', 0),
    ),
    df(
        "a nested default not taken",
        "ARG IMG=@B@\nARG DEF=@A@\nFROM ${IMG:-${DEF}}\n",
        Base('b', 0),
    ),
    df(
        "a double-quoted default",
        "ARG IMG=\"@A@\"\nFROM $IMG\n",
        Base('a', 0),
    ),
    df(
        "a single-quoted default",
        "ARG IMG='@A@'\nFROM $IMG\n",
        Refused("$IMG comes from the ARG at line 1", 'a'),
    ),
    df(
        "redeclared without a default",
        "ARG IMG=@A@\nARG IMG\nFROM $IMG\n",
        Refused("$IMG has no value", '-'),
    ),
    DfCase {
        what: "BASE_IMG_NAME from --base-image",
        text: "ARG BASE_IMG_NAME=@A@\nFROM ${BASE_IMG_NAME}\n",
        base_image: Some('b'),
        want: Base('b', 0),
    },
    df(
        "an unknown instruction",
        "FROM @A@\nFROMM @B@\n",
        Refused("unknown instruction 'FROMM'", '-'),
    ),
    df(
        "a no-break space after FROM",
        "FROM @A@\nFROM\u{a0}@B@\n",
        Refused("unknown instruction", '-'),
    ),
    df(
        "a no-break space before AS",
        "FROM @A@\u{a0}AS x\n",
        Refused("holds '\\u{a0}'", '-'),
    ),
    // Heredocs.
    df(
        "a heredoc",
        "FROM @A@\nCOPY <<EOF /x\nFROM @B@\nEOF\n",
        Heredoc('-'),
    ),
    df(
        "a heredoc whose lines all read as instructions",
        "FROM @A@\nCOPY <<EOF f /x/\nFROM @B@\nUSER x \\\nEOF\n",
        Refused("a builder that does not read heredocs", 'b'),
    ),
    df(
        "<< inside a word",
        "FROM @A@\nCOPY f /x<<EOF\nFROM @B@\nEOF\n",
        Refused("cannot tell which heredocs BuildKit reads", '-'),
    ),
    df(
        "<< in ONBUILD",
        "FROM @A@\nONBUILD COPY <<EOF /x\nFROM @B@\nEOF\n",
        Refused("'<<' in an ONBUILD", '-'),
    ),
    // What the classic builder commits on the base (the check after a
    // build counts those commits back to the base image).
    df(
        "every instruction that commits without running",
        "FROM @A@\nEXPOSE 1\nUSER u\nCMD [\"x\"]\nENTRYPOINT [\"x\"]\nVOLUME /v\nSTOPSIGNAL 9\nHEALTHCHECK NONE\nSHELL [\"/bin/sh\", \"-c\"]\nADD f /f\nMAINTAINER m\nWORKDIR /w\nENV E=1\n",
        Base('a', 2),
    ),
    df(
        "ONBUILD triggers of a stage run on the stage built on it",
        "FROM @A@ AS one\nONBUILD LABEL t=1\nONBUILD ADD f /g\nFROM one\nCOPY f /h\n",
        Base('a', 2),
    ),
    df(
        "a stage on another image in between",
        "FROM @A@ AS one\nADD f /f\nFROM @B@ AS two\nADD f /g\nFROM one\nCOPY f /h\n",
        Base('a', 2),
    ),
];

/// A local image's layer diff IDs.
fn layer_list(image: &str) -> Vec<String> {
    inspect_format(image, "{{range .RootFS.Layers}}{{.}} {{end}}")
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// `docker build` (the classic builder) of `dockerfile` with `context`:
/// the image ID, or `None` when the engine refuses or fails.
fn engine_build(
    dockerfile: &std::path::Path,
    context: &std::path::Path,
    args: &[String],
) -> Option<String> {
    let mut cmd = std::process::Command::new("docker");
    cmd.env("DOCKER_BUILDKIT", "0")
        .args(["build", "-q", "-f"])
        .arg(dockerfile);
    for a in args {
        cmd.args(["--build-arg", a]);
    }
    let out = cmd
        .arg(context)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Removes the images it holds when dropped, built ones first.
struct Images(Vec<String>);

impl Drop for Images {
    fn drop(&mut self) {
        for image in self.0.iter().rev() {
            let _ = docker_ok(&["rmi", image]);
        }
    }
}

/// Which base the engine built `image` on (its layers start with that
/// base's), and how many layers of its own follow.
fn built_on(image: &str, bases: &[(char, Vec<String>)]) -> Option<(char, usize)> {
    let layers = layer_list(image);
    bases
        .iter()
        .find(|(_, base)| layers.starts_with(base))
        .map(|(name, base)| (*name, layers.len() - base.len()))
}

/// The two bases, a build context, and the workspace the binary reads.
struct Corpus {
    a: String,
    b: String,
    layers: [(char, Vec<String>); 2],
    context: TempDir,
    /// Holds the Dockerfile the engine builds.
    scratch: TempDir,
    ws: Workspace,
    images: Images,
}

impl Corpus {
    fn name(&self, c: char) -> String {
        if c == 'a' {
            self.a.clone()
        } else {
            self.b.clone()
        }
    }

    /// One case: the resolver's answer, the binary's (which must run no
    /// docker command), then the engine's build; whether it was accepted.
    fn check(&mut self, case: &DfCase) -> bool {
        let what = case.what;
        let text = format!(
            "{}{PROVENANCE}",
            case.text.replace("@A@", &self.a).replace("@B@", &self.b)
        );
        let mut build_args = std::collections::BTreeMap::new();
        let mut args = vec!["image", "build", "fix", "--dry-run"];
        let override_name = case.base_image.map(|c| self.name(c));
        if let Some(o) = &override_name {
            build_args.insert("BASE_IMG_NAME".to_string(), o.clone());
            // Another base is for development images.
            args.extend(["--dev", "--base-image", o.as_str()]);
        }
        let resolved = xtask::project::dockerfile::final_base(&text, &build_args);
        self.ws.write("env-files/fix/Dockerfile", &text);
        self.ws.commit();
        let fake = FakeDocker::new();
        let run = self.ws.xtask(&args, Some(fake.bin()), &[]);
        let ran: Vec<String> = fake
            .calls()
            .into_iter()
            .filter(|c| !READ_ONLY_PROBES.contains(&c.as_str()))
            .collect();
        assert!(ran.is_empty(), "{what}: docker ran {ran:?}");
        let file = self.scratch.path().join("Dockerfile");
        std::fs::write(&file, &text).unwrap();
        let (fragment, engine) = match case.want {
            Base(want, own) => {
                let base = resolved.unwrap_or_else(|e| panic!("{what}: refused: {e:?}"));
                assert_eq!(base.image, self.name(want), "{what}");
                run.expect(0);
                let pull = format!(" -- {}", base.image);
                assert!(
                    run.stdout
                        .lines()
                        .any(|l| l.starts_with("docker pull --platform ") && l.ends_with(&pull)),
                    "{what}: {}",
                    run.stdout
                );
                // With the build arg the tool passes.
                let arg = format!("BASE_IMG_NAME={}", base.image);
                let id = engine_build(&file, self.context.path(), &[arg])
                    .unwrap_or_else(|| panic!("{what}: the engine did not build it"));
                self.images.0.push(id.clone());
                let on = built_on(&id, &self.layers);
                assert_eq!(
                    on,
                    Some((want, own)),
                    "{what}: the engine's base and own layers"
                );
                // The commits the tool counts on the base are the engine's:
                // its history reaches the base image after exactly those.
                let history = docker(&["history", "--no-trunc", "--quiet", &id]);
                let rows: Vec<&str> = history.lines().collect();
                assert_eq!(
                    rows.get(base.steps).copied(),
                    Some(image_id(&base.image).as_str()),
                    "{what}: {} commits on the base, history {rows:?}",
                    base.steps
                );
                return true;
            }
            Refused(fragment, engine) => {
                let e = resolved.expect_err(what);
                assert!(e.message.contains(fragment), "{what}: {e:?}");
                (fragment, engine)
            }
            Heredoc(engine) => {
                let base = resolved.unwrap_or_else(|e| panic!("{what}: refused: {e:?}"));
                assert_eq!(base.image, self.a, "{what}: BuildKit's reading");
                ("a heredoc, which only BuildKit reads", engine)
            }
        };
        run.expect(2);
        let line = run.error_line();
        assert!(
            line.contains("env-files/fix/Dockerfile:") && line.contains(fragment),
            "{what}: {line}"
        );
        let id = engine_build(&file, self.context.path(), &[]);
        self.images.0.extend(id.clone());
        let on = id.and_then(|i| built_on(&i, &self.layers)).map(|(c, _)| c);
        assert_eq!(
            on.unwrap_or('-'),
            engine,
            "{what}: what the engine does with it"
        );
        false
    }
}

/// Every corpus Dockerfile, three ways: the tool's own resolver
/// (`final_base`, with the build args the tool passes), the binary
/// (`image build --dry-run` with a recording fake docker: its base, or its
/// exit 2 before any docker command), and the engine (the classic builder
/// here): an accepted file is built on the base the tool names, with
/// exactly the Dockerfile's own layers on top; a refused one is built as
/// noted, to show what the refusal prevents.
#[test]
fn dockerfile_reader_agrees_with_the_engine() {
    if !engine_available() {
        return;
    }
    let a = format!("xtask-df-a-{}:1", std::process::id());
    let b = format!("xtask-df-b-{}:1", std::process::id());
    let images = Images(vec![a.clone(), b.clone()]);
    import_image(&a, "jammy");
    import_image(&b, "noble");
    let layers = [('a', layer_list(&a)), ('b', layer_list(&b))];
    assert_ne!(layers[0].1, layers[1].1, "the two bases must differ");
    let context = TempDir::new("df-context");
    std::fs::write(context.path().join("f"), "f\n").unwrap();
    // For the classic builder's reading of `COPY <<EOF f /x/`.
    std::fs::write(context.path().join("<<EOF"), "x\n").unwrap();
    let ws = Workspace::fixture("df-corpus", "127.0.0.1:5999", &a);
    let mut corpus = Corpus {
        a,
        b,
        layers,
        context,
        scratch: TempDir::new("df-file"),
        ws,
        images,
    };
    let built = DF_CORPUS.iter().filter(|case| corpus.check(case)).count();
    eprintln!(
        "dockerfile corpus: {built} built and compared, {} refused before any docker command",
        DF_CORPUS.len() - built
    );
}

/// A final `FROM --platform=$TARGETPLATFORM` under the classic builder:
/// with `ARG TARGETPLATFORM` before the first FROM the tool's build works
/// (it passes the value); without it the engine itself fails to parse the
/// empty platform, which the tool refuses before anything runs.
#[test]
fn a_platform_flag_reading_targetplatform_needs_its_arg_under_the_classic_builder() {
    let Some(EngineTest { registry, base, ws }) = EngineTest::start("e2e-from-flag", JAMMY) else {
        return;
    };
    let reference = format!("{}/itwinai:0.2.2-torch2.6-jammy", registry.host());
    let _cleanup = Cleanup::new(&[&reference, &base]);
    let file = "env-files/fix/Dockerfile";
    let dockerfile = std::fs::read_to_string(ws.root().join(file)).unwrap();
    let flagged = |declared: &str| {
        dockerfile.replacen(
            "FROM ",
            &format!("{declared}FROM --platform=$TARGETPLATFORM "),
            1,
        )
    };

    ws.write(file, &flagged("ARG TARGETPLATFORM\n"));
    ws.commit();
    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    let native = docker(&["version", "--format", "{{.Server.Os}}/{{.Server.Arch}}"]);
    assert_eq!(image_platform(&reference), native.trim());

    ws.write(file, &flagged(""));
    ws.commit();
    let run = ws.xtask(&["image", "build", "fix"], None, &[]);
    run.expect(2);
    assert!(
        run.error_line().contains("FROM --platform=$TARGETPLATFORM reads $TARGETPLATFORM, which the classic builder (no buildx here) leaves empty"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("+ docker build "), "{}", run.stderr);
    assert!(!run.stderr.contains("+ docker pull "), "{}", run.stderr);
    // What the engine does with it, given the value as the tool would.
    let out = std::process::Command::new("docker")
        .env("DOCKER_BUILDKIT", "0")
        .args([
            "build",
            "-q",
            "--build-arg",
            &format!("TARGETPLATFORM={}", native.trim()),
            "-f",
        ])
        .arg(ws.root().join(file))
        .arg(ws.root())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("failed to parse platform"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
