//! curl's answer to a registry request (`--dump-header -` on stdout, the
//! `xtask-http:` line on stderr; the input is stdout, a NUL, stderr):
//! never panics; what it reads survives being printed back as curl would
//! print it (status, header names and order, body; each value up to the
//! blanks around it), and a second reading changes nothing; a next page
//! is always a path under `/v2/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xtask::oci::distribution::{
    classify, curl_error, next_page, parse_response, Response, WRITE_OUT,
};

/// `r` as curl prints a response that came without redirects.
fn as_curl_prints(r: &Response) -> (String, String) {
    let mut stdout = format!("HTTP/1.1 {:03} X\r\n", r.status);
    for (name, value) in &r.headers {
        stdout.push_str(&format!("{name}: {value}\r\n"));
    }
    stdout.push_str("\r\n");
    stdout.push_str(&r.body);
    let stderr = WRITE_OUT
        .trim_start_matches("%{stderr}")
        .replace("%{http_code}", &r.status.to_string())
        .replace("%{num_redirects}", "0")
        .replace("\\n", "\n");
    (stdout, stderr)
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let (stdout, stderr) = s.split_once('\0').unwrap_or((s, ""));
    let _ = curl_error(stderr);
    let Ok(r) = parse_response(stdout, stderr) else {
        return;
    };
    assert!(r.status != 0 && !(100..200).contains(&r.status), "{r:?}");
    for (name, _) in &r.headers {
        assert!(!name.is_empty(), "{r:?}");
        assert!(!name.contains([' ', '\t', ':']), "{r:?}");
        assert_eq!(*name, name.to_ascii_lowercase(), "{r:?}");
    }
    let (out, err) = as_curl_prints(&r);
    let again = parse_response(&out, &err).unwrap_or_else(|e| panic!("{r:?}: {e}"));
    assert_eq!(again.status, r.status);
    assert_eq!(again.body, r.body);
    assert_eq!(again.headers.len(), r.headers.len(), "{r:?}");
    for ((n2, v2), (n1, v1)) in again.headers.iter().zip(&r.headers) {
        assert_eq!(n2, n1);
        assert_eq!(v2, v1.trim_matches([' ', '\t']), "{r:?}");
    }
    let (out, err) = as_curl_prints(&again);
    assert_eq!(parse_response(&out, &err).as_ref(), Ok(&again));

    if let Ok(Some(path)) = next_page(&r.header_values("link"), "https://registry.example") {
        assert!(path.starts_with("/v2/"), "{path:?}");
    }
    let _ = r.header("docker-content-digest");
    let _ = r.error_codes();
    let _ = classify(r);
});
