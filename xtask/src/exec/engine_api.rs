//! The engine's own API over its unix socket, for the steps it answers
//! itself (`plan/engine_call.rs`): the requests the docker CLI would send,
//! without a docker process. The docker CLI is asked once for the ID of
//! the engine it talks to (`docker info`: it alone resolves DOCKER_HOST,
//! contexts, its config file and whatever a wrapper sets); only when the
//! engine on the candidate socket ([`candidate`]) answers `/_ping` with
//! its API version and `/info` with that same ID ([`route`]) are these
//! steps sent there, under that version. Otherwise (TCP, SSH, a context
//! naming another engine, a socket this user cannot open) every step runs
//! the docker CLI as before.
//!
//! Each answer is given back as the docker CLI prints it ([`answer`]), so
//! one parser reads both, and a failure reads as the CLI's would (`Error
//! response from daemon: …`). The wait is the step's, sliced so that
//! SIGINT and SIGTERM stop it.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::exec::runner::Output;
use crate::plan::arg::Slot;
use crate::plan::engine_call::{ApiCall, Request};
use crate::support::error::Interrupted;
use crate::support::http;
use crate::support::json::Json;
use crate::support::process::{limit_of, Capture, Wait};

/// Where the engine listens when DOCKER_HOST names none.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// The socket the engine may be asked on: DOCKER_HOST's when it is
/// `unix://` and an absolute path, the default one when DOCKER_HOST is
/// unset; none for any other host. Only a candidate: it is used only when
/// its engine has the ID of the engine docker talks to ([`route`]), which
/// covers contexts, docker's config file and wrappers without reading them.
pub fn candidate(docker_host: Option<&str>) -> Option<PathBuf> {
    match docker_host.filter(|h| !h.is_empty()) {
        None => Some(PathBuf::from(DEFAULT_SOCKET)),
        Some(host) => {
            let path = Path::new(host.strip_prefix("unix://")?);
            path.is_absolute().then(|| path.to_path_buf())
        }
    }
}

/// [`candidate`] for this process's DOCKER_HOST (none when it is not
/// UTF-8).
pub fn candidate_from_env() -> Option<PathBuf> {
    match std::env::var("DOCKER_HOST") {
        Ok(h) => candidate(Some(&h)),
        Err(std::env::VarError::NotPresent) => candidate(None),
        Err(std::env::VarError::NotUnicode(_)) => None,
    }
}

/// An engine reached on its socket, and the API version it speaks (what
/// every request names, as the docker CLI's do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub socket: PathBuf,
    pub version: String,
}

/// The request that finds an engine's API version.
pub fn ping() -> Request {
    Request {
        method: "GET",
        target: "/_ping".into(),
    }
}

/// The request that reads the engine's identity (`ID` of `/info`).
pub fn info(version: &str) -> Request {
    Request {
        method: "GET",
        target: format!("/v{version}/info"),
    }
}

/// What `docker info --format '{{json (print .ID "/" .Name)}}'` printed:
/// the engine's identity, its ID and its host's name.
pub fn engine_id_of(printed: &str) -> Option<String> {
    let id = Json::parse(printed.trim()).ok()?;
    Some(id.as_str()?.to_string()).filter(|id| well_formed(id))
}

/// An identity with both parts (`ID/Name`).
fn well_formed(id: &str) -> bool {
    id.rsplit_once('/')
        .is_some_and(|(id, name)| !id.is_empty() && !name.is_empty())
}

/// The identity `/info` gives, as [`engine_id_of`] reads docker's.
fn identity_in(info: &Json) -> Option<String> {
    let field = |k: &str| info.get(k).and_then(Json::as_str);
    Some(format!("{}/{}", field("ID")?, field("Name")?)).filter(|id| well_formed(id))
}

/// The API version every request names: DOCKER_API_VERSION when set (the
/// docker CLI then uses exactly that), else the one the engine's ping
/// gave. `None` (run the CLI) for a setting that is not a version.
pub fn chosen_version(pinged: String, pinned: Option<&str>) -> Option<String> {
    match pinned.filter(|p| !p.is_empty()) {
        None => Some(pinged),
        Some(p) => is_version(p).then(|| p.to_string()),
    }
}

