//! The OCI distribution API, as data: the requests this tool makes of a
//! registry (manifests, config blobs, tag lists), the `curl` argv each one
//! is, and the rules that read the answers: statuses, authentication
//! challenges, pagination, manifests and configs, and where docker keeps a
//! registry's credentials. No IO here: the executor runs the requests and
//! the credential helpers, and passes credentials to curl on stdin, never
//! in an argv.

use std::collections::BTreeMap;

use crate::model::platform::Platform;
use crate::support::http::{header_block, Block};
use crate::support::json::Json;

/// What a manifest request accepts: an index (OCI, or a Docker manifest
/// list) or one image's manifest (OCI or Docker schema 2).
pub const MANIFEST_TYPES: [&str; 4] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// What curl writes on stderr once a transfer ends, after any error of
/// its own: the final response's status and how many redirects it
/// followed, as curl measured them.
pub const WRITE_OUT: &str = "%{stderr}xtask-http: %{http_code} %{num_redirects}\\n";

/// The start of the line [`WRITE_OUT`] writes.
const MARK: &str = "xtask-http: ";

/// The most a response may hold (manifests and configs are KiB; a tag
/// list of 100000 tags is a few MiB).
pub const MAX_BYTES: u64 = 64 * 1024 * 1024;

/// The largest tag list page asked for; registries may send fewer.
pub const PAGE_SIZE: u32 = 1000;

/// Where a registry is reached: the host of its API and its scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https://ghcr.io`, or `http://127.0.0.1:5000` for a loopback one.
    pub base: String,
    /// The host as docker's credential store names it (`ghcr.io`,
    /// `https://index.docker.io/v1/` for Docker Hub).
    pub credential_key: String,
    /// The host as messages and `docker login` name it.
    pub host: String,
    /// Plain HTTP: a loopback registry only, as Docker itself allows.
    pub plain_http: bool,
}

impl Endpoint {
    /// The endpoint of a registry host (`host[:port]`).
    pub fn of_host(host: &str) -> Endpoint {
        let plain_http = crate::model::remote::is_loopback_host(host);
        let (api, key) = match host {
            "docker.io" | "index.docker.io" | "registry-1.docker.io" => (
                "registry-1.docker.io".to_string(),
                "https://index.docker.io/v1/".to_string(),
            ),
            h => (h.to_string(), h.to_string()),
        };
        Endpoint {
            base: format!("{}://{api}", if plain_http { "http" } else { "https" }),
            credential_key: key,
            host: host.to_string(),
            plain_http,
        }
    }
}

/// The HTTP method of a request. Reads are GET, never HEAD: a 404 must
/// carry the API's error code to mean "absent", and the answer to a HEAD
/// has no body. The one HEAD is [`Request::blob_exists`], whose 404 only
/// means "upload it" (an upload of a blob that is there is harmless).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
}

impl Method {
    /// Whether the request changes what the registry holds.
    pub fn writes(self) -> bool {
        matches!(self, Method::Post | Method::Put)
    }
}

/// What a write sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Nothing (`Content-Length: 0`).
    Empty,
    /// A JSON document the tool made (a manifest, a config): in the argv as
    /// the value of `--data-binary`, which starts with `{`, so curl never
    /// reads it as a file name.
    Json { content_type: String, text: String },
    /// A file the tool made (a compressed layer), streamed.
    File(std::path::PathBuf),
}

/// One HTTP request to a registry (or its token service).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The whole URL: `https://` (or `http://` to a loopback host).
    pub url: String,
    pub accept: Vec<&'static str>,
    pub body: Body,
    /// Credentials are passed on stdin (`--config -`): a token or
    /// `user:secret`, never in this request or its argv.
    pub credentials: bool,
    /// Plain HTTP allowed (loopback registries only).
    pub plain_http: bool,
    /// What it reads, for progress and errors (`the manifest of …`).
    pub what: String,
}

impl Request {
    /// `GET /v2/<name>/manifests/<reference>`, any manifest type.
    pub fn manifest(endpoint: &Endpoint, name: &str, reference: &str) -> Request {
        Request {
            method: Method::Get,
            body: Body::Empty,
            url: format!("{}/v2/{name}/manifests/{reference}", endpoint.base),
            accept: MANIFEST_TYPES.to_vec(),
            credentials: false,
            plain_http: endpoint.plain_http,
            what: format!("the manifest {}/{name}:{reference}", endpoint.host)
                .replace(":sha256:", "@sha256:"),
        }
    }

    /// `GET /v2/<name>/blobs/<digest>` (a config: small JSON).
    pub fn blob(endpoint: &Endpoint, name: &str, digest: &str) -> Request {
        Request {
            method: Method::Get,
            body: Body::Empty,
            url: format!("{}/v2/{name}/blobs/{digest}", endpoint.base),
            accept: Vec::new(),
            credentials: false,
            plain_http: endpoint.plain_http,
            what: format!("the config {}/{name}@{digest}", endpoint.host),
        }
    }

    /// `GET /v2/<name>/tags/list?n=page`, or the next page a `Link` named.
    pub fn tags(endpoint: &Endpoint, name: &str, next: Option<&str>, page: u32) -> Request {
        let url = match next {
            Some(path) => format!("{}{path}", endpoint.base),
            None => format!("{}/v2/{name}/tags/list?n={page}", endpoint.base),
        };
        Request {
            method: Method::Get,
            body: Body::Empty,
            url,
            accept: vec!["application/json"],
            credentials: false,
            plain_http: endpoint.plain_http,
            what: format!("the tags of {}/{name}", endpoint.host),
        }
    }

    /// The token service's answer for `challenge`.
    pub fn token(challenge: &Bearer, scopes: &[String], plain_http: bool) -> Request {
        let mut query = Vec::new();
        if let Some(s) = &challenge.service {
            query.push(format!("service={}", url_encode(s)));
        }
        for scope in scopes {
            query.push(format!("scope={}", url_encode(scope)));
        }
        let scope = scopes.join(" ");
        let sep = if challenge.realm.contains('?') {
            '&'
        } else {
            '?'
        };
        Request {
            method: Method::Get,
            body: Body::Empty,
            url: format!("{}{sep}{}", challenge.realm, query.join("&")),
            accept: vec!["application/json"],
            credentials: false,
            plain_http,
            what: format!("a token for {scope}"),
        }
    }

