//! The registry read through its own API, against real registries on
//! 127.0.0.1: `image audit` (what CVMFS unpacks, paginated, declared or
//! not, current or behind), alias moves that read no layer and touch no
//! local name, and a registry that needs a login: never read as empty, no
//! secret printed anywhere.

mod support;

use std::io::Write;

use support::*;
use xtask::json::Json;

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
    let Some(EngineTest { registry, base, ws }) = EngineTest::start(
        "the_audit_lists_what_cvmfs_unpacks_and_aliases_move_reading_no_layer",
        "reg-audit",
        JAMMY,
    ) else {
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
    docker(&["rmi", &reference, &alias, &hand]);
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
    // No local name changed but the alias the push itself made.
    let mut after = local_names(&host);
    after.retain(|l| !l.starts_with(&format!("{alias} ")));
    assert_eq!(after, before_names);
    assert_eq!(image_id(&alias), new_id);
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

fn private_setup(test: &str, label: &str, start: impl FnOnce() -> Registry) -> Option<Private> {
    let EngineTest { registry, base, ws } = EngineTest::start(test, label, JAMMY)?;
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

#[test]
fn a_registry_that_needs_a_login_is_never_read_as_absent() {
    const SECRET: &str = "s3cret-Pa55";
    let Some(p) = private_setup(
        "a_registry_that_needs_a_login_is_never_read_as_absent",
        "reg-auth",
        || Registry::start_with_htpasswd("xtask", SECRET),
    ) else {
        return;
    };
    let (ws, host, config, private) = (&p.ws, &p.host, &p.config, &p.private);
    let secret_b64 = base64_encode(format!("xtask:{SECRET}").as_bytes());
    // Not logged in, then logged in.
    let mut outputs = vec![audit_refused(&p, false)];
    outputs.extend(login_push_and_audit(&p, SECRET));
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
        assert!(!run.stderr.contains("+ docker push"), "{}", run.stderr);
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

/// A fake digest of `what`: `sha256:` and 64 hex digits.
fn fake_digest(what: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in what.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("sha256:{}", format!("{h:016x}").repeat(4))
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
            fake_digest(version)
        );
        return (
            "200 OK".into(),
            format!(
                "Content-Type: application/vnd.docker.distribution.manifest.v2+json\r\nDocker-Content-Digest: {}\r\n",
                fake_digest(tag)
            ),
            body,
        );
    }
    if let Some(digest) = path.strip_prefix("/v2/itwinai/blobs/") {
        let Some((_, version)) = versions.iter().find(|(_, v)| fake_digest(v) == digest) else {
            return unknown("BLOB_UNKNOWN");
        };
        return (
            "200 OK".into(),
            String::new(),
            format!(
                r#"{{"config":{{"Labels":{{"org.opencontainers.image.version":"{version}"}}}}}}"#
            ),
        );
    }
    unknown("NAME_UNKNOWN")
}

#[test]
fn the_audit_follows_every_page_of_the_tag_list() {
    let mut tags: Vec<String> = (1..=20).map(|n| format!("build-{n:02}")).collect();
    for t in [TAG, "0.3.0-torch2.6-jammy", "fix-latest", "other-latest"] {
        tags.push(t.to_string());
    }
    let versions = vec![
        ("fix-latest".to_string(), "0.2.2".to_string()),
        ("other-latest".to_string(), "0.3.0".to_string()),
    ];
    let registry = PagingRegistry::start(tags, versions);
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
    let Some(p) = private_setup(
        "a_token_registry_is_read_with_a_token_from_its_realm",
        "reg-token",
        || Registry::start_configured(&config),
    ) else {
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
    for r in login_push_and_audit(&p, SECRET) {
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
    let run = ws.xtask(&["image", "audit", "--json"], None, &[]);
    run.expect(1);
    assert!(
        run.error_line().contains(&format!(
            "cannot read the manifest {}/itwinai:fix-latest from {}: HTTP 503",
            forged.host(),
            forged.host()
        )),
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
