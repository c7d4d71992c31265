//! `cargo xtask release`: HEAD's tested development images promoted in the
//! registry, aliases moved forward, one row per flavour; a broken flavour
//! stops no other, and a run again after a partial release writes only
//! what is missing.

use crate::support::*;
use xtask::support::json::Json;

/// A test that runs the image's own python3 and passes.
const PASSING: &str = r#"["python3", '-c', "import importlib.metadata as m; assert m.version('torch').startswith('2.6')"]"#;

const TAG: &str = "0.2.2-torch2.6-jammy";
const TWIN_TAG: &str = "0.2.2-y-torch2.6-jammy";

/// `fix` with a test, and `twin`: the same Dockerfile under a variant, no
/// alias.
fn two_flavours(host: &str) -> String {
    catalog(host, &format!("test = {PASSING}\n"))
        + "\n[flavours.twin]\ndockerfile = \"env-files/fix/Dockerfile\"\nframework = \"torch\"\nframework-version = \"2.6\"\ndistro = \"jammy\"\nvariant = \"y\"\ntag-format = \"{version}-{variant}-{framework}{framework-version}-{distro}\"\n"
}

/// An engine test whose flavour `fix` declares a passing test.
fn tested(label: &str) -> Option<EngineTest> {
    EngineTest::start_with(label, JAMMY, |h| catalog(h, &format!("test = {PASSING}\n")))
}

