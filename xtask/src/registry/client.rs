//! The executor's reads of the registry API: manifests, config blobs and
//! tag lists, authenticated as docker would (anonymously first; on a 401,
//! a token from the registry's token service, or Basic, with the
//! credentials docker keeps for that registry). Every request is a step
//! (printed by `--dry-run`, echoed, bounded by the lookup timeout);
//! credentials reach curl on stdin only. An answer is found, absent (404
//! with the API's own code) or an error: never guessed.

use anyhow::{Context, Result};

use std::collections::BTreeMap;

use crate::exec::gateway::Gateway;
use crate::model::reference::Reference;
use crate::model::remote::{Member, Remote};
use crate::oci::distribution::{
    self, Access, Answer, Auth, Challenge, Credentials, Endpoint, Manifest, Request, Response,
    Source,
};
use crate::plan::step::Step;

/// The registry client: every read (and write) of a registry's API, with
/// the authentication state of the run (what each repository accepted, the
/// credentials docker keeps), owned here. Each request runs as a step
/// through the gateway.
#[derive(Default)]
pub struct Client {
    /// What each registry repository accepted this run (a token, or the
    /// user and secret), kept so that a run authenticates once.
    auth: BTreeMap<String, Auth>,
    /// The credentials docker keeps for each registry host, once asked.
    credentials: BTreeMap<String, Option<Credentials>>,
}

impl Client {
    /// Whether `name` at `endpoint` needed credentials this run (a request
    /// to it now carries them).
    pub fn has_auth(&self, endpoint: &Endpoint, name: &str) -> bool {
        self.auth
            .contains_key(&auth_key(endpoint, name, &Access::Pull))
    }

    /// What the registry serves under `reference`: the manifest (or index
    /// and each entry's manifest), with config digests; no layer is read and
    /// no local name is touched. `None`: the tag does not exist. An
    /// unreachable registry, or one that refuses the credentials, is an
    /// error.
    pub fn registry(&mut self, gw: &mut Gateway, reference: &Reference) -> Result<Option<Remote>> {
        let endpoint = Endpoint::of_host(reference.registry().host());
        let name = reference.api_name();
        let shown = reference.to_string();
        let Some((digest, manifest)) =
            self.manifest(gw, &endpoint, &name, reference.tag(), &shown)?
        else {
            return Ok(None);
        };
        match manifest {
            Manifest::Image { config } => Ok(Some(Remote::image(&digest, Some(&config)))),
            Manifest::Index(entries) => {
                let mut members = Vec::new();
                for (platform, member) in entries {
                    let config =
                        self.member_config(gw, &endpoint, &name, &shown, &platform, &member)?;
                    members.push(Member {
                        platform,
                        digest: member,
                        config: Some(config),
                    });
                }
                Ok(Some(Remote {
                    digest: Some(digest),
                    config: None,
                    members,
                }))
            }
        }
    }

    /// The manifest `name` serves under `reference` (a tag or a digest),
    /// with its digest as the registry reports it; `None` when absent.
    pub fn manifest(
        &mut self,
        gw: &mut Gateway,
        endpoint: &Endpoint,
        name: &str,
        reference: &str,
        shown: &str,
    ) -> Result<Option<(String, Manifest)>> {
        let Some(served) = self.manifest_text(gw, endpoint, name, reference, shown)? else {
            return Ok(None);
        };
        let manifest = distribution::parse_manifest(&served.text)
            .map_err(|e| anyhow::anyhow!("{shown}: its registry served {e}"))?;
        Ok(Some((served.digest, manifest)))
    }

