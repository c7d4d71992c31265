//! The OCI distribution API, as data: the requests this tool makes of a
//! registry (manifests, config blobs, tag lists), the `curl` argv each one
//! is, and the rules that read the answers: statuses, authentication
//! challenges, pagination, manifests and configs, and where docker keeps a
//! registry's credentials. No IO here: the executor runs the requests and
//! the credential helpers, and passes credentials to curl on stdin, never
//! in an argv.

use std::collections::BTreeMap;

use crate::json::Json;
use crate::platform::Platform;

/// What a manifest request accepts: an index (OCI, or a Docker manifest
/// list) or one image's manifest (OCI or Docker schema 2).
pub const MANIFEST_TYPES: [&str; 4] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// What curl writes on stderr once a transfer ends: the status and the
/// headers of the final response.
pub const WRITE_OUT: &str = "%{stderr}xtask-http: %{http_code} %{header_json}";

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
        let plain_http = crate::registry::is_loopback_host(host);
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

/// One HTTP GET of a registry (or of its token service). Always GET, never
/// HEAD: a 404 must carry the API's error code to mean "absent", and the
/// answer to a HEAD has no body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The whole URL: `https://` (or `http://` to a loopback host).
    pub url: String,
    pub accept: Vec<&'static str>,
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
            url,
            accept: vec!["application/json"],
            credentials: false,
            plain_http: endpoint.plain_http,
            what: format!("the tags of {}/{name}", endpoint.host),
        }
    }

    /// The token service's answer for `challenge`.
    pub fn token(challenge: &Bearer, scope: &str, plain_http: bool) -> Request {
        let mut query = Vec::new();
        if let Some(s) = &challenge.service {
            query.push(format!("service={}", url_encode(s)));
        }
        query.push(format!("scope={}", url_encode(scope)));
        let sep = if challenge.realm.contains('?') {
            '&'
        } else {
            '?'
        };
        Request {
            url: format!("{}{sep}{}", challenge.realm, query.join("&")),
            accept: vec!["application/json"],
            credentials: false,
            plain_http,
            what: format!("a token for {scope}"),
        }
    }

    /// The same request, with credentials on stdin.
    pub fn with_credentials(mut self) -> Request {
        self.credentials = true;
        self
    }

    /// The curl argv: no configuration file of the user (`-q`), no URL
    /// globbing, the body on stdout and, after curl's own errors on stderr,
    /// the final response's status and headers as curl measured them
    /// ([`WRITE_OUT`]: nothing the server sends can forge them), HTTPS only
    /// (plain HTTP to a loopback registry), redirects followed to HTTPS
    /// only (blob storage), at most [`MAX_BYTES`], credentials read from
    /// stdin as curl configuration.
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
            "--write-out",
            WRITE_OUT,
        ]
        .map(str::to_string)
        .to_vec();
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
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What curl printed: the last header block (after any redirects) and the
/// body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Names in lowercase, in order.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
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

/// What curl reported: the body (stdout) and, from stderr, the status and
/// headers [`WRITE_OUT`] wrote, or curl's own error (the text before them).
pub fn parse_response(stdout: &str, stderr: &str) -> Result<Response, String> {
    const MARK: &str = "xtask-http: ";
    let Some(at) = stderr.find(MARK) else {
        return Err(curl_error(stderr));
    };
    let rest = &stderr[at + MARK.len()..];
    let (code, json) = rest.split_once(' ').unwrap_or((rest, ""));
    let status = code
        .trim()
        .parse::<u16>()
        .map_err(|_| format!("curl reported the status {code:?}"))?;
    if status == 0 {
        return Err(curl_error(&stderr[..at]));
    }
    let mut headers = Vec::new();
    if let Ok(Json::Object(map)) = Json::parse(json.trim()) {
        for (name, values) in map {
            headers.push((name.to_ascii_lowercase(), values.strings().join(", ")));
        }
    }
    Ok(Response {
        status,
        headers,
        body: stdout.to_string(),
    })
}

/// curl's own error line (`curl: (7) Failed to connect …`).
pub fn curl_error(stderr: &str) -> String {
    // Only what curl said before its status line.
    let before = stderr.split("xtask-http: ").next().unwrap_or("");
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
                    .is_some_and(|a| crate::registry::is_loopback_host(&a));
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

/// The path and query of the next page a `Link` header names
/// (`</v2/…?n=…&last=…>; rel="next"`), relative or absolute on the same
/// registry (`base`); `None` when there is no next page. A next page
/// elsewhere, or not under `/v2/`, is an error, not the end of the list.
pub fn next_page(link: Option<&str>, base: &str) -> Result<Option<String>, String> {
    let Some(mut rest) = link else {
        return Ok(None);
    };
    // link-value = "<" URI ">" *( ";" param ), separated by ","; a URI
    // may itself hold "," or ";".
    loop {
        rest = rest.trim_start_matches([',', ' ', '\t']);
        if rest.is_empty() {
            return Ok(None);
        }
        let Some(after_open) = rest.strip_prefix('<') else {
            return Err(format!("has a Link header it cannot read: {link:?}"));
        };
        let Some((target, after)) = after_open.split_once('>') else {
            return Err(format!("has a Link header it cannot read: {link:?}"));
        };
        let end = after.find(",").unwrap_or(after.len());
        let params = &after[..end];
        rest = &after[end..];
        let next = params.split(';').any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        });
        if !next {
            continue;
        }
        let path = target.strip_prefix(base).unwrap_or(target);
        if !path.starts_with("/v2/") {
            return Err(format!(
                "names its next page at {target:?}, which is not on this registry; it is not followed"
            ));
        }
        return Ok(Some(path.to_string()));
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
                "--write-out",
                WRITE_OUT,
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
    fn the_status_and_headers_are_curl_s_not_the_body_s() {
        // A body that looks like a header block changes nothing.
        let body = "HTTP/1.1 404 Not Found\r\n\r\n{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\"}]}";
        let stderr = "xtask-http: 401 {\"www-authenticate\":[\"Basic realm=x\"],\n\"link\":[\"<a>\", \"<b>\"]\n}";
        let r = parse_response(body, stderr).unwrap();
        assert_eq!(r.status, 401);
        assert_eq!(r.body, body);
        assert_eq!(r.header("www-authenticate"), Some("Basic realm=x"));
        assert_eq!(r.header("link"), Some("<a>, <b>"));
        assert_eq!(
            parse_response(
                "",
                "curl: (7) Failed to connect to 127.0.0.1 port 1\nxtask-http: 000 {\n}"
            )
            .unwrap_err(),
            "curl: (7) Failed to connect to 127.0.0.1 port 1"
        );
        assert_eq!(parse_response("", "").unwrap_err(), "curl answered nothing");
        assert_eq!(
            curl_error("curl: (63) Maximum file size exceeded\nxtask-http: 200 {\"a\":[\"b\"],\n\"c\":[\"d\"]\n}"),
            "curl: (63) Maximum file size exceeded"
        );
        assert!(parse_response("", "xtask-http: abc {}").is_err());
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
        let t = Request::token(
            &Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("reg x".into()),
                scope: None,
            },
            "repository:a/b:pull",
            false,
        );
        assert_eq!(
            t.url,
            "https://auth.example/token?service=reg%20x&scope=repository%3Aa%2Fb%3Apull"
        );
    }

    #[test]
    fn pages_follow_link_headers_on_the_same_registry_only() {
        let base = "http://127.0.0.1:5000";
        let next = |l: &str| next_page(Some(l), base);
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
        assert_eq!(next_page(None, base), Ok(None));
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
