//! What a registry holds under a tag, as data, and the rules on it. The
//! registry is read through its own API (`distribution.rs`, run by the
//! executor's `registry_reads.rs`); plain HTTP, and docker's `--insecure`
//! for base lookups, only for loopback registries, the ones Docker itself
//! allows over plain HTTP.

use crate::model::platform::Platform;

/// What a registry serves under a tag: one image's manifest, or an index
/// (OCI image index or Docker manifest list) of one image per platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// `sha256:…` of the manifest or index (what `docker push` reports).
    /// None for an index read through `docker manifest inspect`, which
    /// prints its entries but not its own digest.
    pub digest: Option<String>,
    /// `sha256:…` of the image config (the image ID in the local engine);
    /// None for an index.
    pub config: Option<String>,
    /// An index's entries (empty: a single image).
    pub members: Vec<Member>,
}

/// One entry of an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub platform: Platform,
    /// `sha256:…` of its manifest.
    pub digest: String,
    /// `sha256:…` of its config (its image ID), when read.
    pub config: Option<String>,
}

impl Remote {
    pub fn image(digest: &str, config: Option<&str>) -> Remote {
        Remote {
            digest: Some(digest.to_string()),
            config: config.map(str::to_string),
            members: Vec::new(),
        }
    }

    pub fn is_index(&self) -> bool {
        !self.members.is_empty()
    }

    /// For messages: `manifest sha256:…` or `an index of linux/amd64, …`.
    pub fn shown(&self) -> String {
        if self.is_index() {
            let mut platforms: Vec<String> = self
                .members
                .iter()
                .map(|m| m.platform.to_string())
                .collect();
            // In a stable order, whatever order the index lists them in.
            platforms.sort();
            match &self.digest {
                Some(d) => format!("index {d} ({})", platforms.join(", ")),
                None => format!("an index of {}", platforms.join(", ")),
            }
        } else {
            format!("manifest {}", self.digest.as_deref().unwrap_or("?"))
        }
    }

    /// Whether it is an index of exactly these images: one entry per
    /// platform, each with that image ID as its config.
    pub fn is_index_of(&self, images: &[(Platform, String)]) -> bool {
        self.is_index()
            && self.members.len() == images.len()
            && images.iter().all(|(p, id)| {
                self.members
                    .iter()
                    .any(|m| m.platform == *p && m.config.as_deref() == Some(id.as_str()))
            })
    }
}

/// `127.0.0.0/8` (as a dotted quad of decimal octets), `localhost` and
/// `[::1]`, with or without a port: nothing else, so neither
/// `127.evil.example` nor `127.0.0.1@other-host` passes.
pub fn is_loopback_host(host: &str) -> bool {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((name, after)) => (name, after.strip_prefix(':')),
            None => return false,
        }
    } else {
        match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    let octets: Vec<&str> = name.split('.').collect();
    let quad = octets.len() == 4
        && octets[0] == "127"
        && octets.iter().all(|o| {
            !o.is_empty()
                && o.len() <= 3
                && o.bytes().all(|b| b.is_ascii_digit())
                && o.parse::<u16>().is_ok_and(|n| n <= 255)
        });
    port_ok && (name == "localhost" || name == "::1" || quad)
}

/// Whether a registry manifest is the local image `id`: the same config
/// digest, or a manifest digest the engine recorded for the repository.
pub fn is_image(remote: &Remote, id: &str, repo_digests: &[String], repository: &str) -> bool {
    !remote.is_index()
        && (remote.config.as_deref() == Some(id)
            || remote
                .digest
                .as_ref()
                .is_some_and(|d| repo_digests.contains(&format!("{repository}@{d}"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn loopback_registries() {
        let reg = |s: &str| crate::model::reference::Registry::parse(s).unwrap();
        for yes in [
            "127.0.0.1:5000/x",
            "127.1.2.3",
            "localhost:5000/x",
            "localhost",
        ] {
            assert!(reg(yes).is_loopback(), "{yes}");
        }
        // Not a registry this tool's grammar accepts, but loopback.
        assert!(is_loopback_host("[::1]:5000"));
        for host in [
            "127.evil.example",
            "127.0.0.1@192.0.2.2",
            "127.0.0.1@3221225986:5073",
            "127.0.0.256",
            "127.0.0.1:50x",
            "127.0.0.1:",
            "[::1",
            "[fd00::2]:5000",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
        for no in [
            "ghcr.io/x",
            "127.0.0.1.example.com",
            "10.0.0.1:5000/x",
            "",
            "localhost.evil/x",
        ] {
            assert!(!reg(no).is_loopback(), "{no}");
        }
    }

    #[test]
    fn same_image_by_config_or_recorded_digest() {
        let remote = Remote::image;
        let recorded = [format!("r/x@{B}")];
        assert!(is_image(&remote("sha256:0", Some(A)), A, &recorded, "r/x"));
        assert!(is_image(&remote(B, None), A, &recorded, "r/x"));
        assert!(!is_image(&remote(B, None), A, &recorded, "r/y"));
        assert!(!is_image(&remote("sha256:0", Some(B)), A, &recorded, "r/x"));
    }
}