    /// `GET /v2/<name>/referrers/<digest>`: the manifests whose subject
    /// it is (OCI distribution 1.1; 404 where the registry lacks the API).
    pub fn referrers(endpoint: &Endpoint, name: &str, digest: &str) -> Request {
        Request {
            method: Method::Get,
            body: Body::Empty,
            url: format!("{}/v2/{name}/referrers/{digest}", endpoint.base),
            accept: vec!["application/vnd.oci.image.index.v1+json"],
            credentials: false,
            plain_http: endpoint.plain_http,
            what: format!("the referrers of {}/{name}@{digest}", endpoint.host),
        }
    }

    /// `HEAD /v2/<name>/blobs/<digest>`: whether the repository has it.
    pub fn blob_exists(endpoint: &Endpoint, name: &str, digest: &str) -> Request {
        Request {
            method: Method::Head,
            what: format!("whether {}/{name} has the blob {digest}", endpoint.host),
            ..Request::blob(endpoint, name, digest)
        }
    }

    /// `POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<from>`: the
    /// registry links the blob from repository `from` (201), or, when it
    /// cannot, opens an upload (202).
    pub fn mount(endpoint: &Endpoint, name: &str, digest: &str, from: &str) -> Request {
        Request {
            method: Method::Post,
            body: Body::Empty,
            url: format!(
                "{}/v2/{name}/blobs/uploads/?mount={}&from={}",
                endpoint.base,
                url_encode(digest),
                url_encode(from)
            ),
            accept: Vec::new(),
            credentials: false,
            plain_http: endpoint.plain_http,
            what: format!(
                "a mount of {digest} from {from} into {}/{name}",
                endpoint.host
            ),
        }
    }

    /// `POST /v2/<name>/blobs/uploads/`: open an upload (202, `Location`).
    pub fn upload_start(endpoint: &Endpoint, name: &str) -> Request {
        Request {
            method: Method::Post,
            body: Body::Empty,
            url: format!("{}/v2/{name}/blobs/uploads/", endpoint.base),
            accept: Vec::new(),
            credentials: false,
            plain_http: endpoint.plain_http,
            what: format!("an upload to {}/{name}", endpoint.host),
        }
    }

    /// `PUT <location>?digest=<digest>` with the whole blob: a monolithic
    /// upload's end (201). `location` is the one [`upload_location`]
    /// accepted.
    pub fn upload_finish(
        endpoint: &Endpoint,
        location: &str,
        digest: &str,
        body: Body,
        what: String,
    ) -> Request {
        let sep = if location.contains('?') { '&' } else { '?' };
        Request {
            method: Method::Put,
            body,
            url: format!("{location}{sep}digest={}", url_encode(digest)),
            accept: Vec::new(),
            credentials: false,
            plain_http: endpoint.plain_http,
            what,
        }
    }

    /// `PUT /v2/<name>/manifests/<reference>` (a tag or the manifest's own
    /// digest), with the manifest's media type.
    pub fn manifest_put(
        endpoint: &Endpoint,
        name: &str,
        reference: &str,
        media_type: &str,
        text: String,
    ) -> Request {
        Request {
            method: Method::Put,
            body: Body::Json {
                content_type: media_type.to_string(),
                text,
            },
            url: format!("{}/v2/{name}/manifests/{reference}", endpoint.base),
            accept: Vec::new(),
            credentials: false,
            plain_http: endpoint.plain_http,
            what: format!("the manifest {}/{name}:{reference}", endpoint.host)
                .replace(":sha256:", "@sha256:"),
        }
    }

    /// The same request, with credentials on stdin.
    pub fn with_credentials(mut self) -> Request {
        self.credentials = true;
        self
    }

    /// The curl argv: no configuration file of the user (`-q`), no URL
    /// globbing, HTTPS only (plain HTTP to a loopback registry), redirects
    /// followed to HTTPS only (blob storage), at most [`MAX_BYTES`], no
    /// proxy at all for a loopback host (`--noproxy '*'`; see `proxy.rs`
    /// for the others, whose proxy comes in curl's environment); on
    /// stdout each response's header block as received (`--dump-header
    /// -`, a proxy's answer to CONNECT left out) and then the body; on
    /// stderr, after curl's own errors, the final status and the number of
    /// redirects ([`WRITE_OUT`]); credentials read from stdin as curl
    /// configuration.
    pub fn argv(&self) -> Vec<String> {
        let max = MAX_BYTES.to_string();
        let proto = if self.plain_http {
            "=http,https"
        } else {
            "=https"
        };
        let mut argv: Vec<String> = [
            "curl",
            "-q",
            "--silent",
            "--show-error",
            "--globoff",
            "--location",
            "--max-redirs",
            "5",
            "--proto",
            proto,
            "--proto-redir",
            "=https",
            "--max-filesize",
            max.as_str(),
        ]
        .map(str::to_string)
        .to_vec();
        if crate::oci::proxy::never_proxied(&self.url) {
            argv.extend(["--noproxy".to_string(), "*".to_string()]);
        }
        // A HEAD's answer is its header block, which `--head` prints on
        // stdout as `--dump-header -` prints any other's.
        if self.method != Method::Head {
            argv.extend(["--dump-header".to_string(), "-".to_string()]);
        }
        argv.extend(["--suppress-connect-headers", "--write-out", WRITE_OUT].map(str::to_string));
        match self.method {
            Method::Get => {}
            Method::Head => argv.push("--head".into()),
            Method::Post => argv.extend(["--request".to_string(), "POST".to_string()]),
            Method::Put => argv.extend(["--request".to_string(), "PUT".to_string()]),
        }
        match &self.body {
            Body::Empty if self.method.writes() => {
                argv.extend(["--header".to_string(), "Content-Length: 0".to_string()]);
            }
            Body::Empty => {}
            Body::Json { content_type, text } => argv.extend([
                "--header".to_string(),
                format!("Content-Type: {content_type}"),
                "--data-binary".to_string(),
                text.clone(),
            ]),
            Body::File(path) => argv.extend([
                "--header".to_string(),
                "Content-Type: application/octet-stream".to_string(),
                "--upload-file".to_string(),
                path.display().to_string(),
            ]),
        }
        if !self.accept.is_empty() {
            argv.push("--header".into());
            argv.push(format!("Accept: {}", self.accept.join(", ")));
        }
        if self.credentials {
            argv.push("--config".into());
            argv.push("-".into());
        }
        argv.push(self.url.clone());
        argv
    }
}

