//! The registry read through its own API, against real registries on
//! 127.0.0.1: `image audit` (what CVMFS unpacks, paginated, declared or
//! not, current or behind), alias moves that read no layer and touch no
//! local name, and a registry that needs a login: never read as empty, no
//! secret printed anywhere.

use std::io::Write;

use crate::support::*;
use xtask::support::json::Json;

const TAG: &str = "0.2.2-torch2.6-jammy";

fn rows(stdout: &str) -> Vec<Json> {
    Json::parse(stdout.trim())
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"))
        .as_array()
        .unwrap_or_else(|| panic!("not an array:\n{stdout}"))
        .to_vec()
}

fn s<'a>(row: &'a Json, key: &str) -> &'a str {
    row.get(key).and_then(Json::as_str).unwrap_or("")
}

/// `tag -> status` of the audit's JSON rows.
fn statuses(stdout: &str) -> Vec<(String, String)> {
    rows(stdout)
        .iter()
        .map(|r| (s(r, "tag").to_string(), s(r, "status").to_string()))
        .collect()
}

/// Local names under `prefix` and the image each names.
fn local_names(prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = docker(&[
        "images",
        "--no-trunc",
        "--format",
        "{{.Repository}}:{{.Tag}} {{.ID}}",
    ])
    .lines()
    .filter(|l| l.starts_with(prefix))
    .map(str::to_string)
    .collect();
    names.sort();
    names
}