    /// The manifest `name` serves under `reference`, as its bytes, with
    /// its digest and media type; `None` when absent. The digest the
    /// registry reports must be the digest of the bytes it sent.
    pub fn manifest_text(
        &mut self,
        gw: &mut Gateway,
        endpoint: &Endpoint,
        name: &str,
        reference: &str,
        shown: &str,
    ) -> Result<Option<Served>> {
        let request = Request::manifest(endpoint, name, reference);
        let Some(r) = self.api_get(gw, endpoint, name, request)? else {
            return Ok(None);
        };
        let digest = manifest_digest(&r, shown)?;
        let computed = crate::support::sha256::digest(r.body.as_bytes());
        anyhow::ensure!(
            computed == digest,
            "{shown}: its registry reported the digest {digest}, but what it sent has the digest {computed}"
        );
        // Asked by digest, the content must be that digest: a registry (or
        // a proxy) that answers with another manifest and that manifest's
        // own digest is caught here, not trusted.
        if reference.starts_with("sha256:") {
            content_is(shown, "manifest", reference, &computed)?;
        }
        let media_type = r
            .header("content-type")
            .map_err(|e| anyhow::anyhow!("{shown}: its registry {e}"))?
            .map(|t| t.split(';').next().unwrap_or("").trim().to_string())
            .filter(|t| !t.is_empty())
            .with_context(|| format!("{shown}: its registry sent no Content-Type"))?;
        Ok(Some(Served {
            digest,
            media_type,
            text: r.body,
        }))
    }

    /// The config digest of the index entry `member` (`platform`'s image).
    pub fn member_config(
        &mut self,
        gw: &mut Gateway,
        endpoint: &Endpoint,
        name: &str,
        shown: &str,
        platform: &crate::model::platform::Platform,
        member: &str,
    ) -> Result<String> {
        match self.manifest(gw, endpoint, name, member, shown)? {
            None => anyhow::bail!(
                "{shown}: its index names {member} ({platform}), which the registry does not serve"
            ),
            Some((_, Manifest::Image { config })) => Ok(config),
            Some((_, Manifest::Index(_))) => {
                anyhow::bail!("{shown}: its {platform} entry {member} is an index, not an image")
            }
        }
    }

    /// An image config blob of `name` (a few KiB of JSON; never a layer).
    pub fn config_blob(
        &mut self,
        gw: &mut Gateway,
        endpoint: &Endpoint,
        name: &str,
        config: &str,
        shown: &str,
    ) -> Result<String> {
        let r = self
            .api_get(gw, endpoint, name, Request::blob(endpoint, name, config))?
            .with_context(|| format!("{shown}: its registry does not serve its config {config}"))?;
        let computed = crate::support::sha256::digest(r.body.as_bytes());
        content_is(shown, "config", config, &computed)?;
        Ok(r.body)
    }

    /// The labels of the image config `config` in `reference`'s repository
    /// (one small blob; no layer).
    pub fn read_labels(
        &mut self,
        gw: &mut Gateway,
        reference: &Reference,
        config: &str,
    ) -> Result<std::collections::BTreeMap<String, String>> {
        let endpoint = Endpoint::of_host(reference.registry().host());
        let shown = reference.to_string();
        let body = self.config_blob(gw, &endpoint, &reference.api_name(), config, &shown)?;
        distribution::config_labels(&body)
            .map_err(|e| anyhow::anyhow!("{shown}: its registry served {e}"))
    }

    /// Every tag of `reference`'s repository, `page` at a time, following
    /// the `Link` of each page. An absent repository has none; a page seen
    /// before, or a `Link` that cannot be followed, is an error (never the
    /// end of the list).
    pub fn read_tags(
        &mut self,
        gw: &mut Gateway,
        reference: &Reference,
        page: u32,
    ) -> Result<Vec<String>> {
        let endpoint = Endpoint::of_host(reference.registry().host());
        let name = reference.api_name();
        let repository = reference.repository();
        let mut tags = Vec::new();
        let mut next: Option<String> = None;
        let mut seen = std::collections::BTreeSet::new();
        loop {
            let request = Request::tags(&endpoint, &name, next.as_deref(), page);
            let Some(r) = self.api_get(gw, &endpoint, &name, request)? else {
                return Ok(tags);
            };
            tags.extend(
                distribution::parse_tags(&r.body)
                    .map_err(|e| anyhow::anyhow!("{repository}: its registry served {e}"))?,
            );
            next = distribution::next_page(&r.header_values("link"), &endpoint.base)
                .map_err(|e| anyhow::anyhow!("{repository}: its tag list {e}"))?;
            match &next {
                None => return Ok(tags),
                Some(n) if !seen.insert(n.clone()) => anyhow::bail!(
                    "{repository}: its tag list links back to a page it served before ({n}); the registry is looping"
                ),
                Some(_) => {}
            }
        }
    }