fn rows(run: &Run) -> Vec<Json> {
    Json::parse(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
        .as_array()
        .unwrap()
        .to_vec()
}

fn field(row: &Json, k: &str) -> Option<String> {
    row.get(k).and_then(Json::as_str).map(str::to_string)
}

/// The writes (PUT, POST, PATCH) the registry served since `from` lines.
fn writes_since(registry: &Registry, from: usize) -> Vec<String> {
    registry.access_log()[from..]
        .iter()
        .filter(|l| {
            ["\"PUT ", "\"POST ", "\"PATCH "]
                .iter()
                .any(|m| l.contains(m))
        })
        .cloned()
        .collect()
}

#[test]
fn a_release_promotes_what_another_runner_tested_and_resumes() {
    let Some(EngineTest { registry, base, ws }) =
        EngineTest::start_with("rel-cmd", JAMMY, two_flavours)
    else {
        return;
    };
    let host = registry.host();
    let head = ws.head();
    let dev = |tag: &str| format!("{host}/itwinai-dev:{tag}-{}", &head[..12]);
    let release = format!("{host}/itwinai:{TAG}");
    let _cleanup = Cleanup::new(&[&dev(TAG), &dev(TWIN_TAG), &base]);

    // Nothing published yet: each row says what to do, exit 1, no write.
    let run = ws.xtask(&["release", "--all", "--json"], None, &[]);
    run.expect(1);
    let r = rows(&run);
    assert_eq!(r.len(), 2, "{}", run.stdout);
    for row in &r {
        assert_eq!(field(row, "status").as_deref(), Some("failed"), "{row:?}");
        assert!(
            field(row, "error")
                .unwrap()
                .contains("is not in its registry"),
            "{row:?}"
        );
    }
    // fix declares an alias: it is kept where it is, and said so.
    assert_eq!(
        field(&r[0], "alias").as_deref(),
        Some(format!("{host}/itwinai:fix-latest").as_str())
    );
    assert_eq!(field(&r[0], "alias_status").as_deref(), Some("kept"));
    assert_eq!(
        field(&r[0], "alias_reason").as_deref(),
        Some("its release was not published")
    );
    assert_eq!(field(&r[1], "alias"), None);
    assert_eq!(registry.all_tags("itwinai"), Vec::<String>::new());

    // Runner A builds, tests and pushes fix's development image; its test
    // evidence goes with it.
    for args in [
        &["image", "build", "fix", "--dev"][..],
        &["image", "test", "fix", "--dev"],
        &["image", "push", "fix", "--dev"],
    ] {
        ws.xtask(args, None, &[]).expect(0);
    }

    // Runner B (its own empty cache, no local image needed) releases: fix
    // is published with its alias; twin, never pushed, fails alone.
    let elsewhere = TempDir::new("rel-cmd-cache");
    let env = [("XDG_CACHE_HOME", elsewhere.path().to_str().unwrap())];
    let dry = ws.xtask(&["release", "--all", "--dry-run"], None, &env);
    dry.expect(1);
    assert!(
        dry.stdout.contains(&format!(
            "write the manifest <digest of {release} as read back> under {host}/itwinai:fix-latest"
        )),
        "{}",
        dry.stdout
    );
    assert_eq!(
        registry.all_tags("itwinai"),
        Vec::<String>::new(),
        "a dry run writes nothing"
    );
    let before = registry.access_log().len();
    let run = ws.xtask(&["release", "--all", "--json"], None, &env);
    run.expect(1);
    assert!(
        !run.stderr.contains("+ docker "),
        "no engine: {}",
        run.stderr
    );
    let r = rows(&run);
    assert_eq!(field(&r[0], "flavour").as_deref(), Some("fix"));
    assert_eq!(
        field(&r[0], "status").as_deref(),
        Some("published"),
        "{}",
        run.stderr
    );
    assert_eq!(field(&r[0], "alias_status").as_deref(), Some("published"));
    assert_eq!(field(&r[1], "flavour").as_deref(), Some("twin"));
    assert_eq!(field(&r[1], "status").as_deref(), Some("failed"));
    assert!(
        run.stderr.contains("test of flavour 'fix' passed on")
            && run.stderr.contains("evidence recorded"),
        "the gate read the registry: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("audit: ") && run.stderr.contains("fix-latest is current (0.2.2)"),
        "{}",
        run.stderr
    );
    assert_eq!(registry.tags("itwinai"), [TAG, "fix-latest"]);
    let digest = registry.digest("itwinai", TAG).unwrap();
    assert_eq!(
        registry.digest("itwinai", "fix-latest"),
        Some(digest.clone())
    );
    assert_ne!(
        registry.config_digest("itwinai", TAG),
        registry.config_digest("itwinai-dev", &dev(TAG)[dev(TAG).rfind(':').unwrap() + 1..]),
        "ref.name relabelled"
    );
    // The promoted image carries the tested image's evidence.
    let evidence = crate::evidence::evidence_of(&registry, &digest);
    assert_eq!(evidence.len(), 1, "{evidence:?}");
    assert_eq!(
        evidence[0].get("result").and_then(Json::as_str),
        Some("passed")
    );
    // No layer was uploaded: mounts, one config, the manifests.
    let wrote = writes_since(&registry, before);
    assert!(wrote.iter().all(|l| !l.contains("PATCH")), "{wrote:#?}");

    // twin's image arrives; the release runs again: fix is already there
    // (nothing written for it), twin is published. Exit 0.
    ws.xtask(&["image", "build", "twin", "--dev"], None, &[])
        .expect(0);
    ws.xtask(&["image", "push", "twin", "--dev"], None, &[])
        .expect(0);
    let before = registry.access_log().len();
    let run = ws.xtask(&["release", "--all", "--json"], None, &env);
    run.expect(0);
    let r = rows(&run);
    assert_eq!(
        field(&r[0], "status").as_deref(),
        Some("already there"),
        "{}",
        run.stdout
    );
    assert_eq!(
        field(&r[0], "alias_status").as_deref(),
        Some("already there")
    );
    assert_eq!(field(&r[1], "status").as_deref(), Some("published"));
    assert_eq!(field(&r[1], "alias"), None);
    assert_eq!(registry.tags("itwinai"), [TAG, TWIN_TAG, "fix-latest"]);
    let wrote = writes_since(&registry, before);
    assert!(
        wrote.iter().all(|l| l.contains("itwinai/")
            && !l.contains(&format!("manifests/{TAG} "))
            && !l.contains("manifests/fix-latest ")),
        "fix is not written again: {wrote:#?}"
    );

    // And once more: everything is there, nothing is written.
    let before = registry.access_log().len();
    let run = ws.xtask(&["release", "--all"], None, &env);
    run.expect(0);
    assert_eq!(writes_since(&registry, before), Vec::<String>::new());
    assert!(run.stdout.contains("already there"), "{}", run.stdout);
}

#[test]
fn a_pre_release_is_published_without_its_alias() {
    let Some(EngineTest { registry, base, ws }) =
        EngineTest::start_with("rel-pre", JAMMY, |host| {
            catalog(host, &format!("test = {PASSING}\n"))
        })
    else {
        return;
    };
    ws.write("pyproject.toml", &PYPROJECT.replace("0.2.2", "0.3.0rc1"));
    ws.commit();
    let host = registry.host();
    let dev = format!(
        "{host}/itwinai-dev:0.3.0rc1-torch2.6-jammy-{}",
        &ws.head()[..12]
    );
    let _cleanup = Cleanup::new(&[&dev, &base]);
    for args in [
        &["image", "build", "fix", "--dev"][..],
        &["image", "test", "fix", "--dev"],
        &["image", "push", "fix", "--dev"],
    ] {
        ws.xtask(args, None, &[]).expect(0);
    }
    let run = ws.xtask(&["release", "fix", "--json"], None, &[]);
    run.expect(0);
    let r = rows(&run);
    assert_eq!(field(&r[0], "status").as_deref(), Some("published"));
    assert_eq!(field(&r[0], "alias_status").as_deref(), Some("kept"));
    assert!(field(&r[0], "alias_reason")
        .unwrap()
        .contains("pre-release"));
    assert_eq!(registry.tags("itwinai"), ["0.3.0rc1-torch2.6-jammy"]);

    // A dirty tree is refused before anything is read.
    ws.write("notes.txt", "x\n");
    let run = ws.xtask(&["release", "fix"], None, &[]);
    run.expect(2);
    assert!(
        run.error_line().contains("uncommitted changes"),
        "{}",
        run.stderr
    );
}

/// A request line that starts with the first string gets the second
/// replaced by the third before it is relayed: another resource answers.
type Rewrite = std::sync::Arc<std::sync::Mutex<Option<(String, String, String)>>>;

/// A front for a registry on 127.0.0.1: the first `fail` requests whose
/// request line starts with `prefix` get `503` (their body read first);
/// every other connection is relayed to `backend` byte for byte, but for
/// the rewrite set by [`FlakyFront::rewrite`] (first request of a
/// connection only: each curl the tool runs is one).
struct FlakyFront {
    port: u16,
    rewrite: Rewrite,
}

impl FlakyFront {
    fn start(backend: String, prefix: &str, fail: usize) -> FlakyFront {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let failed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let rewrite = Rewrite::default();
        let prefix = prefix.to_string();
        let shared = rewrite.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (backend, prefix, failed) = (backend.clone(), prefix.clone(), failed.clone());
                let rewrite = shared.lock().unwrap().clone();
                std::thread::spawn(move || {
                    relay(client, &backend, &prefix, fail, &failed, rewrite.as_ref())
                });
            }
        });
        FlakyFront { port, rewrite }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// From now on, a request line starting with `line` has `from`
    /// replaced by `to`.
    fn rewrite(&self, line: &str, from: &str, to: &str) {
        *self.rewrite.lock().unwrap() = Some((line.into(), from.into(), to.into()));
    }
}