#[test]
fn the_audit_lists_what_cvmfs_unpacks_and_aliases_move_reading_no_layer() {
    let Some(EngineTest { registry, base, ws }) = EngineTest::start("reg-audit", JAMMY) else {
        return;
    };
    let host = registry.host();
    let reference = format!("{host}/itwinai:{TAG}");
    let newer = format!("{host}/itwinai:0.3.0-torch2.6-jammy");
    let alias = format!("{host}/itwinai:fix-latest");
    let hand = format!("{host}/itwinai:hand-latest");
    let extras: Vec<String> = (1..=3)
        .map(|n| format!("{host}/itwinai:extra-{n}"))
        .collect();
    let mut names = vec![&reference, &newer, &alias, &hand, &base];
    names.extend(&extras);
    let names: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
    let _cleanup = Cleanup::new(&names);

    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    ws.xtask(&["image", "push", "fix", "--latest"], None, &[])
        .expect(0);

    // A clean namespace: its one alias is declared and current.
    let run = ws.xtask(&["image", "audit", "--json"], None, &[]);
    run.expect(0);
    let got = rows(&run.stdout);
    assert_eq!(got.len(), 1, "{}", run.stdout);
    assert_eq!(s(&got[0], "tag"), "fix-latest");
    assert_eq!(s(&got[0], "status"), "current");
    assert_eq!(s(&got[0], "declared_by"), "fix");
    assert_eq!(s(&got[0], "version"), "0.2.2");
    assert_eq!(
        Some(s(&got[0], "digest").to_string()),
        registry.digest("itwinai", "fix-latest")
    );
    let run = ws.xtask(&["image", "audit"], None, &[]);
    run.expect(0);
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("fix-latest") && l.contains(" current ")),
        "{}",
        run.stdout
    );

    // A -latest tag pushed by hand, among other tags: reported undeclared.
    for target in std::iter::once(&hand).chain(&extras) {
        docker(&["tag", &reference, target]);
        docker(&["push", "-q", target]);
    }
    let run = ws.xtask(&["image", "audit"], None, &[]);
    run.expect(1);
    assert!(
        run.stderr.contains(&format!(
            "finding: {hand} (version 0.2.2) is declared by no flavour of env-files/images.toml"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.error_line().contains("1 of the 2 *-latest tags of"),
        "{}",
        run.stderr
    );

    // A newer release: the alias is behind it.
    ws.xtask(&["version", "set", "0.3.0"], None, &[]).expect(0);
    ws.commit();
    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    ws.xtask(&["image", "push", "fix"], None, &[]).expect(0);
    let run = ws.xtask(&["image", "audit", "--json"], None, &[]);
    run.expect(1);
    assert_eq!(
        statuses(&run.stdout),
        [
            ("fix-latest".to_string(), "behind".to_string()),
            ("hand-latest".to_string(), "undeclared".to_string()),
        ]
    );
    let behind = &rows(&run.stdout)[0];
    assert_eq!(s(behind, "newest_release"), "0.3.0");
    assert!(
        run.stderr
            .contains("is behind flavour 'fix''s newest release 0.3.0"),
        "{}",
        run.stderr
    );

    // Moving it forward reads configs only: with the old image gone from
    // the engine, a pull would have fetched its layers.
    let old_id = image_id(&reference);
    let new_id = image_id(&newer);
    // The alias was written in the registry only: no local name of it.
    assert!(!docker_ok(&["image", "inspect", &alias]));
    docker(&["rmi", &reference, &hand]);
    for e in &extras {
        docker(&["rmi", e]);
    }
    let before_names = local_names(&host);
    let before_log = registry.access_log().len();
    let run = ws.xtask(&["image", "push", "fix", "--latest"], None, &[]);
    run.expect(0);
    assert!(run.stderr.contains("(moved"), "{}", run.stderr);
    let reads: Vec<String> = registry.access_log()[before_log..]
        .iter()
        .filter(|l| l.contains("\"GET ") && l.contains("/blobs/"))
        .cloned()
        .collect();
    assert!(!reads.is_empty(), "the old alias's config is read");
    for r in &reads {
        assert!(
            r.contains(&old_id) || r.contains(&new_id),
            "a blob other than a config was read: {r}"
        );
    }
    // No local name changed: the alias was written in the registry, as
    // the release's own manifest.
    assert_eq!(local_names(&host), before_names);
    assert!(!docker_ok(&["image", "inspect", &alias]));
    assert_eq!(
        registry.config_digest("itwinai", "fix-latest"),
        Some(new_id)
    );
    assert!(!docker_ok(&["image", "inspect", &reference]), "not pulled");

    let run = ws.xtask(&["image", "audit", "--json"], None, &[]);
    run.expect(1);
    assert_eq!(
        statuses(&run.stdout),
        [
            ("fix-latest".to_string(), "current".to_string()),
            ("hand-latest".to_string(), "undeclared".to_string()),
        ]
    );

    // list --remote: the release tag and the alias, published, at the
    // registry's digests.
    let run = ws.xtask(&["image", "list", "--remote", "--json"], None, &[]);
    run.expect(0);
    let remote = rows(&run.stdout)[0].get("remote").cloned().unwrap();
    for (key, tag) in [
        ("reference", "0.3.0-torch2.6-jammy"),
        ("latest", "fix-latest"),
    ] {
        let r = remote.get(key).unwrap();
        assert_eq!(r.get("published"), Some(&Json::Bool(true)), "{key}");
        assert_eq!(
            r.get("digest").and_then(Json::as_str).map(str::to_string),
            registry.digest("itwinai", tag),
            "{key}"
        );
    }
}

/// `docker login HOST` with `config` as DOCKER_CONFIG.
fn docker_login(config: &std::path::Path, host: &str, user: &str, password: &str) {
    docker_with_input_in(
        Some(config),
        &["login", host, "-u", user, "--password-stdin"],
        password,
    );
}

/// What a test of a registry that needs a login starts from: the seeded
/// bases' registry, the `private` one the catalog names, the workspace,
/// and its DOCKER_CONFIG directory (empty: not logged in).
struct Private {
    _bases: Registry,
    _cleanup: Cleanup,
    private: Registry,
    host: String,
    ws: Workspace,
    config: std::path::PathBuf,
}

fn private_setup(label: &str, start: impl FnOnce() -> Registry) -> Option<Private> {
    let EngineTest { registry, base, ws } = EngineTest::start(label, JAMMY)?;
    let private = start();
    let host = private.host();
    ws.write("env-files/images.toml", &catalog(&host, ""));
    ws.commit();
    let reference = format!("{host}/itwinai:{TAG}");
    let alias = format!("{host}/itwinai:fix-latest");
    let cleanup = Cleanup::new(&[&reference, &alias, &base]);
    let config = ws.home.path().join(".docker");
    std::fs::create_dir_all(&config).unwrap();
    Some(Private {
        _bases: registry,
        _cleanup: cleanup,
        private,
        host,
        ws,
        config,
    })
}

/// An `image audit` refused in one line: no login, or `wrong` ones.
fn audit_refused(p: &Private, wrong: bool) -> Run {
    let run = p.ws.xtask(&["image", "audit"], None, &[]);
    run.expect(1);
    let host = &p.host;
    let want = if wrong {
        format!("{host} refused the credentials docker keeps for it (HTTP 401) to read itwinai; log in again with `docker login {host}`")
    } else {
        format!("{host} needs a login to read itwinai (HTTP 401) and docker keeps no credentials for it; run `docker login {host}`")
    };
    assert!(run.error_line().contains(&want), "{}", run.stderr);
    run
}

/// docker's config with a wrong password for the private registry.
fn write_wrong_credentials(p: &Private) {
    std::fs::write(
        p.config.join("config.json"),
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#,
            p.host,
            base64_encode(b"xtask:wrong")
        ),
    )
    .unwrap();
}

/// Logged in: build, push the release and its alias, audit them current.
fn login_push_and_audit(p: &Private, secret: &str) -> Vec<Run> {
    docker_login(&p.config, &p.host, "xtask", secret);
    p.ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    let push = p.ws.xtask(&["image", "push", "fix", "--latest"], None, &[]);
    push.expect(0);
    let audit = p.ws.xtask(&["image", "audit", "--json"], None, &[]);
    audit.expect(0);
    assert_eq!(
        statuses(&audit.stdout),
        [("fix-latest".to_string(), "current".to_string())]
    );
    vec![push, audit]
}

/// `pairs` as `Workspace::xtask` takes them.
fn env_of<'a>(pairs: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// A password a proxy URL holds, which no output may show.
const PROXY_SECRET: &str = "pr0xy-Pa55";