    /// One GET of the API: the response when found, `None` when absent.
    fn api_get(
        &mut self,
        gw: &mut Gateway,
        endpoint: &Endpoint,
        name: &str,
        request: Request,
    ) -> Result<Option<Response>> {
        let response = self.send(gw, endpoint, name, &request, &Access::Pull)?;
        match distribution::classify(response) {
            Answer::Found(r) => Ok(Some(r)),
            Answer::Absent => Ok(None),
            Answer::Refused(status) => Err(self.refused(endpoint, name, &Access::Pull, status)),
            Answer::Failed(why) => Err(anyhow::anyhow!(
                "cannot read {} from {}: {why}",
                request.what,
                endpoint.host
            )),
        }
    }

    /// Send one request, authenticated as `access` needs: anonymously
    /// first; on a 401 once more with a token (or Basic) from docker's
    /// credentials, and again after a token expired. A connection that
    /// failed, a 408, a 429 or a 5xx is sent again after a backoff (each
    /// retry said on one line), up to the configured number of retries; any
    /// other answer (401, 403 and 404 included) is returned as it came.
    pub(crate) fn send(
        &mut self,
        gw: &mut Gateway,
        endpoint: &Endpoint,
        name: &str,
        request: &Request,
        access: &Access,
    ) -> Result<Response> {
        let key = auth_key(endpoint, name, access);
        let (retries, base) = crate::support::process::retry_settings();
        let mut authenticated = false;
        let mut attempt = 0;
        loop {
            let auth = self.auth.get(&key).cloned();
            let sent = self.curl(gw, request, auth.as_ref())?;
            let (reason, retry_after) = match &sent {
                Ok(r) => (
                    distribution::retry_reason(None, Some(r.status)),
                    r.header("retry-after").ok().flatten().map(str::to_string),
                ),
                Err(t) => (distribution::retry_reason(t.code, None), None),
            };
            if let (Some(why), true) = (&reason, attempt < retries) {
                attempt += 1;
                let wait = distribution::backoff(attempt, base, retry_after.as_deref());
                crate::support::output::stderr_line(&format!(
                    "retrying {} in {:.1} s ({why}; retry {attempt} of {retries})",
                    request.what,
                    wait.as_secs_f64()
                ));
                pause(wait)?;
                continue;
            }
            let response = sent.map_err(|t| {
                let tries = if attempt > 0 {
                    format!(" (after {attempt} retries)")
                } else {
                    String::new()
                };
                anyhow::anyhow!(
                    "cannot reach {} for {} ({}){tries}: {}",
                    endpoint.host,
                    request.what,
                    request.url,
                    t.message
                )
            })?;
            if response.status == 401 && !authenticated {
                authenticated = true;
                let auth = self.authenticate(gw, endpoint, name, access, &response)?;
                self.auth.insert(key.clone(), auth);
                continue;
            }
            if let (Some(why), true) = (reason, attempt > 0) {
                anyhow::bail!(
                    "{} answered {why} to {} {} times in a row; try again later (retries: {retries}, XTASK_REGISTRY_RETRIES)",
                    endpoint.host,
                    request.what,
                    attempt + 1
                );
            }
            return Ok(response);
        }
    }

