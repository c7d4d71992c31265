//! docker's `config.json` (the first line is the registry's key, the rest
//! the file) and a credential helper's answer to `get`: never panics; a
//! helper is only ever a helper name (`docker-credential-<name>` runs, so
//! never a path); a token or a helper's secret is never empty; the
//! base64 of `auths.*.auth` decodes what standard base64 encodes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xtask::oci::distribution::{
    base64_decode, credential_source, helper_credentials, Credentials, Source,
};

/// Standard base64 with padding.
fn encode(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    assert_eq!(base64_decode(&encode(data)).as_deref(), Some(data));
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let (key, config) = s.split_once('\n').unwrap_or(("", s));
    match credential_source(config, key) {
        Ok(Source::Helper(name)) => {
            assert!(!name.is_empty() && !name.starts_with('.'), "{name:?}");
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')),
                "{name:?}"
            );
        }
        Ok(Source::Inline(Credentials::IdentityToken(t))) => assert!(!t.is_empty()),
        Ok(Source::Inline(Credentials::Basic { .. }) | Source::None) | Err(_) => {}
    }
    match helper_credentials(s) {
        Ok(Some(Credentials::Basic { secret, .. } | Credentials::IdentityToken(secret))) => {
            assert!(!secret.is_empty())
        }
        Ok(None) | Err(_) => {}
    }
});