/// `image audit --json` with a proxy in every variable that names one:
/// it works, and the proxy sees nothing of the loopback registry (not its
/// credentials, Basic in clear over HTTP, not a request).
fn audit_ignoring_a_proxy(ws: &Workspace) -> Run {
    let proxy = Listener::start();
    let vars = every_proxy_variable(&proxy.proxy_url("proxyuser", PROXY_SECRET));
    let run = ws.xtask(&["image", "audit", "--json"], None, &env_of(&vars));
    run.expect(0);
    assert_eq!(proxy.received(), Vec::<String>::new(), "{}", run.stderr);
    assert!(run.stderr.contains("--noproxy '*'"), "{}", run.stderr);
    for out in [&run.stdout, &run.stderr] {
        assert!(!out.contains(PROXY_SECRET), "{out}");
    }
    run
}

#[test]
fn a_registry_that_needs_a_login_is_never_read_as_absent() {
    const SECRET: &str = "s3cret-Pa55";
    let Some(p) = private_setup("reg-auth", || {
        Registry::start_with_htpasswd("xtask", SECRET)
    }) else {
        return;
    };
    let (ws, host, config, private) = (&p.ws, &p.host, &p.config, &p.private);
    let secret_b64 = base64_encode(format!("xtask:{SECRET}").as_bytes());
    // Not logged in, then logged in.
    let mut outputs = vec![audit_refused(&p, false)];
    outputs.extend(login_push_and_audit(&p, SECRET));
    outputs.push(audit_ignoring_a_proxy(ws));
    assert_eq!(private.tags("itwinai"), [TAG, "fix-latest"]);
    let published = private.digest("itwinai", TAG).unwrap();

    // Wrong credentials (a hand-edited docker config): a rebuilt release
    // is refused before anything is written, the published tag untouched.
    write_wrong_credentials(&p);
    ws.write("env-files/fix/extra.txt", "changed\n");
    ws.commit();
    ws.xtask(&["image", "build", "fix"], None, &[]).expect(0);
    for args in [
        &["image", "push", "fix", "--json"][..],
        &["image", "audit"][..],
    ] {
        let run = ws.xtask(args, None, &[]);
        run.expect(1);
        assert!(
            run.error_line().contains(&format!(
                "{host} refused the credentials docker keeps for it (HTTP 401) to read itwinai; log in again with `docker login {host}`"
            )),
            "{args:?}: {}",
            run.stderr
        );
        assert!(!wrote_to_registry(&run.stderr), "{}", run.stderr);
        outputs.push(run);
    }
    assert_eq!(private.tags("itwinai"), [TAG, "fix-latest"]);
    assert_eq!(private.digest("itwinai", TAG), Some(published));

    // A credential helper (`credHelpers`), as docker runs it: the registry
    // on stdin, the credentials as JSON on stdout.
    let helpers = TempDir::new("cred-helper");
    let helper = helpers.path().join("docker-credential-xtasktest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 3\nread server\n[ \"$server\" = '{host}' ] || {{ echo 'credentials not found in native keychain'; exit 1; }}\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"xtask\",\"Secret\":\"{SECRET}\"}}' \"$server\"\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(
        config.join("config.json"),
        format!(r#"{{"credHelpers":{{"{host}":"xtasktest"}}}}"#),
    )
    .unwrap();
    let run = ws.xtask(&["image", "audit"], Some(helpers.path()), &[]);
    run.expect(0);
    assert!(
        run.stderr.contains("+ docker-credential-xtasktest get"),
        "{}",
        run.stderr
    );
    outputs.push(run);

    // No credential anywhere the tool printed.
    let wrong_b64 = base64_encode(b"xtask:wrong");
    for run in &outputs {
        for secret in [SECRET, secret_b64.as_str(), wrong_b64.as_str(), "wrong"] {
            assert!(
                !run.stdout.contains(secret) && !run.stderr.contains(secret),
                "{secret} printed:\n{}\n{}",
                run.stdout,
                run.stderr
            );
        }
    }
}

/// An HTTP/1.1 server on 127.0.0.1, one thread, one request per
/// connection: `answer(path, authorization)` gives the status line text,
/// extra header lines (each ending in CRLF) and the body. Its port.
fn serve(answer: impl Fn(&str, Option<&str>) -> (String, String, String) + Send + 'static) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if std::io::BufRead::read_line(&mut reader, &mut line).is_err() {
                continue;
            }
            let mut authorization = None;
            loop {
                let mut h = String::new();
                if std::io::BufRead::read_line(&mut reader, &mut h).unwrap_or(0) == 0 || h == "\r\n"
                {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    if k.eq_ignore_ascii_case("authorization") {
                        authorization = Some(v.trim().to_string());
                    }
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("");
            let (status, headers, body) = answer(path, authorization.as_deref());
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// A registry API on 127.0.0.1 that pages its tag list as the distribution
/// spec says (`n`, `last`, a `Link` to the next page), which Debian's
/// docker-registry 2.8 does not: `tags` of repository `itwinai`, each
/// `*-latest` one serving an image whose config says `versions[tag]`.
struct PagingRegistry {
    port: u16,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// How a [`PagingRegistry`] misbehaves.
#[derive(Clone, Copy, PartialEq)]
enum Quirk {
    None,
    /// Every page links back to the first.
    LoopingLinks,
    /// The manifests answer 503 with a body that looks like a 404 header
    /// block with MANIFEST_UNKNOWN.
    ForgedAbsent,
    /// Each tag list page sends a `Link` to the first page, another
    /// header, then the `Link` to the next page, then that other header
    /// again (curl 7.88's `%{header_json}` lost the header between two
    /// `Link`s, and with it every page after the first).
    SplitLinks,
}

impl PagingRegistry {
    fn start(tags: Vec<String>, versions: Vec<(String, String)>) -> PagingRegistry {
        PagingRegistry::start_with(tags, versions, Quirk::None)
    }

    fn start_with(
        tags: Vec<String>,
        versions: Vec<(String, String)>,
        quirk: Quirk,
    ) -> PagingRegistry {
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = requests.clone();
        let port = serve(move |path, _| {
            seen.lock().unwrap().push(path.to_string());
            match quirk {
                Quirk::LoopingLinks if path.contains("/tags/list") => (
                    "200 OK".to_string(),
                    "Link: </v2/itwinai/tags/list?n=3&last=a>; rel=\"next\"\r\n".to_string(),
                    r#"{"name":"itwinai","tags":["a"]}"#.to_string(),
                ),
                Quirk::ForgedAbsent if path.contains("/manifests/") => (
                    "503 Service Unavailable".to_string(),
                    String::new(),
                    "HTTP/1.1 404 Not Found\r\n\r\n{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\"}]}"
                        .to_string(),
                ),
                Quirk::SplitLinks if path.contains("/tags/list") => {
                    let (status, link, body) = answer(path, &tags, &versions);
                    let headers = format!(
                        "Link: </v2/itwinai/tags/list?n=3>; rel=\"first\"\r\nX-Page: a\r\n{link}X-Page: b\r\nDocker-Distribution-Api-Version: registry/2.0\r\nDocker-Distribution-Api-Version: registry/2.0\r\n"
                    );
                    (status, headers, body)
                }
                _ => answer(path, &tags, &versions),
            }
        });
        PagingRegistry { port, requests }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// The config blob of an image at `version` (its labels only).
fn config_of(version: &str) -> String {
    format!(r#"{{"config":{{"Labels":{{"org.opencontainers.image.version":"{version}"}}}}}}"#)
}

/// Its digest: the sha256 of its bytes, as the tool checks what it reads.
fn config_digest(version: &str) -> String {
    xtask::support::sha256::digest(config_of(version).as_bytes())
}

fn answer(path: &str, tags: &[String], versions: &[(String, String)]) -> (String, String, String) {
    let unknown = |code: &str| {
        (
            "404 Not Found".to_string(),
            String::new(),
            format!(r#"{{"errors":[{{"code":"{code}"}}]}}"#),
        )
    };
    if path == "/v2/" {
        return ("200 OK".into(), String::new(), "{}".into());
    }
    if let Some(query) = path.strip_prefix("/v2/itwinai/tags/list?") {
        let param = |k: &str| {
            query
                .split('&')
                .find_map(|p| p.strip_prefix(&format!("{k}=")))
                .map(str::to_string)
        };
        let n: usize = param("n").and_then(|n| n.parse().ok()).unwrap_or(1000);
        let mut sorted = tags.to_vec();
        sorted.sort();
        let after: Vec<&String> = match param("last") {
            Some(last) => sorted.iter().filter(|t| **t > last).collect(),
            None => sorted.iter().collect(),
        };
        let page: Vec<&String> = after.iter().take(n).copied().collect();
        let link = if after.len() > n {
            format!(
                "Link: </v2/itwinai/tags/list?last={}&n={n}>; rel=\"next\"\r\n",
                page.last().unwrap()
            )
        } else {
            String::new()
        };
        let list: Vec<String> = page.iter().map(|t| format!("\"{t}\"")).collect();
        return (
            "200 OK".into(),
            link,
            format!(r#"{{"name":"itwinai","tags":[{}]}}"#, list.join(",")),
        );
    }
    if let Some(tag) = path.strip_prefix("/v2/itwinai/manifests/") {
        let Some((_, version)) = versions.iter().find(|(t, _)| t == tag) else {
            return unknown("MANIFEST_UNKNOWN");
        };
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"{}"}},"layers":[]}}"#,
            config_digest(version)
        );
        // The digest of the bytes sent, as a registry reports it.
        return (
            "200 OK".into(),
            format!(
                "Content-Type: application/vnd.docker.distribution.manifest.v2+json\r\nDocker-Content-Digest: {}\r\n",
                xtask::support::sha256::digest(body.as_bytes())
            ),
            body,
        );
    }
    if let Some(digest) = path.strip_prefix("/v2/itwinai/blobs/") {
        let Some((_, version)) = versions.iter().find(|(_, v)| config_digest(v) == digest) else {
            return unknown("BLOB_UNKNOWN");
        };
        return ("200 OK".into(), String::new(), config_of(version));
    }
    unknown("NAME_UNKNOWN")
}

#[test]
fn the_audit_follows_every_page_of_the_tag_list() {
    // Also when the page's headers repeat, a Link on either side of
    // another header: every Link header is read.
    for quirk in [Quirk::None, Quirk::SplitLinks] {
        let mut tags: Vec<String> = (1..=20).map(|n| format!("build-{n:02}")).collect();
        for t in [TAG, "0.3.0-torch2.6-jammy", "fix-latest", "other-latest"] {
            tags.push(t.to_string());
        }
        let versions = vec![
            ("fix-latest".to_string(), "0.2.2".to_string()),
            ("other-latest".to_string(), "0.3.0".to_string()),
        ];
        let registry = PagingRegistry::start_with(tags, versions, quirk);
        let ws = Workspace::fixture("reg-pages", &registry.host(), "127.0.0.1:1/base:1");
        let run = ws.xtask(
            &["image", "audit", "--json"],
            None,
            &[("XTASK_TAGS_PAGE_SIZE", "3")],
        );
        run.expect(1);
        let pages: Vec<String> = registry
            .requests()
            .into_iter()
            .filter(|p| p.contains("/tags/list"))
            .collect();
        // 24 tags, 3 a page: 8 pages, each after the last tag of the one before.
        assert_eq!(pages.len(), 8, "{pages:?}");
        assert_eq!(pages[0], "/v2/itwinai/tags/list?n=3");
        assert_eq!(pages[1], "/v2/itwinai/tags/list?last=build-01&n=3");
        assert_eq!(
            statuses(&run.stdout),
            [
                ("fix-latest".to_string(), "behind".to_string()),
                ("other-latest".to_string(), "undeclared".to_string()),
            ]
        );
        assert!(
            run.stderr.contains("24 tags, 2 of them *-latest"),
            "{}",
            run.stderr
        );
        // Only manifests and configs were read, no layer.
        assert!(
            registry.requests().iter().all(|p| p.contains("/tags/list")
                || p.contains("/manifests/")
                || p.contains("/blobs/sha256:")),
            "{:?}",
            registry.requests()
        );
    }
}

#[test]
fn no_proxy_sees_a_loopback_registry() {
    let registry = PagingRegistry::start(
        vec![TAG.to_string(), "fix-latest".to_string()],
        vec![("fix-latest".to_string(), "0.2.2".to_string())],
    );
    let ws = Workspace::fixture("reg-proxy", &registry.host(), "127.0.0.1:1/base:1");
    let run = audit_ignoring_a_proxy(&ws);
    assert_eq!(
        statuses(&run.stdout),
        [("fix-latest".to_string(), "current".to_string())]
    );
    // A proxy setting that is not UTF-8 is refused before anything runs.
    let mut cmd = ws.xtask_command(&["image", "audit"], None);
    cmd.env(
        "HTTPS_PROXY",
        <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"http://p\xff:1"),
    );
    let before = registry.requests().len();
    let run = Run::from(cmd.output().unwrap());
    run.expect(2);
    assert!(
        run.error_line().contains("HTTPS_PROXY is not valid UTF-8"),
        "{}",
        run.stderr
    );
    assert_eq!(registry.requests().len(), before);
}

#[test]
fn a_remote_registry_is_read_through_the_proxy_docker_would_use() {
    // 0.0.0.0 is not loopback (docker proxies it, over HTTPS) but reaches
    // this machine: `direct` stands for the registry reached directly.
    let direct = Listener::start();
    let host = format!("0.0.0.0:{}", direct.port);
    let ws = Workspace::fixture("reg-remote-proxy", &host, "127.0.0.1:1/base:1");
    let (upper, lower, other) = (Listener::start(), Listener::start(), Listener::start());
    let audit = |vars: &[(&'static str, String)]| {
        // The proxy's refusal is not retried here: which proxy is used is
        // the subject, not how often.
        let mut env = env_of(vars);
        env.push(("XTASK_REGISTRY_RETRIES", "0"));
        let run = ws.xtask(&["image", "audit"], None, &env);
        run.expect(1);
        let line = run.error_line();
        assert!(
            line.contains(&format!("https://{host}/v2/itwinai/tags/list")),
            "{line}"
        );
        for out in [&run.stdout, &run.stderr] {
            assert!(!out.contains(PROXY_SECRET), "{out}");
        }
        run
    };
    let others = |url: String| -> Vec<(&'static str, String)> {
        ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]
            .into_iter()
            .map(|k| (k, url.clone()))
            .collect()
    };

    // HTTPS_PROXY, not https_proxy (which curl itself would take), never
    // ALL_PROXY or HTTP_PROXY; with the credentials its URL holds.
    let mut vars = others(other.proxy_url("o", "o"));
    vars.push(("HTTPS_PROXY", upper.proxy_url("proxyuser", PROXY_SECRET)));
    vars.push(("https_proxy", lower.proxy_url("l", "l")));
    let run = audit(&vars);
    assert!(
        run.error_line()
            .contains("CONNECT tunnel failed, response 502"),
        "{}",
        run.stderr
    );
    let got = upper.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with(&format!("CONNECT {host} HTTP/1.1\r\n")),
        "{got:?}"
    );
    let basic = base64_encode(format!("proxyuser:{PROXY_SECRET}").as_bytes());
    assert!(
        got[0].contains(&format!("Proxy-Authorization: Basic {basic}\r\n")),
        "{got:?}"
    );
    for l in [&lower, &other, &direct] {
        assert_eq!(l.received(), Vec::<String>::new());
    }

    // No HTTPS_PROXY: no proxy at all, whatever the others say.
    audit(&others(other.proxy_url("o", "o")));
    assert_eq!(other.received(), Vec::<String>::new());
    assert_eq!(direct.received().len(), 1);
    // A TLS hello, not a request for a proxy.
    assert!(
        direct.received()[0].starts_with('\u{16}'),
        "{:?}",
        direct.received()
    );

    // NO_PROXY names the host: no proxy.
    let vars = vec![
        ("HTTPS_PROXY", upper.proxy_url("proxyuser", PROXY_SECRET)),
        ("NO_PROXY", "example.com, 0.0.0.0".to_string()),
    ];
    audit(&vars);
    assert_eq!(upper.received().len(), 1);
    assert_eq!(direct.received().len(), 2);
}

/// Base64url without padding (JWT).
fn b64url(bytes: &[u8]) -> String {
    base64_encode(bytes)
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_")
}

/// A token service for a registry with `auth: token`, as Docker Hub and
/// ghcr.io have: on `GET /token?service=…&scope=…` it answers a JWT signed
/// (RS256, by openssl) with a self-signed certificate the registry trusts.
/// `user:password` gets every action asked for; anyone else gets a token
/// without access, except with wrong credentials: 401.
struct TokenService {
    port: u16,
    dir: TempDir,
}

impl TokenService {
    fn start(user: &'static str, password: &'static str) -> TokenService {
        let dir = TempDir::new("token-service");
        let status = std::process::Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", "/CN=xtask-test-issuer", "-keyout"])
            .arg(dir.path().join("key.pem"))
            .arg("-out")
            .arg(dir.path().join("cert.pem"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl");
        assert!(status.success());
        let pem = std::fs::read_to_string(dir.path().join("cert.pem")).unwrap();
        let der_b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let key = dir.path().join("key.pem");
        let expected = format!(
            "Basic {}",
            base64_encode(format!("{user}:{password}").as_bytes())
        );
        let port = serve(move |path, authorization| {
            let query = path.split_once('?').map_or("", |(_, q)| q);
            let scope = query
                .split('&')
                .find_map(|p| p.strip_prefix("scope="))
                .map(|s| {
                    s.replace("%3A", ":")
                        .replace("%2C", ",")
                        .replace("%2F", "/")
                });
            let access = match (authorization, &scope) {
                (Some(a), _) if a != expected => None,
                (Some(_), Some(scope)) => {
                    let parts: Vec<&str> = scope.split(':').collect();
                    let actions: Vec<String> =
                        parts[2].split(',').map(|a| format!("\"{a}\"")).collect();
                    Some(format!(
                        r#"[{{"type":"repository","name":"{}","actions":[{}]}}]"#,
                        parts[1],
                        actions.join(",")
                    ))
                }
                _ => Some("[]".to_string()),
            };
            let Some(access) = access else {
                return ("401 Unauthorized".to_string(), String::new(), String::new());
            };
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let header = format!(r#"{{"alg":"RS256","typ":"JWT","x5c":["{der_b64}"]}}"#);
            let claims = format!(
                r#"{{"iss":"xtask-test-issuer","sub":"xtask","aud":"xtask-test","exp":{},"nbf":{},"iat":{},"jti":"{now}-{}","access":{access}}}"#,
                now + 300,
                now - 10,
                now - 10,
                std::process::id()
            );
            let signing = format!(
                "{}.{}",
                b64url(header.as_bytes()),
                b64url(claims.as_bytes())
            );
            let mut openssl = std::process::Command::new("openssl")
                .args(["dgst", "-sha256", "-sign"])
                .arg(&key)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            openssl
                .stdin
                .take()
                .unwrap()
                .write_all(signing.as_bytes())
                .unwrap();
            let signature = openssl.wait_with_output().unwrap().stdout;
            (
                "200 OK".to_string(),
                "Content-Type: application/json\r\n".to_string(),
                format!(r#"{{"token":"{signing}.{}"}}"#, b64url(&signature)),
            )
        });
        TokenService { port, dir }
    }

    /// The registry's `auth:` configuration for this service.
    fn registry_config(&self) -> String {
        format!(
            "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: xtask-test\n    issuer: xtask-test-issuer\n    rootcertbundle: {}\n",
            self.port,
            self.dir.path().join("cert.pem").display()
        )
    }
}

#[test]
fn a_token_registry_is_read_with_a_token_from_its_realm() {
    const SECRET: &str = "t0ken-Pa55";
    let tokens = TokenService::start("xtask", SECRET);
    let config = tokens.registry_config();
    let Some(p) = private_setup("reg-token", || Registry::start_configured(&config)) else {
        return;
    };

    // Anonymous: the token carries no access; a one-line refusal, after
    // asking the realm for the scope the registry named.
    let run = audit_refused(&p, false);
    assert!(
        run.stderr.contains(&format!(
            "http://127.0.0.1:{}/token?service=xtask-test&scope=repository%3Aitwinai%3Apull",
            tokens.port
        )),
        "{}",
        run.stderr
    );

    // Logged in: the push and its alias, then a clean audit; the token
    // never shows (a bearer header is not echoed).
    // A proxy sees nothing of the registry or of its loopback realm.
    let mut runs = login_push_and_audit(&p, SECRET);
    runs.push(audit_ignoring_a_proxy(&p.ws));
    for r in runs {
        assert!(
            !r.stderr.contains("Bearer") && !r.stderr.contains(SECRET),
            "{}",
            r.stderr
        );
    }

    // Wrong credentials: the token service refuses them.
    write_wrong_credentials(&p);
    audit_refused(&p, true);
}

#[test]
fn a_looping_tag_list_or_a_forged_absent_is_an_error_not_an_answer() {
    // Every page links back: an error, not an endless walk.
    let looping = PagingRegistry::start_with(vec![], vec![], Quirk::LoopingLinks);
    let ws = Workspace::fixture("reg-loop", &looping.host(), "127.0.0.1:1/base:1");
    let run = ws.xtask(&["image", "audit"], None, &[]);
    run.expect(1);
    assert!(
        run.error_line().contains("the registry is looping"),
        "{}",
        run.stderr
    );
    assert!(looping.requests().len() <= 3, "{:?}", looping.requests());

    // A 503 whose body looks like a 404 with MANIFEST_UNKNOWN is a 503.
    let forged = PagingRegistry::start_with(
        vec!["fix-latest".to_string()],
        vec![("fix-latest".to_string(), "0.2.2".to_string())],
        Quirk::ForgedAbsent,
    );
    let ws = Workspace::fixture("reg-forged", &forged.host(), "127.0.0.1:1/base:1");
    // Retried (a 503 passes), each retry said; never read as absent.
    let quick = [
        ("XTASK_REGISTRY_RETRIES", "2"),
        ("XTASK_REGISTRY_BACKOFF_MS", "1"),
    ];
    let run = ws.xtask(&["image", "audit", "--json"], None, &quick);
    run.expect(1);
    assert!(
        run.error_line().contains(&format!(
            "{} answered HTTP 503 to the manifest {}/itwinai:fix-latest 3 times in a row",
            forged.host(),
            forged.host()
        )),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.stderr.matches("retrying the manifest").count(),
        2,
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("\"exit_code\":1"), "{}", run.stdout);
    // An invalid page size is refused before anything runs.
    let run = ws.xtask(&["image", "audit"], None, &[("XTASK_TAGS_PAGE_SIZE", "0")]);
    run.expect(2);
    assert!(
        run.error_line().contains("XTASK_TAGS_PAGE_SIZE is '0'"),
        "{}",
        run.stderr
    );
}

/// A registry API on 127.0.0.1 whose tag list names `fix-latest` and
/// whose manifests answer 200 with a body that never ends and holds no
/// newline: chunked, no Content-Length (curl's `--max-filesize` cannot
/// refuse it up front). It stops at 512 MiB, or when the reader goes.
fn endless_registry() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                loop {
                    let mut line = String::new();
                    if std::io::BufRead::read_line(&mut reader, &mut line).unwrap_or(0) == 0
                        || line == "\r\n"
                    {
                        break;
                    }
                    request.push_str(&line);
                }
                if request.contains("/tags/list") {
                    let body = r#"{"name":"itwinai","tags":["fix-latest"]}"#;
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    return;
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nDocker-Content-Digest: sha256:{}\r\nTransfer-Encoding: chunked\r\n\r\n",
                    "e".repeat(64)
                );
                let chunk = format!("10000\r\n{}\r\n", "{".repeat(0x10000));
                for _ in 0..(512 * 16) {
                    if stream.write_all(chunk.as_bytes()).is_err() {
                        return;
                    }
                }
                let _ = stream.write_all(b"0\r\n\r\n");
            });
        }
    });
    port
}