    /// What to send after a 401: a token (Bearer) or the credentials
    /// (Basic).
    fn authenticate(
        &mut self,
        gw: &mut Gateway,
        endpoint: &Endpoint,
        name: &str,
        access: &Access,
        r: &Response,
    ) -> Result<Auth> {
        let challenge =
            distribution::pick_challenge(&r.header_values("www-authenticate"), endpoint.plain_http)
                .with_context(|| {
                    format!(
                        "{} answered 401 without saying how to authenticate (no WWW-Authenticate)",
                        endpoint.host
                    )
                })?
                .map_err(|e| anyhow::anyhow!("{} asks for authentication: {e}", endpoint.host))?;
        let credentials = self.docker_credentials(gw, endpoint)?;
        match challenge {
            Challenge::Basic => match credentials {
                Some(Credentials::Basic { user, secret }) => Ok(Auth::Basic { user, secret }),
                Some(Credentials::IdentityToken(_)) => Err(identity_token(endpoint)),
                None => Err(self.refused(endpoint, name, access, 401)),
            },
            Challenge::Bearer(b) => {
                // A read asks what the challenge names (or pull); a write
                // asks for push (and pull of a mount's source) itself.
                let scopes = match (access, &b.scope) {
                    (Access::Pull, Some(scope)) => vec![scope.clone()],
                    _ => access.scopes(name),
                };
                let request = Request::token(&b, &scopes, endpoint.plain_http);
                let auth = match credentials {
                    Some(Credentials::Basic { user, secret }) => Some(Auth::Basic { user, secret }),
                    Some(Credentials::IdentityToken(_)) => return Err(identity_token(endpoint)),
                    None => None,
                };
                let r = self.curl(gw, &request, auth.as_ref())?.map_err(|t| {
                    anyhow::anyhow!(
                        "cannot reach the token service of {}: {}",
                        endpoint.host,
                        t.message
                    )
                })?;
                match r.status {
                    200 => distribution::token_of(&r.body)
                        .map(Auth::Bearer)
                        .map_err(|e| {
                            anyhow::anyhow!("the token service of {} failed: {e}", endpoint.host)
                        }),
                    401 | 403 => Err(self.refused(endpoint, name, access, r.status)),
                    s => Err(anyhow::anyhow!(
                        "the token service of {} answered HTTP {s}",
                        endpoint.host
                    )),
                }
            }
        }
    }

    /// The one-line refusal: which registry, with or without credentials,
    /// and what to do.
    pub(crate) fn refused(
        &self,
        endpoint: &Endpoint,
        name: &str,
        access: &Access,
        status: u16,
    ) -> anyhow::Error {
        let had = matches!(self.credentials.get(&endpoint.host), Some(Some(_)));
        let host = &endpoint.host;
        let verb = match access {
            Access::Pull => "read",
            Access::Push | Access::PushFrom(_) => "push to",
        };
        if had {
            anyhow::anyhow!(
                "{host} refused the credentials docker keeps for it (HTTP {status}) to {verb} {name}; log in again with `docker login {host}` as a user who may {verb} it"
            )
        } else {
            anyhow::anyhow!(
                "{host} needs a login to {verb} {name} (HTTP {status}) and docker keeps no credentials for it; run `docker login {host}`"
            )
        }
    }

    /// The credentials docker keeps for `endpoint` (asked once per run).
    fn docker_credentials(
        &mut self,
        gw: &mut Gateway,
        endpoint: &Endpoint,
    ) -> Result<Option<Credentials>> {
        if let Some(c) = self.credentials.get(&endpoint.host) {
            return Ok(c.clone());
        }
        let path = docker_config_path()?;
        let source = match std::fs::read_to_string(&path) {
            // Not invalid input of this run (exit 1): a request may have
            // run already.
            Ok(text) => distribution::credential_source(&text, &endpoint.credential_key)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Source::None,
            Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
        };
        let credentials = match source {
            Source::None => None,
            Source::Inline(c) => Some(c),
            Source::Helper(helper) => {
                let step = Step::CredentialHelper {
                    helper: helper.clone(),
                    server: endpoint.credential_key.clone(),
                };
                let o = gw.step(&step)?.context("credential helpers always run")?;
                if o.ok || o.stdout.contains("credentials not found") {
                    distribution::helper_credentials(&o.stdout)
                        .map_err(|e| anyhow::anyhow!("docker-credential-{helper} {e}"))?
                } else {
                    // Neither its stdout nor its stderr is shown: either
                    // may hold a secret.
                    anyhow::bail!(
                        "docker-credential-{helper} get failed for {} ({}); run `echo {} | docker-credential-{helper} get` to see why",
                        endpoint.host,
                        o.code.map_or("killed".to_string(), |c| format!("exit code {c}")),
                        endpoint.credential_key
                    );
                }
            }
        };
        self.credentials
            .insert(endpoint.host.clone(), credentials.clone());
        Ok(credentials)
    }