/// Digits, a dot, digits (`1.41`).
fn is_version(v: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit());
    v.split_once('.')
        .is_some_and(|(a, b)| digits(a) && digits(b))
}

/// The engine at `socket`, when it answers [`ping`] with its API version
/// (`Api-Version: 1.41`), and the ID its `/info` gives. `Ok(None)` when
/// nothing there answers so (no engine, one this user may not reach).
/// Stopped by a signal, or an engine that takes a request and does not
/// answer within the lookup limit: an error (the CLI would wait too).
/// Each request is echoed (`shown` names them).
pub fn reach(socket: &Path, shown: &dyn Fn(&Request) -> String) -> Result<Option<(Route, String)>> {
    let ask = |r: &Request| -> Result<Option<Response>> {
        if crate::support::signals::happened() {
            return Err(Interrupted.into());
        }
        crate::support::output::stderr_line(&format!("+ {}", shown(r)));
        Ok(exchange(socket, r, Bound::Candidate, 4 * 1024 * 1024)?.ok())
    };
    let Some(pinged) = ask(&ping())?.as_ref().and_then(api_version) else {
        return Ok(None);
    };
    let pinned = std::env::var("DOCKER_API_VERSION").ok();
    let Some(version) = chosen_version(pinged, pinned.as_deref()) else {
        return Ok(None);
    };
    let id = ask(&info(&version))?
        .filter(|r| r.status == 200)
        .and_then(|r| Json::parse(String::from_utf8_lossy(&r.body).trim()).ok())
        .and_then(|j| identity_in(&j));
    let route = Route {
        socket: socket.to_path_buf(),
        version,
    };
    Ok(id.map(|id| (route, id)))
}

/// [`reach`], when the engine there has the ID the docker CLI's engine
/// has (`cli_id`): a socket path the CLI printed may be another machine's
/// or namespace's, as a `docker` that runs docker elsewhere prints.
/// `Ok(None)`: the docker CLI runs every step.
pub fn route(
    socket: &Path,
    cli_id: &str,
    shown: &dyn Fn(&Request) -> String,
) -> Result<Option<Route>> {
    Ok(reach(socket, shown)?.and_then(|reached| docker_s(reached, Some(cli_id))))
}

/// The route [`reach`] found, when its engine is the one docker talks to
/// (`cli_id`, as [`engine_id_of`] read it).
pub fn docker_s((route, id): (Route, String), cli_id: Option<&str>) -> Option<Route> {
    (cli_id == Some(id.as_str())).then_some(route)
}

/// The `Api-Version` of a `200` answer: digits, a dot, digits.
pub fn api_version(r: &Response) -> Option<String> {
    let v = r.header("api-version").filter(|_| r.status == 200)?;
    is_version(v).then(|| v.to_string())
}

/// A step the engine answers, ready to send: its requests with every
/// value known, and how they are shown, waited for and kept.
pub struct Sending {
    socket: PathBuf,
    call: ApiCall,
    requests: Vec<Request>,
    shown: String,
    wait: Wait,
    capture: Capture,
}

impl Sending {
    /// `call` with `values`, to `route`'s socket under its API version.
    pub fn new(
        route: &Route,
        call: ApiCall,
        values: &BTreeMap<Slot, String>,
        wait: Wait,
        capture: Capture,
    ) -> Sending {
        Sending {
            socket: route.socket.clone(),
            requests: call.requests(values, &route.version),
            shown: call.render(values, &route.version),
            call,
            wait,
            capture,
        }
    }

    /// Send the requests and give back what the docker CLI prints for the
    /// call; echoed first (`+ engine API: …`).
    pub fn perform(&self) -> Result<Output> {
        if crate::support::signals::happened() {
            return Err(Interrupted.into());
        }
        crate::support::output::stderr_line(&format!("+ {}", self.shown));
        let cap = match self.capture {
            Capture::Bounded(n) | Capture::Tail(n) => n,
        };
        let mut answers = Vec::new();
        for r in &self.requests {
            match exchange(&self.socket, r, Bound::Step(self.wait), cap)? {
                Ok(a) => answers.push((a.status, a.body)),
                Err(why) => return Ok(failed(why)),
            }
        }
        Ok(answer(&self.call, &self.requests, &answers))
    }
}

/// How long a read waits before the signals and the limit are looked at.
const SLICE: Duration = Duration::from_millis(100);