/// The tag list page size: `XTASK_TAGS_PAGE_SIZE` (1 to 1000; tests use a
/// small one to exercise pagination), else [`PAGE_SIZE`].
pub fn page_size(env: Option<&str>) -> Result<u32, String> {
    match env {
        None => Ok(PAGE_SIZE),
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=PAGE_SIZE).contains(n))
            .ok_or_else(|| {
                format!("XTASK_TAGS_PAGE_SIZE is '{v}'; set it to a whole number from 1 to {PAGE_SIZE}, or unset it")
            }),
    }
}

/// Percent-encoding of a query value.
fn url_encode(s: &str) -> String {
    crate::support::http::percent_encode(s, b"")
}

/// What a request needs access to, as token scopes name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    Pull,
    Push,
    /// Push to the repository, and pull from `from` (a cross-repository
    /// mount).
    PushFrom(String),
}

impl Access {
    /// The token scopes of `name` for this access.
    pub fn scopes(&self, name: &str) -> Vec<String> {
        match self {
            Access::Pull => vec![format!("repository:{name}:pull")],
            Access::Push => vec![format!("repository:{name}:pull,push")],
            Access::PushFrom(from) => vec![
                format!("repository:{name}:pull,push"),
                format!("repository:{from}:pull"),
            ],
        }
    }
}

/// Why a request may be sent again: curl could not connect, or the
/// connection broke or timed out (its exit code), or the registry answered
/// 408, 429 or 5xx. `None` for anything else: a 401, 403 or 404 is an
/// answer, never retried (and never read as absent because of a retry).
pub fn retry_reason(curl_code: Option<i32>, status: Option<u16>) -> Option<String> {
    match (curl_code, status) {
        (Some(c), None) if matches!(c, 7 | 18 | 28 | 35 | 52 | 55 | 56 | 92) => {
            Some(format!("the connection failed (curl exit code {c})"))
        }
        (_, Some(s)) if s == 408 || s == 429 || (500..=599).contains(&s) => {
            Some(format!("HTTP {s}"))
        }
        _ => None,
    }
}

/// The longest wait a `Retry-After` gets.
pub const MAX_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// How long to wait before retry `attempt` (1 for the first): what the
/// registry's `Retry-After` asks in seconds (at most [`MAX_RETRY_AFTER`]),
/// else `base` doubled per attempt, at most 30 s.
pub fn backoff(
    attempt: u32,
    base: std::time::Duration,
    retry_after: Option<&str>,
) -> std::time::Duration {
    if let Some(secs) = retry_after.and_then(|v| v.trim().parse::<u64>().ok()) {
        return std::time::Duration::from_secs(secs).min(MAX_RETRY_AFTER);
    }
    let factor = 1u32 << attempt.saturating_sub(1).min(16);
    (base * factor).min(std::time::Duration::from_secs(30))
}

/// The URL an upload continues at: the `Location` of the registry's 202,
/// absolute or relative to the registry, and on the registry itself (the
/// credentials of the upload go there, so never to another host).
pub fn upload_location(endpoint: &Endpoint, location: &str) -> Result<String, String> {
    let url = if location.starts_with('/') {
        format!("{}{location}", endpoint.base)
    } else {
        location.to_string()
    };
    let origin = format!("{}/", endpoint.base);
    if !url.starts_with(&origin) {
        return Err(format!(
            "sent an upload location on another origin ({location:?}; expected {origin}…)"
        ));
    }
    if url.chars().any(|c| c.is_control() || c == ' ') {
        return Err(format!(
            "sent an upload location that is not a URL ({location:?})"
        ));
    }
    Ok(url)
}

/// What curl printed: the final response's status, headers and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Every header of the final response's block, each occurrence of a
    /// repeated one kept, in the order sent; names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    /// Every value of header `name` (lower case), in the order sent.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value of a header that has one (`Docker-Content-Digest`):
    /// `None` when absent; an error when it came with different values.
    pub fn header(&self, name: &str) -> Result<Option<&str>, String> {
        let values = self.header_values(name);
        match values.first() {
            Some(first) if values.iter().any(|v| v != first) => Err(format!(
                "sent {} {name} headers that disagree ({})",
                values.len(),
                values.join(" / ")
            )),
            first => Ok(first.copied()),
        }
    }

    /// The error codes of a distribution error body (`MANIFEST_UNKNOWN`).
    pub fn error_codes(&self) -> Vec<String> {
        Json::parse(&self.body)
            .ok()
            .and_then(|doc| {
                doc.get("errors").and_then(Json::as_array).map(|errs| {
                    errs.iter()
                        .filter_map(|e| e.get("code").and_then(Json::as_str))
                        .map(str::to_string)
                        .collect()
                })
            })
            .unwrap_or_default()
    }
}

/// What curl reported. The status and the number of redirects are the
/// last [`WRITE_OUT`] line of stderr (curl writes it after everything
/// else, so a marker inside an error message cannot stand in for it);
/// text before it is curl's own error. The headers are those of the
/// final response's block on stdout, found by counting: curl writes one
/// block per response, each informational (1xx) response and each
/// followed redirect its own, and the body after the last; a block ends
/// at an empty line, which a server cannot put inside a header.
pub fn parse_response(stdout: &str, stderr: &str) -> Result<Response, String> {
    let Some(at) = stderr.rfind(MARK) else {
        return Err(curl_error(stderr));
    };
    let rest = stderr[at + MARK.len()..].trim_end();
    let unreadable = || format!("curl reported {rest:?} after the transfer");
    let (code, redirects) = rest.split_once(' ').ok_or_else(unreadable)?;
    let status = code.parse::<u16>().map_err(|_| unreadable())?;
    let redirects = redirects.parse::<usize>().map_err(|_| unreadable())?;
    if status == 0 {
        return Err(curl_error(&stderr[..at]));
    }
    let (last, headers, body) = final_block(stdout, redirects)?;
    if last != status {
        return Err(format!(
            "curl reported HTTP {status}, but the last header block it printed is HTTP {last}"
        ));
    }
    Ok(Response {
        status,
        headers,
        body: body.to_string(),
    })
}