fn relay(
    mut client: std::net::TcpStream,
    backend: &str,
    prefix: &str,
    fail: usize,
    failed: &std::sync::atomic::AtomicUsize,
    rewrite: Option<&(String, String, String)>,
) {
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering;
    let mut head = Vec::new();
    let mut buf = [0u8; 65536];
    let end = loop {
        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match client.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    };
    let text = String::from_utf8_lossy(&head[..end]).to_string();
    if text.starts_with(prefix) && failed.load(Ordering::SeqCst) < fail {
        failed.fetch_add(1, Ordering::SeqCst);
        let length: usize = text
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        let mut body = head.len() - end;
        while body < length {
            match client.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => body += n,
            }
        }
        let _ = client.write_all(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        return;
    }
    if let Some((_, from, to)) = rewrite.filter(|(line, ..)| text.starts_with(line.as_str())) {
        let mut changed = text.replacen(from.as_str(), to, 1).into_bytes();
        changed.extend_from_slice(&head[end..]);
        head = changed;
    }
    let Ok(mut up) = std::net::TcpStream::connect(backend) else {
        return;
    };
    if up.write_all(&head).is_err() {
        return;
    }
    let (mut c2, mut u2) = (client.try_clone().unwrap(), up.try_clone().unwrap());
    let upward = std::thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut u2);
        let _ = u2.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut up, &mut client);
    let _ = client.shutdown(std::net::Shutdown::Write);
    let _ = upward.join();
}