/// How long a candidate socket may take to answer its ping and `/info`
/// (at most the lookup limit): an engine answers them at once, and a
/// socket that does not may not be docker's engine at all.
const CANDIDATE_LIMIT: Duration = Duration::from_secs(10);

/// How a request is bounded: its wait class's limit, the error past it;
/// or a candidate's ([`CANDIDATE_LIMIT`]), where no answer in time is only
/// a reason not to use the socket (an inner `Err`).
#[derive(Clone, Copy)]
enum Bound {
    Step(Wait),
    Candidate,
}

/// One request on a connection of its own (`Connection: close`): the
/// status and body, or (inner `Err`) why the engine could not be reached
/// or answered nothing an HTTP client can read. Stopped by a signal, past
/// `cap` bytes, or past its limit (unless `bound` says otherwise): an
/// error.
fn exchange(
    socket: &Path,
    r: &Request,
    bound: Bound,
    cap: usize,
) -> Result<std::result::Result<Response, String>> {
    let (limit, soft) = match bound {
        Bound::Step(wait) => (limit_of(wait), false),
        Bound::Candidate => (
            limit_of(Wait::Lookup).map(|(max, env)| (max.min(CANDIDATE_LIMIT), env)),
            true,
        ),
    };
    let at = format!("unix://{}", socket.display());
    let mut stream = match UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e) => {
            return Ok(Err(format!(
                "Cannot connect to the Docker daemon at {at}. Is the docker daemon running? ({e})"
            )))
        }
    };
    let head = format!(
        "{r} HTTP/1.1\r\nHost: docker\r\nUser-Agent: xtask\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let start = Instant::now();
    stream.set_write_timeout(Some(limit.map_or(SLICE * 600, |(d, _)| d)))?;
    if let Err(e) = stream.write_all(head.as_bytes()) {
        return Ok(Err(format!(
            "the engine at {at} did not take the request: {e}"
        )));
    }
    stream.set_read_timeout(Some(SLICE))?;
    let mut got = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        if crate::support::signals::happened() {
            return Err(Interrupted.into());
        }
        if let Some((max, env)) = limit.filter(|(max, _)| start.elapsed() >= *max) {
            let why = format!(
                "the engine at {at} did not answer `{} {}` within {} s and it was stopped; raise {env} if it needs longer",
                r.method,
                r.target,
                max.as_secs()
            );
            if soft {
                return Ok(Err(why));
            }
            anyhow::bail!(why);
        }
        let n = match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if is_retry(&e) => continue,
            Err(e) => return Ok(Err(format!("the engine at {at} broke off its answer: {e}"))),
        };
        got.extend_from_slice(&chunk[..n]);
        // Headers and chunk sizes on top of the body the step keeps.
        anyhow::ensure!(
            got.len() <= cap + 64 * 1024,
            "the engine's answer to `{r}` is larger than {} MiB, the most this tool keeps of it",
            cap / (1024 * 1024)
        );
        // Done once the answer is whole, whether or not the engine (or a
        // proxy before it) closes the connection as asked.
        if is_whole(&got) {
            break;
        }
    }
    Ok(parse_response(&got).map_err(|e| format!("the engine at {at} answered {e}")))
}

fn is_retry(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{Interrupted, TimedOut, WouldBlock};
    matches!(e.kind(), WouldBlock | TimedOut | Interrupted)
}

/// A command that failed as the docker CLI does, with `why` on stderr.
fn failed(why: String) -> Output {
    Output {
        ok: false,
        code: Some(1),
        stdout: String::new(),
        stderr: why + "\n",
        shown: false,
        answered: true,
    }
}