/// The final response's block of curl's `--dump-header -` output (the
/// one after `redirects` others, not counting 1xx ones), and the body.
fn final_block(stdout: &str, redirects: usize) -> Result<Block<'_>, String> {
    let mut rest = stdout;
    let mut finals = 0;
    loop {
        let (status, headers, after) = header_block(rest)?;
        rest = after;
        if (100..200).contains(&status) {
            continue;
        }
        if finals == redirects {
            return Ok((status, headers, rest));
        }
        finals += 1;
    }
}

/// curl's own error line (`curl: (7) Failed to connect …`): the last
/// line before its [`WRITE_OUT`] line.
pub fn curl_error(stderr: &str) -> String {
    let before = stderr.rfind(MARK).map_or(stderr, |at| &stderr[..at]);
    before
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map_or_else(|| "curl answered nothing".to_string(), str::to_string)
}

/// A `WWW-Authenticate: Bearer realm=…,service=…,scope=…` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bearer {
    pub realm: String,
    pub service: Option<String>,
    pub scope: Option<String>,
}

/// What a registry asked for on a 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Bearer(Bearer),
    Basic,
}

/// The challenge docker answers among the `WWW-Authenticate` values of a
/// 401: a Bearer one before a Basic one (docker's token handler comes
/// first), else the first. `None` when there is none.
pub fn pick_challenge(values: &[&str], plain_http: bool) -> Option<Result<Challenge, String>> {
    let scheme = |v: &&&str| {
        v.trim()
            .split(' ')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    let value = values
        .iter()
        .find(|v| scheme(v) == "bearer")
        .or_else(|| values.iter().find(|v| scheme(v) == "basic"))
        .or_else(|| values.first())?;
    Some(parse_challenge(value, plain_http))
}

/// Parse a `WWW-Authenticate` value. The realm must be an HTTPS URL (HTTP
/// only when the registry itself is plain HTTP on loopback), so a registry
/// cannot send the credentials anywhere else in clear.
pub fn parse_challenge(value: &str, plain_http: bool) -> Result<Challenge, String> {
    let (scheme, params) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Ok(Challenge::Basic),
        "bearer" => {
            let params = auth_params(params);
            let realm = params
                .get("realm")
                .cloned()
                .ok_or_else(|| format!("a Bearer challenge without a realm: {value:?}"))?;
            // The authority: no user information (`a@host` would send the
            // credentials to `host`), a loopback host for plain HTTP.
            let authority = |rest: &str| {
                let a = rest.split(['/', '?', '#']).next().unwrap_or("");
                (!a.is_empty() && !a.contains('@')).then(|| a.to_string())
            };
            let https = realm.strip_prefix("https://").and_then(authority).is_some();
            let http_ok = plain_http
                && realm
                    .strip_prefix("http://")
                    .and_then(authority)
                    .is_some_and(|a| crate::model::remote::is_loopback_host(&a));
            if !https && !http_ok {
                return Err(format!(
                    "its token service {realm:?} is not an HTTPS URL; credentials are not sent there"
                ));
            }
            Ok(Challenge::Bearer(Bearer {
                realm,
                service: params.get("service").cloned(),
                scope: params.get("scope").cloned(),
            }))
        }
        other => Err(format!(
            "an authentication scheme this tool does not speak: {other:?}"
        )),
    }
}

/// `key="value", key=value` pairs.
fn auth_params(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = q.char_indices();
            let mut end = q.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &q[end..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        out.insert(key, value);
        rest = next.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

/// The path and query of the next page the `Link` headers name
/// (`</v2/…?n=…&last=…>; rel="next"`), relative or absolute on the same
/// registry (`base`): every `Link` header counts (a registry may send
/// several, each a list); `None` when there is no next page. A next page
/// elsewhere, or not under `/v2/`, or two different ones, is an error, not
/// the end of the list.
pub fn next_page(links: &[&str], base: &str) -> Result<Option<String>, String> {
    let mut found: Option<String> = None;
    for link in links {
        for target in next_targets(link)? {
            let path = target.strip_prefix(base).unwrap_or(target);
            if !path.starts_with("/v2/") {
                return Err(format!(
                    "names its next page at {target:?}, which is not on this registry; it is not followed"
                ));
            }
            match &found {
                Some(other) if other != path => {
                    return Err(format!(
                        "names two next pages, {other:?} and {path:?}; neither is followed"
                    ))
                }
                _ => found = Some(path.to_string()),
            }
        }
    }
    Ok(found)
}

/// The targets of the `rel="next"` links of one `Link` value.
fn next_targets(link: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut rest = link;
    // link-value = "<" URI ">" *( ";" param ), separated by ","; a URI
    // may itself hold "," or ";".
    loop {
        rest = rest.trim_start_matches([',', ' ', '\t']);
        if rest.is_empty() {
            return Ok(out);
        }
        let unreadable = || format!("has a Link header it cannot read: {link:?}");
        let after_open = rest.strip_prefix('<').ok_or_else(unreadable)?;
        let (target, after) = after_open.split_once('>').ok_or_else(unreadable)?;
        let end = after.find(',').unwrap_or(after.len());
        let params = &after[..end];
        rest = &after[end..];
        if params.split(';').any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        }) {
            out.push(target);
        }
    }
}

/// Credentials as docker keeps them for a registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A user and a password or token.
    Basic { user: String, secret: String },
    /// An OAuth identity token (`docker login` against some registries):
    /// exchanged for an access token at the realm.
    IdentityToken(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never a secret in a debug print.
        match self {
            Credentials::Basic { user, .. } => write!(f, "Basic({user}, ***)"),
            Credentials::IdentityToken(_) => f.write_str("IdentityToken(***)"),
        }
    }
}

/// Where docker keeps a registry's credentials (`config.json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// None: anonymous.
    None,
    /// In `auths` itself.
    Inline(Credentials),
    /// Asked of `docker-credential-<helper> get` (`credHelpers` for this
    /// registry, else `credsStore`).
    Helper(String),
}

