//! The engine's answer on its unix socket (an HTTP/1.x response read to
//! its end): never panics; what it reads survives being sent again, with
//! a Content-Length or in chunks, unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xtask::exec::engine_api::parse_response;

fuzz_target!(|data: &[u8]| {
    let Ok((status, body)) = parse_response(data) else {
        return;
    };
    assert!((100..600).contains(&status), "{status}");
    let mut sized = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    sized.extend_from_slice(&body);
    assert_eq!(parse_response(&sized), Ok((status, body.clone())));
    let mut chunked =
        format!("HTTP/1.0 {status} X\r\nTransfer-Encoding: chunked\r\n\r\n").into_bytes();
    for part in body.chunks(7) {
        chunked.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        chunked.extend_from_slice(part);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(parse_response(&chunked), Ok((status, body)));
});