/// `getrusage`'s record, as Linux lays it out on 64-bit machines.
#[repr(C)]
struct Rusage {
    utime: [i64; 2],
    stime: [i64; 2],
    maxrss: i64,
    rest: [i64; 13],
}

extern "C" {
    fn wait4(pid: i32, status: *mut i32, options: i32, rusage: *mut Rusage) -> i32;
}

/// Reap `child` with `wait4`: its exit code and the peak resident memory
/// (KiB) of it and the children it waited for, which std does not report.
fn wait_with_peak_memory(child: &std::process::Child) -> (Option<i32>, i64) {
    let mut status = 0;
    let mut usage = Rusage {
        utime: [0; 2],
        stime: [0; 2],
        maxrss: 0,
        rest: [0; 13],
    };
    // SAFETY: `status` and `usage` outlive the call, which fills them.
    let pid = unsafe { wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32, "wait4 failed");
    let status =
        <std::process::ExitStatus as std::os::unix::process::ExitStatusExt>::from_raw(status);
    (status.code(), usage.maxrss)
}

#[test]
fn an_endless_answer_is_cut_at_the_cap_in_bounded_memory() {
    // The peak below is xtask's own only where no other test grew the
    // process that spawns it.
    if !alone_in_a_process() {
        return;
    }
    let port = endless_registry();
    let ws = Workspace::fixture(
        "reg-endless",
        &format!("127.0.0.1:{port}"),
        "127.0.0.1:1/base:1",
    );
    let mut cmd = ws.xtask_command(&["image", "audit", "--json"], None);
    // Reaped by wait4 (wait_with_peak_memory), not by std.
    #[allow(clippy::zombie_processes)]
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_string(&mut text);
            }
            text
        })
    };
    let out = read(child.stdout.take().map(|p| Box::new(p) as _));
    let err = read(child.stderr.take().map(|p| Box::new(p) as _));
    let (code, peak_kib) = wait_with_peak_memory(&child);
    eprintln!("peak resident memory of xtask reading an endless body: {peak_kib} KiB");
    let run = Run {
        code,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    };
    // One line naming what printed too much and the cap, exit 1, the JSON
    // document still printed; no abort, no backtrace.
    run.expect(1);
    let line = run.error_line();
    assert!(
        line.contains(&format!(
            "cannot read the manifest 127.0.0.1:{port}/itwinai:fix-latest (http://127.0.0.1:{port}/v2/itwinai/manifests/fix-latest): `curl` printed more than 65 MiB on its stdout, the most this tool keeps of it, and was stopped"
        )),
        "{line}"
    );
    assert!(run.stdout.contains("\"exit_code\":1"), "{}", run.stdout);
    // The cap is 65 MiB; a reader that grew with the body would have held
    // the 512 MiB the server sends.
    assert!(peak_kib < 200 * 1024, "peak {peak_kib} KiB");
}