/// What the docker CLI prints for `call`, from the engine's answers to its
/// requests: `os/arch` for the version; the found images as one JSON array
/// (failing, with `No such image` on stderr, when one is absent); the
/// history's image IDs a line each; nothing for a tag.
pub fn answer(call: &ApiCall, requests: &[Request], answers: &[(u16, Vec<u8>)]) -> Output {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for (r, (status, body)) in requests.iter().zip(answers) {
        let text = String::from_utf8_lossy(body).into_owned();
        let wanted = if r.method == "POST" { 201 } else { 200 };
        if *status == wanted {
            found.push(text);
        } else {
            errors.push(format!(
                "Error response from daemon: {}",
                message(*status, &text)
            ));
        }
    }
    let stdout = match call {
        ApiCall::Version => found.iter().map(|t| version_line(t)).collect(),
        ApiCall::Inspect(_) => Ok(format!("[{}]\n", found.join(","))),
        ApiCall::History(_) => found.iter().map(|t| history_lines(t)).collect(),
        ApiCall::Tag { .. } => Ok(String::new()),
    };
    let stdout = match stdout {
        Ok(s) => s,
        Err(e) => return failed(format!("the engine answered {e}")),
    };
    Output {
        ok: errors.is_empty(),
        code: Some(if errors.is_empty() { 0 } else { 1 }),
        stdout,
        stderr: errors.iter().map(|e| format!("{e}\n")).collect(),
        shown: false,
        answered: true,
    }
}

/// The `message` of an error answer, else its text (shortened).
fn message(status: u16, text: &str) -> String {
    let from_json = Json::parse(text.trim())
        .ok()
        .and_then(|j| j.get("message").and_then(Json::as_str).map(str::to_string));
    from_json.unwrap_or_else(|| {
        let short: String = text.trim().chars().take(200).collect();
        if short.is_empty() {
            format!("status {status}")
        } else {
            short
        }
    })
}

/// `docker version --format '{{.Server.Os}}/{{.Server.Arch}}'`.
fn version_line(text: &str) -> Result<String, String> {
    let v = Json::parse(text.trim()).map_err(|e| format!("a version that is not JSON ({e})"))?;
    let field = |k: &str| v.get(k).and_then(Json::as_str).unwrap_or("");
    Ok(format!("{}/{}\n", field("Os"), field("Arch")))
}

/// `docker history --no-trunc --quiet`: each row's image ID (`<missing>`
/// where the engine holds no image for it), newest first.
fn history_lines(text: &str) -> Result<String, String> {
    let v = Json::parse(text.trim()).map_err(|e| format!("a history that is not JSON ({e})"))?;
    let rows = v.as_array().ok_or("a history that is not a JSON array")?;
    rows.iter()
        .map(|row| {
            row.get("Id")
                .and_then(Json::as_str)
                .map(|id| format!("{id}\n"))
                .ok_or_else(|| "a history row without an Id".to_string())
        })
        .collect()
}

/// Whether `got` holds a whole response by its own framing: all of its
/// Content-Length, or its chunks up to the last (empty) one. One framed
/// by the end of the connection is whole only there.
fn is_whole(got: &[u8]) -> bool {
    match head(got).map(|h| (h.body_at, h.framing)) {
        Ok((_, Framing::Chunked)) => got.ends_with(b"0\r\n\r\n") && parse_response(got).is_ok(),
        Ok((at, Framing::Length(n))) => got.len() >= at + n,
        Ok((_, Framing::ToEnd)) | Err(_) => false,
    }
}

/// An HTTP/1.x response: its status, headers (names lowercased, values
/// trimmed) and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        http::first(&self.headers, name)
    }
}

/// Where a response's body ends.
enum Framing {
    Chunked,
    Length(usize),
    /// At the end of the connection.
    ToEnd,
}

/// A response's head.
struct Head {
    status: u16,
    headers: Vec<(String, String)>,
    /// Where its body starts.
    body_at: usize,
    framing: Framing,
}

fn head(bytes: &[u8]) -> Result<Head, String> {
    let at = find(bytes, b"\r\n\r\n").ok_or("no complete HTTP header")? + 4;
    let text = std::str::from_utf8(&bytes[..at]).map_err(|_| "a header that is not UTF-8")?;
    let status_line = text.split("\r\n").next().unwrap_or("");
    if !(status_line.starts_with("HTTP/1.0 ") || status_line.starts_with("HTTP/1.1 ")) {
        return Err(format!(
            "a status line that is not HTTP/1.x: {status_line:?}"
        ));
    }
    // Lines end with CRLF and hold no other control character but a tab.
    if let Some(c) = text[..at - 4]
        .split("\r\n")
        .flat_map(str::chars)
        .find(|c| c.is_control() && *c != '\t')
    {
        return Err(format!("a header holding {c:?}"));
    }
    let (status, headers, _) = http::header_block(text)?;
    if !(100..600).contains(&status) {
        return Err(format!(
            "a status line that is not HTTP/1.x: {status_line:?}"
        ));
    }
    let framing = match (
        http::first(&headers, "transfer-encoding"),
        http::first(&headers, "content-length"),
    ) {
        (Some(te), _) if te.eq_ignore_ascii_case("chunked") => Framing::Chunked,
        (_, Some(n)) => Framing::Length(
            n.parse()
                .map_err(|_| "a Content-Length that is not a number")?,
        ),
        (_, None) => Framing::ToEnd,
    };
    Ok(Head {
        status,
        headers,
        body_at: at,
        framing,
    })
}