/// Where `config.json` (docker's) keeps the credentials for `key`.
pub fn credential_source(config: &str, key: &str) -> Result<Source, String> {
    let doc = Json::parse(config).map_err(|e| format!("is not JSON: {e}"))?;
    let helper_name = |name: &str| -> Result<String, String> {
        if !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && !name.starts_with('.')
        {
            Ok(name.to_string())
        } else {
            Err(format!(
                "names the credential helper {name:?}, which is not a helper name (letters, digits, '-', '_', '.')"
            ))
        }
    };
    if let Some(h) = doc
        .get("credHelpers")
        .and_then(|h| h.get(key))
        .and_then(Json::as_str)
    {
        return helper_name(h).map(Source::Helper);
    }
    if let Some(entry) = doc.get("auths").and_then(|a| a.get(key)) {
        if let Some(t) = entry
            .get("identitytoken")
            .and_then(Json::as_str)
            .filter(|t| !t.is_empty())
        {
            return Ok(Source::Inline(Credentials::IdentityToken(t.to_string())));
        }
        if let Some(auth) = entry
            .get("auth")
            .and_then(Json::as_str)
            .filter(|a| !a.is_empty())
        {
            let decoded = base64_decode(auth)
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| format!("auths.\"{key}\".auth is not base64 of user:password"))?;
            let (user, secret) = decoded
                .split_once(':')
                .ok_or_else(|| format!("auths.\"{key}\".auth is not user:password"))?;
            return Ok(Source::Inline(Credentials::Basic {
                user: user.to_string(),
                secret: secret.to_string(),
            }));
        }
    }
    if let Some(store) = doc
        .get("credsStore")
        .and_then(Json::as_str)
        .filter(|s| !s.is_empty())
    {
        return helper_name(store).map(Source::Helper);
    }
    Ok(Source::None)
}

/// A credential helper's answer to `get`: `{"Username": …, "Secret": …}`;
/// `<token>` as the user name marks an identity token. `None`: the helper
/// holds nothing for this registry.
pub fn helper_credentials(stdout: &str) -> Result<Option<Credentials>, String> {
    if stdout.contains("credentials not found") {
        return Ok(None);
    }
    let doc = Json::parse(stdout.trim())
        .map_err(|_| "answered something that is not its JSON".to_string())?;
    let user = doc.get("Username").and_then(Json::as_str).unwrap_or("");
    let secret = doc.get("Secret").and_then(Json::as_str).unwrap_or("");
    if secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(if user == "<token>" {
        Credentials::IdentityToken(secret.to_string())
    } else {
        Credentials::Basic {
            user: user.to_string(),
            secret: secret.to_string(),
        }
    }))
}

/// The curl configuration (read on stdin) that sends `auth`.
pub fn curl_config(auth: &Auth) -> String {
    match auth {
        Auth::Bearer(token) => format!("header = \"Authorization: Bearer {}\"\n", quoted(token)),
        Auth::Basic { user, secret } => format!("user = \"{}:{}\"\n", quoted(user), quoted(secret)),
    }
}

/// What a request carries.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    Bearer(String),
    Basic { user: String, secret: String },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Bearer(_) => f.write_str("Bearer(***)"),
            Auth::Basic { user, .. } => write!(f, "Basic({user}, ***)"),
        }
    }
}

/// A value inside a double-quoted curl configuration string.
fn quoted(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out
}

/// The token of a token service's answer (`token`, or `access_token`).
pub fn token_of(body: &str) -> Result<String, String> {
    let doc = Json::parse(body.trim()).map_err(|_| "its answer is not JSON".to_string())?;
    doc.get("token")
        .or_else(|| doc.get("access_token"))
        .and_then(Json::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .ok_or_else(|| "its answer holds no token".to_string())
}

/// Standard base64 (padding optional), as docker writes `auths.*.auth`.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in s.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// How a registry answered a read: never guessed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Found(Response),
    /// 404 with `MANIFEST_UNKNOWN`, `NAME_UNKNOWN` or `BLOB_UNKNOWN`.
    Absent,
    /// 401 or 403 even with what docker's credentials gave.
    Refused(u16),
    /// Anything else.
    Failed(String),
}

/// What an answer means.
pub fn classify(r: Response) -> Answer {
    match r.status {
        200 => Answer::Found(r),
        404 => {
            let codes = r.error_codes();
            if codes.iter().any(|c| {
                matches!(
                    c.as_str(),
                    "MANIFEST_UNKNOWN" | "NAME_UNKNOWN" | "BLOB_UNKNOWN"
                )
            }) {
                Answer::Absent
            } else {
                Answer::Failed(format!(
                    "404 without a distribution error code ({})",
                    if codes.is_empty() {
                        "none".to_string()
                    } else {
                        codes.join(", ")
                    }
                ))
            }
        }
        401 | 403 => Answer::Refused(r.status),
        s => {
            let codes = r.error_codes();
            Answer::Failed(if codes.is_empty() {
                format!("HTTP {s}")
            } else {
                format!("HTTP {s} ({})", codes.join(", "))
            })
        }
    }
}

/// A manifest as read: an index of platform images, or one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    Index(Vec<(Platform, String)>),
    Image { config: String },
}

/// Parse a manifest body. Index entries that are not images of a platform
/// (buildx's attestations, `unknown/unknown`) are left out.
pub fn parse_manifest(body: &str) -> Result<Manifest, String> {
    let doc = Json::parse(body).map_err(|e| format!("a manifest that is not JSON ({e})"))?;
    if let Some(entries) = doc.get("manifests").and_then(Json::as_array) {
        let mut out = Vec::new();
        for e in entries {
            let digest = e
                .get("digest")
                .and_then(Json::as_str)
                .ok_or("an index entry without a digest")?;
            let Some(p) = e.get("platform") else { continue };
            let os = p.get("os").and_then(Json::as_str).unwrap_or("");
            let arch = p.get("architecture").and_then(Json::as_str).unwrap_or("");
            if os == "unknown" || arch == "unknown" {
                continue;
            }
            let text = match p.get("variant").and_then(Json::as_str) {
                Some(v) if !v.is_empty() => format!("{os}/{arch}/{v}"),
                _ => format!("{os}/{arch}"),
            };
            let platform =
                Platform::parse(&text).map_err(|e| format!("an index entry for {text:?}: {e}"))?;
            out.push((platform, digest.to_string()));
        }
        return Ok(Manifest::Index(out));
    }
    let config = doc
        .get("config")
        .and_then(|c| c.get("digest"))
        .and_then(Json::as_str)
        .ok_or("a manifest with neither entries nor a config")?;
    Ok(Manifest::Image {
        config: config.to_string(),
    })
}

