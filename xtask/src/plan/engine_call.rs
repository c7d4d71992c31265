//! The steps the engine's own API answers, as data: the requests the
//! docker CLI itself sends for `docker version`, `docker image inspect`,
//! `docker history` and `docker tag`, sent straight to the engine's unix
//! socket when the CLI would use that socket (`exec/engine_api.rs`): each
//! saves a docker process, 12 to 20 ms, and four of them are on the path
//! of every build.

use std::collections::BTreeMap;

use crate::plan::arg::{Arg, Slot};

/// A step the engine's API answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiCall {
    /// `GET /version`: the engine's `Os` and `Arch`.
    Version,
    /// `GET /images/{image}/json`, for each image.
    Inspect(Vec<Arg>),
    /// `GET /images/{image}/history`.
    History(Arg),
    /// `POST /images/{source}/tag?repo=…&tag=…`, the repository as docker's
    /// client sends it (Docker Hub names in their familiar form).
    Tag {
        source: Arg,
        repo: String,
        tag: String,
    },
}

/// One HTTP request of a call: method and request target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: &'static str,
    pub target: String,
}

/// As echoed and listed: `GET /v1.41/version`.
impl std::fmt::Display for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.target)
    }
}

impl ApiCall {
    /// Its requests under the engine's API `version` (`/v1.41/…`, as the
    /// docker CLI sends them), the values known so far put in.
    pub fn requests(&self, values: &BTreeMap<Slot, String>, version: &str) -> Vec<Request> {
        let get = |target: String| Request {
            method: "GET",
            target: format!("/v{version}{target}"),
        };
        // A value not known yet (a dry run's listing) shows its placeholder;
        // the gateway sends nothing before every value is known.
        let image = |a: &Arg| match a {
            Arg::Slot { slot, .. } if !values.contains_key(slot) => a.resolve(values),
            _ => encode(&a.resolve(values)),
        };
        match self {
            ApiCall::Version => vec![get("/version".into())],
            ApiCall::Inspect(images) => images
                .iter()
                .map(|i| get(format!("/images/{}/json", image(i))))
                .collect(),
            ApiCall::History(i) => vec![get(format!("/images/{}/history", image(i)))],
            ApiCall::Tag { source, repo, tag } => vec![Request {
                method: "POST",
                target: format!(
                    "/v{version}/images/{}/tag?repo={}&tag={}",
                    image(source),
                    encode(repo),
                    encode(tag)
                ),
            }],
        }
    }

    /// What `--dry-run` and the echo show: `engine API: GET /v1.41/version`.
    pub fn render(&self, values: &BTreeMap<Slot, String>, version: &str) -> String {
        let requests: Vec<String> = self
            .requests(values, version)
            .iter()
            .map(ToString::to_string)
            .collect();
        format!("engine API: {}", requests.join(", "))
    }
}

/// A value as one path segment or query value: the characters a reference
/// or an image ID holds kept (`/` too: the engine reads an image's name up
/// to the last path segment), every other byte percent-encoded, so no value
/// can end the path, start the query or add a parameter.
fn encode(s: &str) -> String {
    crate::support::http::percent_encode(s, b":/@")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::arg::lit;

    #[test]
    fn requests_are_the_clis_own() {
        let values = BTreeMap::new();
        let id = "sha256:".to_string() + &"a".repeat(64);
        let cases: Vec<(ApiCall, Vec<(&str, String)>)> = vec![
            (ApiCall::Version, vec![("GET", "/version".into())]),
            (
                ApiCall::Inspect(vec![lit("h.io:5000/ns/r:1"), lit(&id)]),
                vec![
                    ("GET", "/images/h.io:5000/ns/r:1/json".into()),
                    ("GET", format!("/images/{id}/json")),
                ],
            ),
            (
                ApiCall::History(lit("b@sha256:00")),
                vec![("GET", "/images/b@sha256:00/history".into())],
            ),
            (
                ApiCall::Tag {
                    source: lit(&id),
                    repo: "h.io/ns/r".into(),
                    tag: "0.2.2-torch2.6-jammy".into(),
                },
                vec![(
                    "POST",
                    format!("/images/{id}/tag?repo=h.io/ns/r&tag=0.2.2-torch2.6-jammy"),
                )],
            ),
            // Nothing a value holds can add a parameter or end the path.
            (
                ApiCall::Tag {
                    source: lit("a b?c#d"),
                    repo: "r&force=1".into(),
                    tag: "t%".into(),
                },
                vec![(
                    "POST",
                    "/images/a%20b%3Fc%23d/tag?repo=r%26force%3D1&tag=t%25".into(),
                )],
            ),
        ];
        for (call, want) in cases {
            let got: Vec<(&str, String)> = call
                .requests(&values, "1.41")
                .into_iter()
                .map(|r| (r.method, r.target))
                .collect();
            let want: Vec<(&str, String)> = want
                .into_iter()
                .map(|(m, t)| (m, format!("/v1.41{t}")))
                .collect();
            assert_eq!(got, want, "{call:?}");
        }
    }

    #[test]
    fn unknown_values_show_their_placeholder() {
        let name = crate::model::reference::Reference::new(
            &crate::model::reference::Registry::parse("h.io").unwrap(),
            "r",
            "1",
        )
        .unwrap();
        let slot = Slot::Built { name };
        let call = ApiCall::History(Arg::slot(slot.clone()));
        assert_eq!(
            call.render(&BTreeMap::new(), "1.41"),
            format!(
                "engine API: GET /v1.41/images/{}/history",
                slot.placeholder()
            )
        );
        let values = BTreeMap::from([(slot, "sha256:ab".to_string())]);
        assert_eq!(
            call.render(&values, "1.44"),
            "engine API: GET /v1.44/images/sha256:ab/history"
        );
    }
}
