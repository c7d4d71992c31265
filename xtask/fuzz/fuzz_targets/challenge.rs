//! A registry's `WWW-Authenticate` challenges (one a line; the first
//! byte says whether the registry is plain HTTP on loopback) and a token
//! service's answer: never panics; a Bearer realm the credentials would go
//! to is an HTTPS URL (plain HTTP only for a plain-HTTP registry), with no
//! user information in its authority.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xtask::oci::distribution::{parse_challenge, pick_challenge, token_of, Challenge, Request};

fn check(c: &Challenge, plain_http: bool) {
    let Challenge::Bearer(b) = c else { return };
    let rest = b
        .realm
        .strip_prefix("https://")
        .or_else(|| b.realm.strip_prefix("http://").filter(|_| plain_http))
        .unwrap_or_else(|| panic!("credentials would go to {:?} in clear", b.realm));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    assert!(!authority.is_empty() && !authority.contains('@'), "{b:?}");
    let _ = Request::token(b, &["repository:x:pull".to_string()], plain_http).argv();
}

fuzz_target!(|data: &[u8]| {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let Ok(s) = std::str::from_utf8(rest) else {
        return;
    };
    let plain_http = first & 1 == 1;
    if let Ok(c) = parse_challenge(s, plain_http) {
        check(&c, plain_http);
    }
    let values: Vec<&str> = s.lines().collect();
    if let Some(Ok(c)) = pick_challenge(&values, plain_http) {
        check(&c, plain_http);
    }
    if let Ok(token) = token_of(s) {
        assert!(!token.is_empty());
    }
});
