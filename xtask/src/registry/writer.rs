//! The registry client's writes: whether a blob is there, a
//! cross-repository mount, a monolithic blob upload, a manifest under its
//! digest or a tag. Each is one or two requests through the same client
//! (push-scope tokens, docker's credentials on curl's stdin only, retries),
//! and each answer is checked: a write the registry did not confirm with
//! the status and digest the API gives is an error, never assumed done.

use anyhow::Result;

use crate::exec::gateway::Gateway;
use crate::oci::distribution::{self, Access, Body, Endpoint, Request, Response};
use crate::registry::client::Client;

impl Client {
    /// The error of an answer a write did not expect: a refusal (401,
    /// 403: what to do about the login), else the status and the
    /// registry's error codes.
    fn failed(
        &self,
        endpoint: &Endpoint,
        name: &str,
        access: &Access,
        request: &Request,
        r: &Response,
    ) -> anyhow::Error {
        if matches!(r.status, 401 | 403) {
            return self.refused(endpoint, name, access, r.status);
        }
        let codes = r.error_codes();
        anyhow::anyhow!(
            "{} answered HTTP {} to {}{}",
            endpoint.host,
            r.status,
            request.what,
            if codes.is_empty() {
                String::new()
            } else {
                format!(" ({})", codes.join(", "))
            }
        )
    }

    /// Whether `name` holds the blob `digest` (a HEAD: 200 yes, 404 no).
    pub fn blob_exists(
        &mut self,
        gw: &mut Gateway,
        endpoint: &Endpoint,
        name: &str,
        digest: &str,
    ) -> Result<bool> {
        let request = Request::blob_exists(endpoint, name, digest);
        let r = self.send(gw, endpoint, name, &request, &Access::Push)?;
        match r.status {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(self.failed(endpoint, name, &Access::Push, &request, &r)),
        }
    }

    /// Link the blob `digest` of repository `from` (same registry) into
    /// `name` without sending it: true when the registry did (201); false
    /// when it opened an upload instead (202: it does not have the blob
    /// there, or does not mount), which the caller then makes.
    pub fn mount_blob(
        &mut self,
        gw: &mut Gateway,
        endpoint: &Endpoint,
        name: &str,
        digest: &str,
        from: &str,
    ) -> Result<bool> {
        let request = Request::mount(endpoint, name, digest, from);
        let access = Access::PushFrom(from.to_string());
        let r = self.send(gw, endpoint, name, &request, &access)?;
        match r.status {
            201 => {
                confirmed_digest(endpoint, &request, &r, digest)?;
                Ok(true)
            }
            202 => Ok(false),
            _ => Err(self.failed(endpoint, name, &access, &request, &r)),
        }
    }

    /// Upload `body` as the blob `digest` of `name`: open an upload (POST,
    /// 202 and its `Location` on this registry), then send it whole (PUT
    /// with the digest, 201). An upload the registry lost while a retry
    /// waited is opened again, once.
    pub fn upload_blob(
        &mut self,
        gw: &mut Gateway,
        endpoint: &Endpoint,
        name: &str,
        digest: &str,
        body: &Body,
    ) -> Result<()> {
        for round in 0..2 {
            let start = Request::upload_start(endpoint, name);
            let r = self.send(gw, endpoint, name, &start, &Access::Push)?;
            match r.status {
                202 => {}
                _ => return Err(self.failed(endpoint, name, &Access::Push, &start, &r)),
            }
            let location = r
                .header("location")
                .map_err(|e| anyhow::anyhow!("{}: {e}", endpoint.host))?
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "{} opened an upload to {name} without saying where (no Location)",
                        endpoint.host
                    )
                })?;
            let url = distribution::upload_location(endpoint, location)
                .map_err(|e| anyhow::anyhow!("{} {e}", endpoint.host))?;
            let what = format!("the blob {digest} of {}/{name}", endpoint.host);
            let put = Request::upload_finish(endpoint, &url, digest, body.clone(), what);
            let r = self.send(gw, endpoint, name, &put, &Access::Push)?;
            match r.status {
                201 => return confirmed_digest(endpoint, &put, &r, digest),
                404 if round == 0 && r.error_codes().iter().any(|c| c == "BLOB_UPLOAD_UNKNOWN") => {
                    continue
                }
                _ => return Err(self.failed(endpoint, name, &Access::Push, &put, &r)),
            }
        }
        anyhow::bail!(
            "{} lost the upload of {digest} to {name} twice; run the command again",
            endpoint.host
        )
    }

    /// Write `text` (of `media_type`) as a manifest of `name` under
    /// `reference` (a tag, or the manifest's own digest). Its digest: the
    /// one of the bytes sent, which the registry must confirm.
    pub fn put_manifest(
        &mut self,
        gw: &mut Gateway,
        endpoint: &Endpoint,
        name: &str,
        reference: &str,
        media_type: &str,
        text: &str,
    ) -> Result<String> {
        self.put_manifest_of(gw, endpoint, name, reference, media_type, text)
            .map(|(digest, _)| digest)
    }

    /// [`Client::put_manifest`], and whether the registry said it took the
    /// manifest's `subject` into its referrers (`OCI-Subject`).
    pub fn put_manifest_of(
        &mut self,
        gw: &mut Gateway,
        endpoint: &Endpoint,
        name: &str,
        reference: &str,
        media_type: &str,
        text: &str,
    ) -> Result<(String, bool)> {
        let digest = crate::support::sha256::digest(text.as_bytes());
        let request =
            Request::manifest_put(endpoint, name, reference, media_type, text.to_string());
        let r = self.send(gw, endpoint, name, &request, &Access::Push)?;
        match r.status {
            201 => {
                confirmed_digest(endpoint, &request, &r, &digest)?;
                let subject = matches!(r.header("oci-subject"), Ok(Some(_)));
                Ok((digest, subject))
            }
            _ => Err(self.failed(endpoint, name, &Access::Push, &request, &r)),
        }
    }

    /// The referrers API's list for `digest`: `None` where the registry
    /// has no such API (a 404: a registry with it answers an empty list).
    pub fn referrers(
        &mut self,
        gw: &mut Gateway,
        endpoint: &Endpoint,
        name: &str,
        digest: &str,
    ) -> Result<Option<String>> {
        let request = Request::referrers(endpoint, name, digest);
        let r = self.send(gw, endpoint, name, &request, &Access::Pull)?;
        match r.status {
            200 => Ok(Some(r.body)),
            404 => Ok(None),
            _ => Err(self.failed(endpoint, name, &Access::Pull, &request, &r)),
        }
    }
}

/// The registry's `Docker-Content-Digest`, when it sent one, must be the
/// digest written.
fn confirmed_digest(
    endpoint: &Endpoint,
    request: &Request,
    r: &Response,
    digest: &str,
) -> Result<()> {
    match r.header("docker-content-digest") {
        Ok(None) => Ok(()),
        Ok(Some(d)) if d == digest => Ok(()),
        Ok(Some(d)) => anyhow::bail!(
            "{} confirmed {} as {d}, not {digest}",
            endpoint.host,
            request.what
        ),
        Err(e) => anyhow::bail!("{}: {e}", endpoint.host),
    }
}