/// Two 503s on the write of the release tag: each retried, said in one
/// line, and the release is published; no answer is read as absence.
#[test]
fn a_release_retries_what_the_registry_failed_to_take() {
    if !engine_available() {
        return;
    }
    let registry = Registry::start_seeded(&seed_storage(BASES));
    let base = seeded_base(&registry, JAMMY);
    let front = FlakyFront::start(
        registry.host(),
        &format!("PUT /v2/itwinai/manifests/{TAG} "),
        2,
    );
    let host = front.host();
    let ws = unique_workspace("rel-retry", &base, &catalog(&host, ""));
    let dev = format!("{host}/itwinai-dev:{TAG}-{}", &ws.head()[..12]);
    let _cleanup = Cleanup::new(&[&dev, &base]);
    for args in [
        &["image", "build", "fix", "--dev"][..],
        &["image", "push", "fix", "--dev"],
    ] {
        ws.xtask(args, None, &[]).expect(0);
    }
    let quick = [("XTASK_REGISTRY_BACKOFF_MS", "1")];
    let run = ws.xtask(&["release", "fix", "--json"], None, &quick);
    run.expect(0);
    let retries: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("retrying "))
        .collect();
    assert_eq!(retries.len(), 2, "{}", run.stderr);
    assert!(retries.iter().all(|l| l.contains("503")), "{retries:#?}");
    assert_eq!(
        field(&rows(&run)[0], "status").as_deref(),
        Some("published")
    );
    assert_eq!(registry.tags("itwinai"), [TAG, "fix-latest"]);
}

/// Build, test and push `fix --dev` at HEAD; its development tag.
fn pushed_dev(ws: &Workspace) -> String {
    for args in [
        &["image", "build", "fix", "--dev"][..],
        &["image", "test", "fix", "--dev"],
        &["image", "push", "fix", "--dev"],
    ] {
        ws.xtask(args, None, &[]).expect(0);
    }
    format!("{TAG}-{}", &ws.head()[..12])
}

/// Another commit's tested development image, copied registry-side under
/// HEAD's development tag (as `crane copy` or a CI step that reuses the
/// last build would), is not HEAD's release: refused, nothing written.
#[test]
fn a_release_refuses_another_commits_image_under_heads_tag() {
    let Some(EngineTest { registry, base, ws }) = tested("rel-other") else {
        return;
    };
    let host = registry.host();
    let old = pushed_dev(&ws);
    let _cleanup = Cleanup::new(&[&format!("{host}/itwinai-dev:{old}"), &base]);
    ws.write("notes.txt", "the fix\n");
    ws.commit();
    let head = ws.head();
    let now = format!("{TAG}-{}", &head[..12]);
    let manifest = registry
        .body(&format!("/v2/itwinai-dev/manifests/{old}"))
        .unwrap();
    let media = registry.media_type("itwinai-dev", &old).unwrap();
    assert_eq!(
        registry.put_manifest("itwinai-dev", &now, &media, &manifest),
        201
    );

    let run = ws.xtask(&["release", "fix"], None, &[]);
    run.expect(1);
    assert!(
        run.stderr.contains(&format!("not HEAD's commit {head}")),
        "{}",
        run.stderr
    );
    // Promoted by hand from HEAD's development tag: refused too, a release
    // is HEAD's build.
    let copied = format!("{host}/itwinai-dev:{now}");
    let run = ws.xtask(&["image", "tag", "fix", "--from", &copied], None, &[]);
    run.expect(1);
    assert!(
        run.error_line()
            .contains(&format!("not HEAD's commit {head}")),
        "{}",
        run.stderr
    );
    assert_eq!(registry.all_tags("itwinai"), Vec::<String>::new());
    // Nor does the old commit's image go under HEAD's default development
    // tag by a development promotion.
    let run = ws.xtask(
        &[
            "image",
            "tag",
            "fix",
            "--dev",
            "--from",
            &format!("{host}/itwinai-dev:{old}"),
        ],
        None,
        &[],
    );
    run.expect(1);
    assert!(
        run.error_line()
            .contains(&format!("not HEAD's commit {head}")),
        "{}",
        run.stderr
    );
    // HEAD's own build read under the old commit's default tag: refused as
    // well, that tag names another commit than the image's.
    assert_eq!(pushed_dev(&ws), now);
    let _heads = Cleanup::new(&[&format!("{host}/itwinai-dev:{now}")]);
    let manifest = registry
        .body(&format!("/v2/itwinai-dev/manifests/{now}"))
        .unwrap();
    let media = registry.media_type("itwinai-dev", &now).unwrap();
    assert_eq!(
        registry.put_manifest("itwinai-dev", &old, &media, &manifest),
        201
    );
    let stale = format!("{host}/itwinai-dev:{old}");
    let run = ws.xtask(&["image", "tag", "fix", "--from", &stale], None, &[]);
    run.expect(1);
    let old_hex = old.rsplit('-').next().unwrap();
    assert!(
        run.error_line()
            .contains(&format!("a tag that names commit {old_hex}")),
        "{}",
        run.stderr
    );
    assert_eq!(registry.all_tags("itwinai"), Vec::<String>::new());
}

