//! Platforms: `os/arch[/variant]` as OCI and Docker spell them
//! (`linux/amd64`, `linux/arm64`, `linux/arm/v7`).

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl Platform {
    /// BuildKit's TARGET* ARGs for a build for this platform (the variant
    /// empty when there is none, as BuildKit sets it).
    pub fn target_args(&self) -> Vec<(String, String)> {
        vec![
            ("TARGETPLATFORM".into(), self.to_string()),
            ("TARGETOS".into(), self.os.clone()),
            ("TARGETARCH".into(), self.arch.clone()),
            (
                "TARGETVARIANT".into(),
                self.variant.clone().unwrap_or_default(),
            ),
        ]
    }
}

fn is_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && s.as_bytes()[0].is_ascii_lowercase()
}

impl Platform {
    /// Parsed and normalized as containerd does: `linux/arm64/v8` is
    /// `linux/arm64` (v8 is arm64's only variant), so a base index whose
    /// arm64 entry is annotated `v8` (as Docker Official Images are) serves
    /// a flavour declared for `linux/arm64`, and the two spellings are one
    /// platform.
    pub fn parse(s: &str) -> Result<Platform, String> {
        Platform::parse_exact(s).map(Platform::normalized)
    }

    /// As containerd normalizes: `arm64/v8` is `arm64`, `amd64/v1` is
    /// `amd64` (v1 is its baseline), and a bare `arm` is `arm/v7` (what
    /// `docker pull --platform linux/arm` takes, and what BuildKit sets
    /// TARGETVARIANT to).
    fn normalized(mut self) -> Platform {
        let baseline = match self.arch.as_str() {
            "arm64" => Some("v8"),
            "amd64" => Some("v1"),
            _ => None,
        };
        if baseline.is_some() && self.variant.as_deref() == baseline {
            self.variant = None;
        }
        if self.arch == "arm" && self.variant.is_none() {
            self.variant = Some("v7".into());
        }
        self
    }