/// The labels of an image config blob (`config.Labels`).
pub fn config_labels(body: &str) -> Result<BTreeMap<String, String>, String> {
    let doc = Json::parse(body).map_err(|e| format!("a config that is not JSON ({e})"))?;
    let mut out = BTreeMap::new();
    if let Some(labels) = doc
        .get("config")
        .and_then(|c| c.get("Labels"))
        .and_then(Json::as_object)
    {
        for (k, v) in labels {
            if let Some(v) = v.as_str() {
                out.insert(k.clone(), v.to_string());
            }
        }
    }
    Ok(out)
}

/// How many ONBUILD triggers an image config holds (`config.OnBuild`).
pub fn config_triggers(body: &str) -> Result<usize, String> {
    let doc = Json::parse(body).map_err(|e| format!("an image config that is not JSON ({e})"))?;
    match doc.get("config").and_then(|c| c.get("OnBuild")) {
        None | Some(Json::Null) => Ok(0),
        Some(Json::Array(a)) => Ok(a.len()),
        Some(_) => Err("an image config whose OnBuild is not a list".into()),
    }
}

/// The layers of an image config blob, as the engine lists them
/// (`rootfs.diff_ids`, `RootFS.Layers` of `docker image inspect`).
pub fn config_diff_ids(body: &str) -> Result<Vec<String>, String> {
    let doc = Json::parse(body).map_err(|e| format!("a config that is not JSON ({e})"))?;
    doc.get("rootfs")
        .and_then(|r| r.get("diff_ids"))
        .and_then(Json::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(Json::as_str)
                .map(str::to_string)
                .collect()
        })
        .ok_or_else(|| "a config without rootfs.diff_ids".to_string())
}

