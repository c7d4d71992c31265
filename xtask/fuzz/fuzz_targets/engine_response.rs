//! The engine's answer on its unix socket (an HTTP/1.x response read to
//! its end): never panics; what it reads survives being sent again, with
//! a Content-Length or in chunks, with the same status, headers and body;
//! an API version read from it is digits, a dot, digits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xtask::exec::engine_api::{api_version, parse_response, Response};

/// `r` as a server would send it, its body framed by `framing`.
fn sent(r: &Response, chunked: bool) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {} X\r\n", r.status).into_bytes();
    for (name, value) in &r.headers {
        if name == "content-length" || name == "transfer-encoding" {
            continue;
        }
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    if chunked {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
        for part in r.body.chunks(7) {
            out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
            out.extend_from_slice(part);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
    } else {
        out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", r.body.len()).as_bytes());
        out.extend_from_slice(&r.body);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Ok(r) = parse_response(data) else {
        return;
    };
    assert!((100..600).contains(&r.status), "{}", r.status);
    if let Some(v) = api_version(&r) {
        let (a, b) = v.split_once('.').unwrap();
        assert!(a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit()), "{v}");
    }
    for chunked in [false, true] {
        let again = parse_response(&sent(&r, chunked)).unwrap_or_else(|e| panic!("{r:?}: {e}"));
        assert_eq!(again.status, r.status);
        assert_eq!(again.body, r.body);
        let kept = |h: &Response| -> Vec<(String, String)> {
            h.headers
                .iter()
                .filter(|(n, _)| n != "content-length" && n != "transfer-encoding")
                .cloned()
                .collect()
        };
        assert_eq!(kept(&again), kept(&r), "{r:?}");
    }
});