    /// Run one request; `auth` goes to curl on stdin. `Err` inside: the
    /// transfer itself failed (curl's exit code and error).
    fn curl(
        &mut self,
        gw: &mut Gateway,
        request: &Request,
        auth: Option<&Auth>,
    ) -> Result<std::result::Result<Response, Transport>> {
        let request = match auth {
            Some(_) => request.clone().with_credentials(),
            None => request.clone(),
        };
        crate::oci::proxy::ProxyEnv::for_url(&request.url)?;
        let step = Step::Registry(Box::new(request.clone()));
        let secret = auth.map(distribution::curl_config);
        let what = || format!("{} ({})", request.what, request.url);
        let verb = if request.method.writes() {
            "write"
        } else {
            "read"
        };
        let o = gw
            .step_with_secret(&step, secret)
            .with_context(|| format!("cannot {verb} {}", what()))?
            .context("registry requests run here only when they are to run")?;
        // A failed transfer (also one cut at the size limit) says curl's
        // own error, not its status line.
        if !o.ok {
            return Ok(Err(Transport {
                code: o.code,
                message: distribution::curl_error(&o.stderr),
            }));
        }
        distribution::parse_response(&o.stdout, &o.stderr)
            .map(Ok)
            .map_err(|e| anyhow::anyhow!("cannot read the answer for {}: {e}", what()))
    }
}

/// A manifest as a registry served it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub digest: String,
    pub media_type: String,
    pub text: String,
}

/// A transfer curl could not complete.
#[derive(Debug)]
struct Transport {
    code: Option<i32>,
    message: String,
}

/// Where what a repository accepted for an access is kept for the run.
pub(crate) fn auth_key(endpoint: &Endpoint, name: &str, access: &Access) -> String {
    format!("{}/{name} {}", endpoint.host, access.scopes(name).join(" "))
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
fn docker_config_path() -> Result<std::path::PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Ok(std::path::PathBuf::from(dir).join("config.json"));
    }
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).context(
        "neither DOCKER_CONFIG nor HOME is set, so docker's credentials cannot be found",
    )?;
    Ok(std::path::PathBuf::from(home).join(".docker/config.json"))
}

fn identity_token(endpoint: &Endpoint) -> anyhow::Error {
    anyhow::anyhow!(
        "docker keeps an identity token for {0}, which this tool cannot exchange yet; log in with a user and a password or access token (`docker login {0}`)",
        endpoint.host
    )
}

/// What was asked for by digest is what came: content addressing is the
/// only thing that binds a registry's answer to the request.
fn content_is(shown: &str, what: &str, asked: &str, computed: &str) -> Result<()> {
    anyhow::ensure!(
        asked == computed,
        "{shown}: asked for the {what} {asked}, its registry sent content whose digest is {computed}; the registry (or a proxy in front of it) serves something else under that digest: nothing read from it is trusted"
    );
    Ok(())
}

/// The digest the registry reports for a manifest it served.
fn manifest_digest(r: &Response, reference: &str) -> Result<String> {
    let d = r
        .header("docker-content-digest")
        .map_err(|e| anyhow::anyhow!("{reference}: its registry {e}"))?
        .with_context(|| {
            format!("{reference}: its registry did not report the manifest's digest (Docker-Content-Digest)")
        })?;
    anyhow::ensure!(
        d.starts_with("sha256:") && d.len() == 71 && d[7..].bytes().all(|b| b.is_ascii_hexdigit()),
        "{reference}: its registry reported {d:?} as the manifest's digest"
    );
    Ok(d.to_string())
}

/// Wait `d`, or less when a signal asks us to stop (then `Interrupted`).
fn pause(d: std::time::Duration) -> anyhow::Result<()> {
    let end = std::time::Instant::now() + d;
    loop {
        if crate::support::signals::happened() {
            return Err(crate::support::error::Interrupted.into());
        }
        let now = std::time::Instant::now();
        if now >= end {
            return Ok(());
        }
        std::thread::sleep((end - now).min(std::time::Duration::from_millis(50)));
    }
}