    fn parse_exact(s: &str) -> Result<Platform, String> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [os, arch] if is_part(os) && is_part(arch) => Ok(Platform {
                os: os.to_string(),
                arch: arch.to_string(),
                variant: None,
            }),
            [os, arch, v] if is_part(os) && is_part(arch) && is_part(v) => Ok(Platform {
                os: os.to_string(),
                arch: arch.to_string(),
                variant: Some(v.to_string()),
            }),
            _ => Err(format!(
                "'{s}' is not a platform of the form os/arch[/variant] (lowercase), e.g. linux/arm64"
            )),
        }
    }

    /// A `--platform` value as containerd reads it, where this tool knows
    /// the reading: `os/arch[/variant]`, or a bare architecture (of the
    /// engine's OS, linux here). `None` where it would guess: a bare OS
    /// (the engine's own platform), an architecture containerd renames
    /// (`x86_64` is amd64), a value that does not parse.
    pub fn from_docker_flag(s: &str) -> Option<Platform> {
        const RENAMED: [&str; 5] = ["x86_64", "aarch64", "i386", "armhf", "armel"];
        let parsed = if s.contains('/') {
            Platform::parse(s)
        } else if s == "linux" {
            return None;
        } else {
            Platform::parse(&format!("linux/{s}"))
        };
        parsed.ok().filter(|p| !RENAMED.contains(&p.arch.as_str()))
    }

    /// A comma-separated list, each once.
    pub fn parse_list(s: &str) -> Result<Vec<Platform>, String> {
        let mut out: Vec<Platform> = Vec::new();
        for part in s.split(',') {
            let p = Platform::parse(part.trim())?;
            if out.contains(&p) {
                return Err(format!("'{p}' is listed twice"));
            }
            out.push(p);
        }
        Ok(out)
    }

    /// `linux-arm64`, `linux-arm-v7`: how a platform appears in a tag.
    pub fn tag_suffix(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}-{}-{v}", self.os, self.arch),
            None => format!("{}-{}", self.os, self.arch),
        }
    }

    /// The tag of this platform's image of `tag`: `<tag>-linux-arm64`.
    pub fn tagged(&self, tag: &str) -> String {
        format!("{tag}-{}", self.tag_suffix())
    }

    /// The tag whose image for this platform `tag` names, if it is one
    /// ([`Platform::tagged`] undone).
    pub fn untagged<'t>(&self, tag: &'t str) -> Option<&'t str> {
        tag.strip_suffix(&self.tag_suffix())?.strip_suffix('-')
    }

    /// Whether an image config's `os`, `architecture` and `variant` are this
    /// platform, both normalized (an absent variant matches none declared,
    /// but a bare arm is arm/v7).
    pub fn matches(&self, os: &str, arch: &str, variant: Option<&str>) -> bool {
        let seen = Platform {
            os: os.to_string(),
            arch: arch.to_string(),
            variant: variant.map(str::to_string),
        }
        .normalized();
        *self == seen
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms() {
        for ok in [
            "linux/amd64",
            "linux/arm64",
            "linux/arm/v7",
            "linux/amd64/v3",
        ] {
            assert_eq!(Platform::parse(ok).unwrap().to_string(), ok);
        }
        // arm64's v8 is arm64, as containerd normalizes it.
        assert_eq!(
            Platform::parse("linux/arm64/v8").unwrap(),
            Platform::parse("linux/arm64").unwrap()
        );
        // A Docker --platform value, where its reading is known.
        let flag = |s: &str| Platform::from_docker_flag(s).map(|p| p.to_string());
        assert_eq!(flag("linux/arm64/v8").as_deref(), Some("linux/arm64"));
        assert_eq!(flag("arm64").as_deref(), Some("linux/arm64"));
        for unknown in ["linux", "linux/x86_64", "aarch64", "Linux/ARM64", ""] {
            assert_eq!(flag(unknown), None, "{unknown}");
        }
        // A platform's image of a tag, and back.
        let arm = Platform::parse("linux/arm/v7").unwrap();
        assert_eq!(arm.tagged("1.0-x"), "1.0-x-linux-arm-v7");
        assert_eq!(arm.untagged("1.0-x-linux-arm-v7"), Some("1.0-x"));
        assert_eq!(arm.untagged("1.0-xlinux-arm-v7"), None);
        assert_eq!(arm.untagged("1.0-x"), None);
        // amd64's v1 (its baseline) is amd64 too.
        assert_eq!(
            Platform::parse("linux/amd64/v1").unwrap(),
            Platform::parse("linux/amd64").unwrap()
        );
        assert!(Platform::parse_list("linux/arm64,linux/arm64/v8")
            .unwrap_err()
            .contains("twice"));
        // A bare arm is arm/v7, as docker pull takes it; so BuildKit's
        // TARGETVARIANT for it is v7.
        let arm = Platform::parse("linux/arm").unwrap();
        assert_eq!(arm, Platform::parse("linux/arm/v7").unwrap());
        assert_eq!(
            arm.target_args(),
            [
                ("TARGETPLATFORM".to_string(), "linux/arm/v7".to_string()),
                ("TARGETOS".into(), "linux".into()),
                ("TARGETARCH".into(), "arm".into()),
                ("TARGETVARIANT".into(), "v7".into()),
            ]
        );
        for bad in [
            "linux",
            "linux/",
            "Linux/amd64",
            "-x/y",
            "a/b/c/d",
            "",
            "linux/amd64 ",
        ] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
        let list = Platform::parse_list("linux/amd64,linux/arm64").unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[1].tag_suffix(), "linux-arm64");
        assert_eq!(
            Platform::parse("linux/arm/v7").unwrap().tag_suffix(),
            "linux-arm-v7"
        );
        assert!(Platform::parse_list("linux/amd64,linux/amd64")
            .unwrap_err()
            .contains("twice"));
        let arm = Platform::parse("linux/arm64").unwrap();
        assert!(arm.matches("linux", "arm64", None));
        assert!(!arm.matches("linux", "amd64", None));
        assert!(arm.matches("linux", "arm64", Some("v8")));
        assert!(!arm.matches("linux", "arm64", Some("v9")));
        // A config's bare arm is arm/v7, as containerd normalizes it; v6 is
        // another platform.
        let arm7 = Platform::parse("linux/arm/v7").unwrap();
        assert!(arm7.matches("linux", "arm", None));
        assert!(!arm7.matches("linux", "arm", Some("v6")));
    }
}