/// A fix committed while a release push runs its test gate (HEAD moves
/// to another commit at the same version) stops the push: it decides
/// again under its lock with HEAD read again, and the build is no longer
/// HEAD's.
#[test]
fn head_moved_during_a_release_push_s_test_publishes_nothing() {
    let Some(EngineTest { registry, base, ws }) = tested("rel-head-moves") else {
        return;
    };
    let prod = format!("{}/itwinai:{TAG}", registry.host());
    let _cleanup = Cleanup::new(&[&prod, &base]);
    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    let built_at = ws.head();
    let wrapper = docker_wrapper(
        "commit-at-test",
        &format!(
            "if [ \"$1\" = run ] && [ ! -e \"$DIR/done\" ]; then\n  touch \"$DIR/done\"\n  \
             git -C '{}' -c user.name=t -c user.email=t@example.invalid commit -q --allow-empty -m 'a fix, committed during the test'\nfi",
            ws.root().display()
        ),
    );
    let run = ws.xtask(&["image", "push", "fix"], Some(wrapper.path()), &[]);
    assert!(wrapper.path().join("done").exists(), "the test ran");
    assert_ne!(ws.head(), built_at);
    run.refused_as_not_heads(&built_at, &ws.head());
    assert_eq!(registry.all_tags("itwinai"), Vec::<String>::new());
}

/// A registry (or a proxy before it) that answers a manifest asked for by
/// digest with another manifest, under that other manifest's own digest,
/// is caught: the release of HEAD is refused, not made of the other image.
#[test]
fn a_manifest_read_by_digest_must_have_that_digest() {
    if !engine_available() {
        return;
    }
    let registry = Registry::start_seeded(&seed_storage(BASES));
    let base = seeded_base(&registry, JAMMY);
    let front = FlakyFront::start(registry.host(), "", 0);
    let host = front.host();
    let ws = unique_workspace(
        "rel-lie",
        &base,
        &catalog(&host, &format!("test = {PASSING}\n")),
    );
    let old = pushed_dev(&ws);
    ws.write("notes.txt", "the fix\n");
    ws.commit();
    let now = pushed_dev(&ws);
    let _cleanup = Cleanup::new(&[
        &format!("{host}/itwinai-dev:{old}"),
        &format!("{host}/itwinai-dev:{now}"),
        &base,
    ]);
    let old_digest = registry.digest("itwinai-dev", &old).unwrap();
    let now_digest = registry.digest("itwinai-dev", &now).unwrap();
    front.rewrite(
        &format!("GET /v2/itwinai-dev/manifests/{now_digest} "),
        &now_digest,
        &old_digest,
    );

    let run = ws.xtask(&["release", "fix"], None, &[]);
    run.expect(1);
    assert!(
        run.stderr.contains(&format!(
            "asked for the manifest {now_digest}, its registry sent content whose digest is {old_digest}"
        )),
        "{}",
        run.stderr
    );
    assert_eq!(registry.all_tags("itwinai"), Vec::<String>::new());
}

/// A development manifest rewritten in the registry with the tested config
/// but other layers (as many) is not released, though this machine ran the
/// test on that config: the evidence names the manifest that was pushed.
#[test]
fn a_manifest_rewritten_with_other_layers_is_not_released() {
    let Some(EngineTest { registry, base, ws }) = tested("rel-layers") else {
        return;
    };
    let tag = pushed_dev(&ws);
    let _cleanup = Cleanup::new(&[&format!("{}/itwinai-dev:{tag}", registry.host()), &base]);
    let path = format!("/v2/itwinai-dev/manifests/{tag}");
    let manifest = registry.body(&path).unwrap();
    let doc = Json::parse(&manifest).unwrap();
    let layers: Vec<String> = doc
        .get("layers")
        .and_then(Json::as_array)
        .unwrap()
        .iter()
        .map(|l| l.get("digest").and_then(Json::as_str).unwrap().to_string())
        .collect();
    assert!(layers.len() >= 2, "{manifest}");
    let tampered = manifest.replacen(&layers[1], &layers[0], 1);
    let media = registry.media_type("itwinai-dev", &tag).unwrap();
    assert_eq!(
        registry.put_manifest("itwinai-dev", &tag, &media, &tampered),
        201
    );

    let run = ws.xtask(&["release", "fix"], None, &[]);
    run.expect(1);
    assert!(
        run.stderr
            .contains("no evidence that the test of flavour 'fix' passed"),
        "{}",
        run.stderr
    );
    assert_eq!(registry.all_tags("itwinai"), Vec::<String>::new());
}