/// An HTTP/1.x response read to its end: the status, the headers and the
/// body (whole, of `Content-Length` bytes, or put together from its
/// chunks).
pub fn parse_response(bytes: &[u8]) -> Result<Response, String> {
    let Head {
        status,
        headers,
        body_at,
        framing,
    } = head(bytes)?;
    let rest = &bytes[body_at..];
    let body = match framing {
        Framing::Chunked => dechunk(rest)?,
        Framing::Length(n) => rest
            .get(..n)
            .ok_or("a body shorter than its Content-Length")?
            .to_vec(),
        Framing::ToEnd => rest.to_vec(),
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// A chunked body put together; it must end with its last (empty) chunk.
fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let eol = find(rest, b"\r\n").ok_or("a chunk without its size line")?;
        let size_text =
            std::str::from_utf8(&rest[..eol]).map_err(|_| "a chunk size that is not text")?;
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size =
            usize::from_str_radix(size_text, 16).map_err(|_| "a chunk size that is not hex")?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(body);
        }
        let data = rest.get(..size).ok_or("a chunk shorter than its size")?;
        body.extend_from_slice(data);
        rest = rest
            .get(size..)
            .and_then(|r| r.strip_prefix(b"\r\n"))
            .ok_or("a chunk not ended by CRLF")?;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::arg::lit;

    #[test]
    fn the_candidate_socket_is_docker_host_s_or_the_default() {
        let cases: [(Option<&str>, Option<&str>); 9] = [
            (None, Some(DEFAULT_SOCKET)),
            (Some(""), Some(DEFAULT_SOCKET)),
            (
                Some("unix:///run/user/1000/docker.sock"),
                Some("/run/user/1000/docker.sock"),
            ),
            (Some("unix:///a b/.sock "), Some("/a b/.sock ")),
            (Some("tcp://10.0.0.1:2376"), None),
            (Some("ssh://me@host"), None),
            (Some("unix://relative.sock"), None),
            (Some("npipe:////./pipe/docker_engine"), None),
            (Some("/var/run/docker.sock"), None),
        ];
        for (host, want) in cases {
            assert_eq!(candidate(host), want.map(PathBuf::from), "{host:?}");
        }
    }

    #[test]
    fn the_version_is_the_pings_unless_docker_api_version_pins_one() {
        let v = |pinned: Option<&str>| chosen_version("1.41".into(), pinned);
        assert_eq!(v(None), Some("1.41".into()));
        assert_eq!(v(Some("")), Some("1.41".into()));
        assert_eq!(v(Some("1.40")), Some("1.40".into()));
        for bad in ["1", "v1.40", "1.40/x", "latest", "1.40 "] {
            assert_eq!(v(Some(bad)), None, "{bad:?}");
        }
        assert_eq!(
            engine_id_of("\"MXJA:BCQV/vm\"\n"),
            Some("MXJA:BCQV/vm".into())
        );
        for bad in [
            "\"\"",
            "\"MXJA\"",
            "\"MXJA/\"",
            "\"/vm\"",
            "MXJA/vm",
            "",
            "null",
        ] {
            assert_eq!(engine_id_of(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_api_version_is_the_pings() {
        let r = |status: u16, v: &str| Response {
            status,
            headers: vec![("api-version".into(), v.into())],
            body: b"OK".to_vec(),
        };
        assert_eq!(api_version(&r(200, "1.41")), Some("1.41".into()));
        for (status, v) in [
            (200, "1.41/x"),
            (200, "1."),
            (200, ".41"),
            (200, ""),
            (500, "1.41"),
            (200, "1.41 "),
        ] {
            assert_eq!(api_version(&r(status, v)), None, "{status} {v:?}");
        }
        let none = Response {
            headers: Vec::new(),
            ..r(200, "")
        };
        assert_eq!(api_version(&none), None);
    }

    #[test]
    fn responses_are_read_whole() {
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nApi-Version:  1.41 \r\nContent-Length: 2\r\n\r\nOK",
        )
        .unwrap();
        assert_eq!(r.header("api-version"), Some("1.41"));
        let ok = |b: &[u8]| {
            let r = parse_response(b).unwrap();
            (r.status, r.body)
        };
        assert_eq!(
            ok(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"),
            (200, b"{}".to_vec())
        );
        assert_eq!(
            ok(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"),
            (201, vec![])
        );
        assert_eq!(
            ok(b"HTTP/1.0 404 Not Found\r\n\r\n{\"message\":\"x\"}\n"),
            (404, b"{\"message\":\"x\"}\n".to_vec())
        );
        assert_eq!(
            ok(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n1\r\nd\r\n0\r\n\r\n"),
            (200, b"abcd".to_vec())
        );
        for bad in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{}",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabc\r\n0\r\n\r\n",
            b"HTTP/2 200\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/1.0 000 OK\r\n\r\n",
            b"HTTP/1.1 600 X\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nbroken\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nA: 1\r2\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nA: 1\nB: 2\r\n\r\n",
        ] {
            assert!(
                parse_response(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn a_response_is_whole_by_its_own_framing() {
        let cases: [(&[u8], bool); 7] = [
            (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", true),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{", false),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", false),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
                true,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n",
                false,
            ),
            // A chunk whose data ends like the last chunk is not the end.
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nab0\r\n\r\n",
                false,
            ),
            // Framed by the connection's end: only that ends it.
            (b"HTTP/1.0 200 OK\r\n\r\n{}", false),
        ];
        for (got, whole) in cases {
            assert_eq!(is_whole(got), whole, "{}", String::from_utf8_lossy(got));
        }
    }

    #[test]
    fn answers_read_as_the_docker_cli_prints_them() {
        let no = std::collections::BTreeMap::new();
        let run = |call: ApiCall, answers: &[(u16, &str)]| {
            let answers: Vec<(u16, Vec<u8>)> = answers
                .iter()
                .map(|(s, b)| (*s, b.as_bytes().to_vec()))
                .collect();
            let o = answer(&call, &call.requests(&no, "1.41"), &answers);
            (o.ok, o.stdout, o.stderr)
        };
        let ok = |s: &str| (true, s.to_string(), String::new());
        assert_eq!(
            run(
                ApiCall::Version,
                &[(200, r#"{"Os":"linux","Arch":"arm64"}"#)]
            ),
            ok("linux/arm64\n")
        );
        assert_eq!(
            run(
                ApiCall::Inspect(vec![lit("a"), lit("b")]),
                &[(200, "{\"Id\":\"1\"}\n"), (200, "{\"Id\":\"2\"}\n")]
            ),
            ok("[{\"Id\":\"1\"}\n,{\"Id\":\"2\"}\n]\n")
        );
        assert_eq!(
            run(
                ApiCall::Inspect(vec![lit("a"), lit("b")]),
                &[
                    (200, "{\"Id\":\"1\"}"),
                    (404, r#"{"message":"No such image: b"}"#)
                ]
            ),
            (
                false,
                "[{\"Id\":\"1\"}]\n".to_string(),
                "Error response from daemon: No such image: b\n".to_string()
            )
        );
        assert_eq!(
            run(
                ApiCall::History(lit("a")),
                &[(200, r#"[{"Id":"sha256:2","Size":0},{"Id":"<missing>"}]"#)]
            ),
            ok("sha256:2\n<missing>\n")
        );
        let tag = ApiCall::Tag {
            source: lit("a"),
            repo: "r".into(),
            tag: "1".into(),
        };
        assert_eq!(run(tag.clone(), &[(201, "")]), ok(""));
        assert_eq!(
            run(tag, &[(500, "oops")]),
            (
                false,
                String::new(),
                "Error response from daemon: oops\n".to_string()
            )
        );
        let (good, _, why) = run(ApiCall::History(lit("a")), &[(200, r#"{"Id":"x"}"#)]);
        assert!(!good && why.contains("not a JSON array"), "{why}");
    }
}