/// `openssl s_server -HTTP` on 127.0.0.1: each file under its folder is
/// served whole as the raw HTTP response (status line, headers, body) to a
/// GET of its path, over TLS with a certificate for 0.0.0.0, which curl
/// trusts through `CURL_CA_BUNDLE`. A registry on 0.0.0.0 is read over
/// HTTPS, as any non-loopback one. Stopped by its PID on drop.
struct RawTlsServer {
    child: std::process::Child,
    port: u16,
    dir: TempDir,
}

impl RawTlsServer {
    fn start(files: &[(&str, String)]) -> RawTlsServer {
        let dir = TempDir::new("raw-tls");
        let www = dir.path().join("www");
        for (path, response) in files {
            let p = www.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, response).unwrap();
        }
        let status = std::process::Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args([
                "-subj",
                "/CN=0.0.0.0",
                "-addext",
                "subjectAltName=IP:0.0.0.0",
            ])
            .arg("-keyout")
            .arg(dir.path().join("key.pem"))
            .arg("-out")
            .arg(dir.path().join("cert.pem"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl");
        assert!(status.success());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("openssl")
            .args(["s_server", "-quiet", "-HTTP", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(dir.path().join("cert.pem"))
            .arg("-key")
            .arg(dir.path().join("key.pem"))
            .current_dir(&www)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("openssl s_server");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "s_server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        RawTlsServer { child, port, dir }
    }

    fn ca_bundle(&self) -> String {
        self.dir.path().join("cert.pem").display().to_string()
    }
}

impl Drop for RawTlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP/1.1 response, `headers` each ending in CRLF.
fn raw(status: &str, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[test]
fn the_headers_read_are_those_of_the_final_response() {
    // The first tag list page comes after an informational answer and a
    // redirect whose own Link names a page that must not be read; the
    // final answer's Link names the second page. (s_server serves no path
    // with a ':', so no manifest or blob here.)
    let server = RawTlsServer::start(&[
        (
            "v2/itwinai/tags/list?n=1000",
            format!(
                "HTTP/1.1 100 Continue\r\n\r\n{}",
                raw(
                    "307 Temporary Redirect",
                    "Link: </v2/itwinai/tags/list?n=1000&last=wrong>; rel=\"next\"\r\nLocation: /moved/first\r\n",
                    ""
                )
            ),
        ),
        (
            "moved/first",
            raw(
                "200 OK",
                "Link: </v2/itwinai/tags/list?n=1000>; rel=\"first\"\r\nX-Page: 1\r\nLink: </v2/itwinai/tags/list?n=1000&last=one>; rel=\"next\"\r\nX-Page: 1\r\n",
                r#"{"name":"itwinai","tags":["one"]}"#,
            ),
        ),
        (
            "v2/itwinai/tags/list?n=1000&last=one",
            raw("200 OK", "", r#"{"name":"itwinai","tags":["two"]}"#),
        ),
        (
            "v2/itwinai/tags/list?n=1000&last=wrong",
            raw("200 OK", "", r#"{"name":"itwinai","tags":["wrong"]}"#),
        ),
    ]);
    let host = format!("0.0.0.0:{}", server.port);
    let ws = Workspace::fixture("reg-redirect", &host, "127.0.0.1:1/base:1");
    let ca = server.ca_bundle();
    let run = ws.xtask(&["image", "audit"], None, &[("CURL_CA_BUNDLE", &ca)]);
    run.expect(0);
    assert!(
        run.stderr.contains(&format!(
            "{host}/itwinai: 2 tags, 0 of them *-latest (what CVMFS unpacks)"
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("last=one"), "{}", run.stderr);
    assert!(!run.stderr.contains("last=wrong"), "{}", run.stderr);
}