/// The tags of a tag list page: `tags` a list of strings (`null` for a
/// repository without tags); anything else is not a tag list.
pub fn parse_tags(body: &str) -> Result<Vec<String>, String> {
    let doc = Json::parse(body).map_err(|e| format!("a tag list that is not JSON ({e})"))?;
    match doc.get("tags") {
        Some(Json::Null) => Ok(Vec::new()),
        Some(Json::Array(items)) => items
            .iter()
            .map(|t| t.as_str().map(str::to_string))
            .collect::<Option<Vec<String>>>()
            .ok_or_else(|| {
                "a tag list whose 'tags' holds something other than strings".to_string()
            }),
        Some(_) => Err("a tag list whose 'tags' is not a list".to_string()),
        None => Err("a tag list without 'tags'".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_use_https_except_on_loopback() {
        let e = Endpoint::of_host("ghcr.io");
        assert_eq!(e.base, "https://ghcr.io");
        assert!(!e.plain_http);
        let e = Endpoint::of_host("127.0.0.1:5000");
        assert_eq!(e.base, "http://127.0.0.1:5000");
        assert!(e.plain_http);
        let e = Endpoint::of_host("docker.io");
        assert_eq!(e.base, "https://registry-1.docker.io");
        assert_eq!(e.credential_key, "https://index.docker.io/v1/");
    }

    #[test]
    fn a_request_argv_holds_no_credential_and_no_user_curlrc() {
        let e = Endpoint::of_host("ghcr.io");
        let r = Request::manifest(&e, "intertwin-eu/itwinai", "0.4.2-torch2.6-noble")
            .with_credentials();
        assert_eq!(
            r.argv(),
            [
                "curl",
                "-q",
                "--silent",
                "--show-error",
                "--globoff",
                "--location",
                "--max-redirs",
                "5",
                "--proto",
                "=https",
                "--proto-redir",
                "=https",
                "--max-filesize",
                "67108864",
                "--dump-header",
                "-",
                "--suppress-connect-headers",
                "--write-out",
                "%{stderr}xtask-http: %{http_code} %{num_redirects}\\n",
                "--header",
                "Accept: application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
                "--config",
                "-",
                "https://ghcr.io/v2/intertwin-eu/itwinai/manifests/0.4.2-torch2.6-noble",
            ]
        );
        let auth = Auth::Bearer("s3cr\"t".into());
        assert_eq!(
            curl_config(&auth),
            "header = \"Authorization: Bearer s3cr\\\"t\"\n"
        );
        assert_eq!(format!("{auth:?}"), "Bearer(***)");
        let basic = Auth::Basic {
            user: "u".into(),
            secret: "p\\w".into(),
        };
        assert_eq!(curl_config(&basic), "user = \"u:p\\\\w\"\n");
        assert!(!format!("{basic:?}").contains("p\\w"));
    }

    #[test]
    fn a_loopback_read_never_goes_through_a_proxy() {
        let e = Endpoint::of_host("127.0.0.1:5000");
        let argv = Request::manifest(&e, "r", "1").argv();
        let at = argv.iter().position(|a| a == "--noproxy").unwrap();
        assert_eq!(argv[at + 1], "*");
        let realm = Bearer {
            realm: "http://127.0.0.1:5001/token".into(),
            service: None,
            scope: None,
        };
        assert!(Request::token(&realm, &["repository:r:pull".into()], true)
            .argv()
            .contains(&"--noproxy".to_string()));
        let e = Endpoint::of_host("ghcr.io");
        assert!(!Request::manifest(&e, "r", "1")
            .argv()
            .contains(&"--noproxy".to_string()));
    }

    #[test]
    fn the_status_is_curl_s_and_the_headers_the_final_block_s() {
        // A body that looks like a header block changes nothing.
        let body = "HTTP/1.1 404 Not Found\r\n\r\n{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\"}]}";
        let stdout = format!(
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=x\r\nLink: <a>\r\nX-Other: 1\r\nlink: <b>\r\n\r\n{body}"
        );
        let r = parse_response(&stdout, "xtask-http: 401 0\n").unwrap();
        assert_eq!(r.status, 401);
        assert_eq!(r.body, body);
        assert_eq!(r.header("www-authenticate"), Ok(Some("Basic realm=x")));
        // Every occurrence, in order, whatever sits between them.
        assert_eq!(r.header_values("link"), ["<a>", "<b>"]);
        assert_eq!(r.header_values("x-other"), ["1"]);
        assert!(r.header("link").is_err());
        assert_eq!(r.header("absent"), Ok(None));
        // After 1xx answers and a redirect (its block kept by curl): the
        // final block; a continued line joins the header before it.
        let stdout = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 307 Temporary Redirect\r\nLocation: https://blobs/x\r\nLink: <wrong>; rel=\"next\"\r\n\r\nHTTP/2 103 \r\nlink: </hint>\r\n\r\nHTTP/2 200 \r\nlink: </v2/a>;\r\n  rel=\"next\"\r\ndocker-content-digest: sha256:1\r\ndocker-content-digest: sha256:1\r\n\r\nHTTP/1.1 200 OK\r\n\r\n";
        let r = parse_response(stdout, "xtask-http: 200 1\n").unwrap();
        assert_eq!(r.header_values("link"), ["</v2/a>; rel=\"next\""]);
        assert_eq!(r.header("docker-content-digest"), Ok(Some("sha256:1")));
        assert_eq!(r.body, "HTTP/1.1 200 OK\r\n\r\n");
        // Bare LF line ends, as some servers send.
        let r = parse_response("HTTP/1.0 204 No Content\nA: 1\n\n", "xtask-http: 204 0\n").unwrap();
        assert_eq!(r.headers, [("a".to_string(), "1".to_string())]);
        // Only curl's last line counts: a marker before it (in an error
        // text) does not.
        let r = parse_response(
            "HTTP/1.1 503 Busy\r\n\r\n",
            "xtask-http: 200 0\nxtask-http: 503 0\n",
        )
        .unwrap();
        assert_eq!(r.status, 503);
        for (stdout, stderr) in [
            // Status and block disagree, blocks missing or cut short.
            ("HTTP/1.1 200 OK\r\n\r\n", "xtask-http: 404 0\n"),
            ("HTTP/1.1 301 Moved\r\n\r\n", "xtask-http: 200 1\n"),
            ("HTTP/1.1 200 OK\r\nA: 1\r\n", "xtask-http: 200 0\n"),
            ("{}", "xtask-http: 200 0\n"),
            ("HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "xtask-http: 200 0\n"),
            ("", "xtask-http: abc 0\n"),
            ("", "xtask-http: 200\n"),
        ] {
            assert!(
                parse_response(stdout, stderr).is_err(),
                "{stdout:?} {stderr:?}"
            );
        }
        assert_eq!(
            parse_response(
                "",
                "curl: (7) Failed to connect to 127.0.0.1 port 1\nxtask-http: 000 0\n"
            )
            .unwrap_err(),
            "curl: (7) Failed to connect to 127.0.0.1 port 1"
        );
        assert_eq!(parse_response("", "").unwrap_err(), "curl answered nothing");
        assert_eq!(
            curl_error("curl: (63) Maximum file size exceeded\nxtask-http: 200 0\n"),
            "curl: (63) Maximum file size exceeded"
        );
    }

    #[test]
    fn statuses_are_never_guessed() {
        let r = |status: u16, body: &str| Response {
            status,
            headers: vec![],
            body: body.into(),
        };
        let unknown = r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#;
        let name = r#"{"errors":[{"code":"NAME_UNKNOWN"}]}"#;
        assert_eq!(classify(r(404, unknown)), Answer::Absent);
        assert_eq!(classify(r(404, name)), Answer::Absent);
        // A 404 without the code (a proxy's page, a HEAD) is not "absent".
        assert!(matches!(classify(r(404, "<html>")), Answer::Failed(_)));
        assert_eq!(classify(r(401, "")), Answer::Refused(401));
        assert_eq!(classify(r(403, unknown)), Answer::Refused(403));
        assert!(matches!(classify(r(500, "")), Answer::Failed(m) if m == "HTTP 500"));
        assert!(matches!(
            classify(r(429, r#"{"errors":[{"code":"TOOMANYREQUESTS"}]}"#)),
            Answer::Failed(m) if m.contains("TOOMANYREQUESTS")
        ));
        assert!(matches!(classify(r(200, "{}")), Answer::Found(_)));
    }

    #[test]
    fn challenges_are_parsed_and_realms_must_be_https() {
        let c = parse_challenge(
            r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:intertwin-eu/itwinai:pull""#,
            false,
        )
        .unwrap();
        assert_eq!(
            c,
            Challenge::Bearer(Bearer {
                realm: "https://ghcr.io/token".into(),
                service: Some("ghcr.io".into()),
                scope: Some("repository:intertwin-eu/itwinai:pull".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#, false).unwrap(),
            Challenge::Basic
        );
        assert!(parse_challenge(r#"Bearer realm="http://evil.example/token""#, false).is_err());
        assert!(parse_challenge(r#"Bearer realm="http://127.0.0.1:9/t""#, true).is_ok());
        assert!(parse_challenge(r#"Bearer realm="http://evil.example/t""#, true).is_err());
        for sneaky in [
            "http://127.0.0.1@3221225986:5073/token",
            "http://127.0.0.1@[fd00::2]:5073/",
            "http://127.evil.example.com/t",
            "https://user@ghcr.io/token",
        ] {
            assert!(
                parse_challenge(&format!(r#"Bearer realm="{sneaky}""#), true).is_err(),
                "{sneaky}"
            );
        }
        assert!(parse_challenge("Negotiate", false).is_err());
        // Several challenges: Bearer first, as docker answers them.
        let picked = pick_challenge(
            &[
                "Negotiate",
                "Basic realm=\"r\"",
                "Bearer realm=\"https://a/t\"",
            ],
            false,
        );
        assert!(matches!(picked, Some(Ok(Challenge::Bearer(b))) if b.realm == "https://a/t"));
        assert_eq!(
            pick_challenge(&["Negotiate", "Basic realm=\"r\""], false),
            Some(Ok(Challenge::Basic))
        );
        assert!(matches!(
            pick_challenge(&["Negotiate"], false),
            Some(Err(_))
        ));
        assert_eq!(pick_challenge(&[], false), None);
        let t = Request::token(
            &Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("reg x".into()),
                scope: None,
            },
            &[
                "repository:a/b:pull,push".into(),
                "repository:c:pull".into(),
            ],
            false,
        );
        assert_eq!(
            t.url,
            "https://auth.example/token?service=reg%20x&scope=repository%3Aa%2Fb%3Apull%2Cpush&scope=repository%3Ac%3Apull"
        );
    }

    #[test]
    fn pages_follow_link_headers_on_the_same_registry_only() {
        let base = "http://127.0.0.1:5000";
        let next = |l: &str| next_page(&[l], base);
        assert_eq!(
            next(r#"</v2/itwinai/tags/list?last=b&n=2>; rel="next""#),
            Ok(Some("/v2/itwinai/tags/list?last=b&n=2".into()))
        );
        // Absolute on the same registry; a URI holding "," and ";".
        assert_eq!(
            next(r#"<http://127.0.0.1:5000/v2/x/tags/list?last=a,b;c&n=2>; rel="next""#),
            Ok(Some("/v2/x/tags/list?last=a,b;c&n=2".into()))
        );
        assert_eq!(
            next(r#"</v2/x?p=1>; rel="prev", </v2/x?p=3>; rel="next""#),
            Ok(Some("/v2/x?p=3".into()))
        );
        assert_eq!(next_page(&[], base), Ok(None));
        // Several Link headers: the next page is in any of them; two
        // different ones are an error.
        assert_eq!(
            next_page(
                &[r#"</v2/x?p=1>; rel="prev""#, r#"</v2/x?p=3>; rel="next""#],
                base
            ),
            Ok(Some("/v2/x?p=3".into()))
        );
        assert!(next_page(
            &[r#"</v2/x?p=2>; rel="next""#, r#"</v2/x?p=3>; rel="next""#],
            base
        )
        .is_err());
        assert_eq!(next(r#"</v2/x>; rel="prev""#), Ok(None));
        assert!(next(r#"<https://evil.example/v2/x>; rel="next""#).is_err());
        assert!(next(r#"<http://127.0.0.1:5001/v2/x>; rel="next""#).is_err());
        assert!(next("garbage").is_err());
        assert_eq!(page_size(None), Ok(1000));
        assert_eq!(page_size(Some("2")), Ok(2));
        for bad in ["0", "abc", "1001", ""] {
            assert!(page_size(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn docker_credentials_are_found_where_docker_keeps_them() {
        // base64("user:pa:ss")
        let config = r#"{"auths":{"127.0.0.1:5000":{"auth":"dXNlcjpwYTpzcw=="},"tok.example":{"identitytoken":"idt"}},
            "credHelpers":{"ghcr.io":"gh"},"credsStore":"desktop"}"#;
        assert_eq!(
            credential_source(config, "127.0.0.1:5000").unwrap(),
            Source::Inline(Credentials::Basic {
                user: "user".into(),
                secret: "pa:ss".into()
            })
        );
        assert_eq!(
            credential_source(config, "tok.example").unwrap(),
            Source::Inline(Credentials::IdentityToken("idt".into()))
        );
        assert_eq!(
            credential_source(config, "ghcr.io").unwrap(),
            Source::Helper("gh".into())
        );
        assert_eq!(
            credential_source(config, "quay.io").unwrap(),
            Source::Helper("desktop".into())
        );
        assert_eq!(credential_source("{}", "quay.io").unwrap(), Source::None);
        // A helper name is a name, not a path.
        assert!(credential_source(r#"{"credsStore":"../../tmp/x"}"#, "a").is_err());
        assert!(credential_source(r#"{"auths":{"a":{"auth":"!!"}}}"#, "a").is_err());
        assert!(credential_source("not json", "a").is_err());
        assert_eq!(
            helper_credentials(r#"{"ServerURL":"ghcr.io","Username":"u","Secret":"s"}"#).unwrap(),
            Some(Credentials::Basic {
                user: "u".into(),
                secret: "s".into()
            })
        );
        assert_eq!(
            helper_credentials("credentials not found in native keychain\n").unwrap(),
            None
        );
        assert_eq!(base64_decode("aGk").unwrap(), b"hi");
    }

    #[test]
    fn manifests_configs_and_tags_are_read() {
        let index = r#"{"schemaVersion":2,"manifests":[
            {"digest":"sha256:a","platform":{"os":"linux","architecture":"amd64"}},
            {"digest":"sha256:b","platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
            {"digest":"sha256:c","platform":{"os":"unknown","architecture":"unknown"}}]}"#;
        assert_eq!(
            parse_manifest(index).unwrap(),
            Manifest::Index(vec![
                (Platform::parse("linux/amd64").unwrap(), "sha256:a".into()),
                (Platform::parse("linux/arm64").unwrap(), "sha256:b".into()),
            ])
        );
        let image = r#"{"schemaVersion":2,"config":{"digest":"sha256:cfg"},"layers":[]}"#;
        assert_eq!(
            parse_manifest(image).unwrap(),
            Manifest::Image {
                config: "sha256:cfg".into()
            }
        );
        assert!(parse_manifest("{}").is_err());
        let labels =
            config_labels(r#"{"config":{"Labels":{"org.opencontainers.image.version":"0.4.2"}}}"#)
                .unwrap();
        assert_eq!(labels["org.opencontainers.image.version"], "0.4.2");
        assert!(config_labels(r#"{"config":{}}"#).unwrap().is_empty());
        assert_eq!(
            parse_tags(r#"{"name":"itwinai","tags":["a","b-latest"]}"#).unwrap(),
            ["a", "b-latest"]
        );
        assert_eq!(
            parse_tags(r#"{"name":"x","tags":null}"#).unwrap(),
            Vec::<String>::new()
        );
        for bad in [
            r#"{"tags":"a-latest"}"#,
            r#"{"name":"x"}"#,
            r#"{"tags":[1]}"#,
        ] {
            assert!(parse_tags(bad).is_err(), "{bad}");
        }
    }
}
