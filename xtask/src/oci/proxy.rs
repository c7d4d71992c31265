//! Which proxy a registry read goes through: the one docker's client would
//! use (Go's `net/http` `ProxyFromEnvironment`), given to curl so that
//! curl sees exactly that and nothing of its own rules.
//!
//! Go reads `HTTPS_PROXY` (else `https_proxy`) for an https URL and
//! `NO_PROXY` (else `no_proxy`), upper case first; it never proxies
//! `localhost` or a loopback address, and never reads `ALL_PROXY`. curl
//! 7.88 reads `http_proxy` (only the lower-case one) for http URLs,
//! `https_proxy` then `HTTPS_PROXY` for https ones, `all_proxy`/`ALL_PROXY`
//! for both, `no_proxy` then `NO_PROXY`, and proxies loopback hosts like
//! any other. So every one of those is removed from curl's environment;
//! when Go would use a proxy, `https_proxy` is set to it (and `no_proxy`
//! to the list, for redirects), else curl gets none. A read that no proxy
//! may ever see (plain HTTP, a loopback host) also gets `--noproxy '*'`.
//! Proxy URLs reach curl in its environment only: never in an argv, an
//! echo, `--dry-run` or an error (one may hold a password).

use std::net::IpAddr;
use std::sync::OnceLock;

use crate::support::process::EnvChange;

/// Every variable curl 7.88 reads a proxy or a no-proxy list from.
pub const CURL_PROXY_VARS: [&str; 8] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

/// The proxy settings of our environment, as Go reads them: the first of
/// the upper- and lower-case names that is set and not empty.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ProxyEnv {
    /// `HTTPS_PROXY`, else `https_proxy`.
    pub https: Option<String>,
    /// `NO_PROXY`, else `no_proxy`.
    pub no_proxy: Option<String>,
}

impl std::fmt::Debug for ProxyEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A proxy URL may hold a password.
        f.debug_struct("ProxyEnv")
            .field("https", &self.https.as_ref().map(|_| "***"))
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

static CURRENT: OnceLock<ProxyEnv> = OnceLock::new();
/// The first of the variables Go reads for https that is not UTF-8.
static NOT_UTF8: OnceLock<Option<&'static str>> = OnceLock::new();

/// The refusal of a read of `host` when `name` is not UTF-8.
fn not_utf8(name: &str, host: &str) -> String {
    let what = if name.eq_ignore_ascii_case("no_proxy") {
        "a comma-separated list of hosts"
    } else {
        "a proxy URL"
    };
    format!(
        "{name} is not valid UTF-8, and it decides whether reading the registry {host} goes through a proxy; set it to {what}, or unset it"
    )
}

impl ProxyEnv {
    /// The settings `get` (a variable's value) describes.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> ProxyEnv {
        let any = |names: [&str; 2]| {
            names
                .into_iter()
                .find_map(|n| get(n).filter(|v| !v.is_empty()))
        };
        ProxyEnv {
            https: any(["HTTPS_PROXY", "https_proxy"]),
            no_proxy: any(["NO_PROXY", "no_proxy"]),
        }
    }

    /// Read the settings of this process (before anything runs). A value
    /// that is not UTF-8 is kept as the reason a registry read is refused
    /// ([`ProxyEnv::for_url`]): a command that reads no registry never
    /// looks at it.
    pub fn configure() {
        let bad = ["HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"]
            .into_iter()
            .find(|name| matches!(std::env::var(name), Err(std::env::VarError::NotUnicode(_))));
        let _ = NOT_UTF8.set(bad);
        let _ = CURRENT.set(ProxyEnv::from_lookup(|n| std::env::var(n).ok()));
    }

    /// This process's settings for a request of `url`: invalid input when
    /// a variable that decides its proxy is not UTF-8 (its value cannot be
    /// told to curl as docker's client reads it), for every registry alike.
    pub fn for_url(url: &str) -> anyhow::Result<&'static ProxyEnv> {
        if let Some(name) = NOT_UTF8.get().copied().flatten() {
            let host = url_parts(url).map_or_else(|| url.to_string(), |(_, h, _)| h);
            return Err(crate::support::error::invalid(not_utf8(name, &host)));
        }
        Ok(ProxyEnv::current())
    }

    /// This process's settings (read by [`ProxyEnv::configure`]).
    pub fn current() -> &'static ProxyEnv {
        CURRENT.get_or_init(|| ProxyEnv::from_lookup(|n| std::env::var(n).ok()))
    }
}

/// The scheme, host (lower case, without brackets) and port of a URL.
fn url_parts(url: &str) -> Option<(String, String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
        let (host, after) = inner.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None if scheme == "https" => 443,
        None => 80,
    };
    Some((scheme, host.to_ascii_lowercase(), port))
}

/// An IP address as Go compares it (an IPv4-mapped IPv6 one is IPv4).
fn ip_of(s: &str) -> Option<IpAddr> {
    match s.parse::<IpAddr>().ok()? {
        IpAddr::V6(v6) => Some(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)),
        v4 => Some(v4),
    }
}

/// `localhost` or a loopback address (Go's rule), or a host this tool
/// reads over plain HTTP (`registry::is_loopback_host`): never proxied.
fn loopback(host: &str) -> bool {
    host == "localhost"
        || ip_of(host).is_some_and(|ip| ip.is_loopback())
        || crate::model::remote::is_loopback_host(host)
}

/// Whether no proxy may ever see a request of `url`: plain HTTP (loopback
/// registries only) or a loopback host. Its argv says `--noproxy '*'`.
pub fn never_proxied(url: &str) -> bool {
    url_parts(url).is_none_or(|(scheme, host, _)| scheme != "https" || loopback(&host))
}

/// The proxy docker's client would send a request of `url` through: none
/// for plain HTTP or a loopback host, else `HTTPS_PROXY` unless
/// `NO_PROXY` names the host. A value without one of Go's schemes
/// (`http`, `https`, `socks5`) is `http://` + the value, as Go reads it.
pub fn proxy_for(url: &str, env: &ProxyEnv) -> Option<String> {
    if never_proxied(url) {
        return None;
    }
    let (_, host, port) = url_parts(url)?;
    let proxy = env.https.as_deref()?;
    if env
        .no_proxy
        .as_deref()
        .is_some_and(|list| no_proxy_matches(list, &host, port))
    {
        return None;
    }
    let scheme = proxy.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    Some(match scheme.as_deref() {
        Some("http" | "https" | "socks5") => proxy.to_string(),
        _ => format!("http://{proxy}"),
    })
}

/// Whether Go's `NO_PROXY` list names `host` (lower case) on `port`:
/// `*`; an IP address or a CIDR block; a domain, which also names its
/// subdomains (`.domain` and `*.domain` its subdomains only); an address or
/// domain with `:port` only on that port.
pub fn no_proxy_matches(list: &str, host: &str, port: u16) -> bool {
    let ip = ip_of(host);
    let port = port.to_string();
    list.split(',')
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            if let Some((net, bits)) = cidr(&entry) {
                // A block names addresses only, never a name.
                return ip.is_some_and(|ip| in_block(ip, net, bits));
            }
            let (name, entry_port) = split_host_port(&entry);
            if name.is_empty() {
                return false;
            }
            if let Some(entry_ip) = ip_of(name) {
                return ip == Some(entry_ip) && entry_port.is_none_or(|p| p == port);
            }
            domain_matches(name, entry_port, host, &port)
        })
}

/// `host:port`, `[v6]:port` or a name alone, as Go's `SplitHostPort`
/// splits a `NO_PROXY` entry (a bare IPv6 address has no port).
fn split_host_port(entry: &str) -> (&str, Option<&str>) {
    if let Some(inner) = entry.strip_prefix('[') {
        if let Some((host, after)) = inner.split_once(']') {
            if let Some(p) = after.strip_prefix(':') {
                return (host, Some(p).filter(|p| !p.is_empty()));
            }
        }
        return (entry, None);
    }
    match entry.split_once(':') {
        Some((h, p)) if !p.contains(':') => (h, Some(p).filter(|p| !p.is_empty())),
        _ => (entry, None),
    }
}

/// Go's domain rule: `name` matches itself and its subdomains; `.name`
/// and `*.name` its subdomains only.
fn domain_matches(name: &str, entry_port: Option<&str>, host: &str, port: &str) -> bool {
    let name = name
        .strip_prefix('*')
        .filter(|n| n.starts_with('.'))
        .unwrap_or(name);
    let named = if name.starts_with('.') {
        host.ends_with(name)
    } else {
        host == name || host.ends_with(&format!(".{name}"))
    };
    named && entry_port.is_none_or(|p| p == port)
}

/// `address/bits`, a CIDR block as Go's `ParseCIDR` reads one.
fn cidr(entry: &str) -> Option<(IpAddr, u32)> {
    let (net, bits) = entry.split_once('/')?;
    let net = net.parse::<IpAddr>().ok()?;
    let bits = bits
        .parse::<u32>()
        .ok()
        .filter(|_| bits.bytes().all(|b| b.is_ascii_digit()))?;
    let width = if net.is_ipv4() { 32 } else { 128 };
    (bits <= width).then_some((net, bits))
}

/// Whether `ip` is in the block `net`/`bits` (an IPv4 address is in an
/// IPv4 block only, as Go's `IPNet.Contains`).
fn in_block(ip: IpAddr, net: IpAddr, bits: u32) -> bool {
    let as_u128 = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)) << 96,
        IpAddr::V6(v6) => u128::from(v6),
    };
    if ip.is_ipv4() != net.is_ipv4() {
        return false;
    }
    let mask = if bits == 0 {
        0
    } else {
        u128::MAX << (128 - bits)
    };
    as_u128(ip) & mask == as_u128(net) & mask
}

/// The `no_proxy` curl gets with a proxy for a request to `host` (which
/// Go proxies): the loopback hosts Go never proxies and each of Go's
/// entries, in the form curl 7.88 reads the same way, less any entry curl
/// would read as naming `host`. curl reads `name` and `.name` alike (the
/// name and its subdomains), `*.name` and `name:port` as names no host
/// has, splits at spaces and reads a trailing dot away; Go reads `.name`
/// and `*.name` as the subdomains only, `localhost` alone as loopback,
/// `name:port` on that port only, and `name.` as no host of a URL. So a
/// subdomains-only entry reaches curl as `.name`, an entry with a port, a
/// trailing or doubled dot, or anything but a host name's characters does
/// not reach curl, and for `host` curl decides as Go did ([`proxy_for`]);
/// for redirects (blob storage) it may proxy where Go would not.
fn curl_no_proxy(list: Option<&str>, host: &str) -> String {
    let go = list
        .unwrap_or("")
        .split(',')
        .filter_map(|entry| curl_entry(&entry.trim().to_ascii_lowercase()));
    ["localhost".to_string(), "127.0.0.0/8".into(), "::1".into()]
        .into_iter()
        .chain(go)
        .filter(|entry| !curl_names(entry, host))
        .collect::<Vec<_>>()
        .join(",")
}

/// One of Go's `NO_PROXY` entries (trimmed, lower case) as curl must get
/// it, or none (see [`curl_no_proxy`]).
fn curl_entry(entry: &str) -> Option<String> {
    if cidr(entry).is_some() {
        return Some(entry.to_string());
    }
    if let Some(ip) = ip_of(entry) {
        return Some(ip.to_string());
    }
    let (subdomains_only, name) = match entry.strip_prefix("*.").or(entry.strip_prefix('.')) {
        Some(name) => (true, name),
        None => (false, entry),
    };
    let host_name = !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    match (host_name, subdomains_only) {
        (false, _) => None,
        (true, false) => Some(name.to_string()),
        (true, true) => Some(format!(".{name}")),
    }
}

/// Whether curl 7.88 reads the name entry `entry` (as [`curl_entry`] gives
/// it) as naming `host`: the name (its leading dot away) or a subdomain.
/// An address or a block never names a host name, and Go's entries name
/// an address `host` as curl reads them.
fn curl_names(entry: &str, host: &str) -> bool {
    if cidr(entry).is_some() || ip_of(entry).is_some() {
        return false;
    }
    let name = entry.strip_prefix('.').unwrap_or(entry);
    host == name || host.ends_with(&format!(".{name}"))
}

/// curl's environment for a request of `url`: none of the variables curl
/// reads a proxy from, but `https_proxy` (and `no_proxy`) when docker's
/// client would use a proxy.
pub fn curl_env(url: &str, env: &ProxyEnv) -> Vec<EnvChange> {
    let mut out: Vec<EnvChange> = CURL_PROXY_VARS
        .iter()
        .map(|v| EnvChange::Remove(v.to_string()))
        .collect();
    if let Some((proxy, (_, host, _))) = proxy_for(url, env).zip(url_parts(url)) {
        out.push(EnvChange::Set("https_proxy".into(), proxy));
        out.push(EnvChange::Set(
            "no_proxy".into(),
            curl_no_proxy(env.no_proxy.as_deref(), &host),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> ProxyEnv {
        ProxyEnv::from_lookup(|n| {
            vars.iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn go_reads_the_upper_case_name_first_and_skips_empty_ones() {
        type Vars<'a> = Vec<(&'a str, &'a str)>;
        let cases: Vec<(Vars, Option<&str>, Option<&str>)> = vec![
            (vec![], None, None),
            (
                vec![("https_proxy", "http://b:1")],
                Some("http://b:1"),
                None,
            ),
            (
                vec![("HTTPS_PROXY", "http://a:1"), ("https_proxy", "http://b:1")],
                Some("http://a:1"),
                None,
            ),
            (
                vec![("HTTPS_PROXY", ""), ("https_proxy", "http://b:1")],
                Some("http://b:1"),
                None,
            ),
            // Never ALL_PROXY or HTTP_PROXY for https.
            (
                vec![
                    ("ALL_PROXY", "http://c:1"),
                    ("all_proxy", "http://c:1"),
                    ("HTTP_PROXY", "http://d:1"),
                    ("http_proxy", "http://d:1"),
                ],
                None,
                None,
            ),
            (
                vec![("NO_PROXY", "a.example"), ("no_proxy", "b.example")],
                None,
                Some("a.example"),
            ),
            (
                vec![("NO_PROXY", ""), ("no_proxy", "b.example")],
                None,
                Some("b.example"),
            ),
        ];
        for (vars, https, no_proxy) in cases {
            let e = env(&vars);
            assert_eq!(e.https.as_deref(), https, "{vars:?}");
            assert_eq!(e.no_proxy.as_deref(), no_proxy, "{vars:?}");
        }
        assert!(!format!("{:?}", env(&[("HTTPS_PROXY", "http://u:pw@p:1")])).contains("pw"));
    }

    #[test]
    fn the_proxy_of_a_url_is_docker_s() {
        let p = "http://u:pw@proxy.example:3128";
        let with = |no_proxy: &str| env(&[("HTTPS_PROXY", p), ("NO_PROXY", no_proxy)]);
        let cases: Vec<(&str, ProxyEnv, Option<&str>)> = vec![
            ("https://ghcr.io/v2/x/manifests/1", with(""), Some(p)),
            // Plain HTTP is loopback only here, and loopback is never proxied.
            ("http://127.0.0.1:5000/v2/", with(""), None),
            ("http://localhost:5000/v2/", with(""), None),
            ("https://127.0.0.1:5000/v2/", with(""), None),
            ("https://127.1.2.3/token", with(""), None),
            ("https://localhost/token", with(""), None),
            ("https://[::1]:5000/v2/", with(""), None),
            ("https://[::ffff:127.0.0.1]:5000/v2/", with(""), None),
            // Not loopback: the unspecified address, another host.
            ("https://0.0.0.0:5000/v2/", with(""), Some(p)),
            ("https://[::2]/v2/", with(""), Some(p)),
            // No HTTPS_PROXY: no proxy, whatever else is set.
            (
                "https://ghcr.io/v2/",
                env(&[("ALL_PROXY", p), ("http_proxy", p)]),
                None,
            ),
            // NO_PROXY.
            ("https://ghcr.io/v2/", with("*"), None),
            ("https://ghcr.io/v2/", with("example.com, ghcr.io"), None),
            ("https://pkg.ghcr.io/v2/", with("ghcr.io"), None),
            ("https://notghcr.io/v2/", with("ghcr.io"), Some(p)),
            ("https://ghcr.io/v2/", with(".ghcr.io"), Some(p)),
            ("https://a.ghcr.io/v2/", with(".ghcr.io"), None),
            ("https://a.ghcr.io/v2/", with("*.ghcr.io"), None),
            ("https://ghcr.io/v2/", with("*.ghcr.io"), Some(p)),
            ("https://GHCR.io/v2/", with("ghcr.IO"), None),
            ("https://ghcr.io/v2/", with("ghcr.io:443"), None),
            ("https://ghcr.io:5000/v2/", with("ghcr.io:443"), Some(p)),
            ("https://10.1.2.3/v2/", with("10.0.0.0/8"), None),
            ("https://11.1.2.3/v2/", with("10.0.0.0/8"), Some(p)),
            ("https://10.1.2.3/v2/", with("10.1.2.3"), None),
            ("https://10.1.2.3:5000/v2/", with("10.1.2.3:443"), Some(p)),
            ("https://[fd00::1]/v2/", with("fd00::/8"), None),
            ("https://[fd00::1]:5000/v2/", with("[fd00::1]:5000"), None),
            ("https://[fd00::1]/v2/", with("fd00::1"), None),
            ("https://ghcr.io/v2/", with(":443, ,"), Some(p)),
            // Go's httpproxy edges: `*` anywhere in the list; a trailing or
            // doubled dot names no host of a URL; `*` without a dot is a
            // name; an empty port is any port; brackets without a port, a
            // block of a name, `*:port` name nothing; a domain entry is
            // compared with an address host's text too.
            ("https://reg.example/v2/", with("x.example, *"), None),
            ("https://reg.example/v2/", with("reg.example."), Some(p)),
            ("https://a.reg.example/v2/", with("reg.example."), Some(p)),
            ("https://reg.example/v2/", with("..reg.example"), Some(p)),
            ("https://a.reg.example/v2/", with("..reg.example"), Some(p)),
            ("https://reg.example/v2/", with("*reg.example"), Some(p)),
            ("https://reg.example/v2/", with("reg.example:"), None),
            (
                "https://reg.example:5000/v2/",
                with(" REG.Example:5000 "),
                None,
            ),
            ("https://[fd00::1]/v2/", with("[fd00::1]"), Some(p)),
            ("https://reg.example/v2/", with("reg.example/8"), Some(p)),
            ("https://reg.example/v2/", with("*:443"), Some(p)),
            ("https://10.1.2.3/v2/", with("2.3"), None),
            ("https://[::ffff:10.1.2.3]/v2/", with("10.0.0.0/8"), None),
            ("https://10.1.2.3/v2/", with("::ffff:10.1.2.3"), None),
            // Go's loopback is `localhost` itself, not its subdomains.
            ("https://reg.localhost/v2/", with(""), Some(p)),
            ("https://reg.localhost/v2/", with("localhost"), None),
        ];
        for (url, e, want) in cases {
            assert_eq!(proxy_for(url, &e).as_deref(), want, "{url} {e:?}");
        }
        // Go's reading of a value without a scheme it knows: http://.
        for (value, want) in [
            ("proxy.example:3128", "http://proxy.example:3128"),
            ("10.0.0.1:3128", "http://10.0.0.1:3128"),
            ("https://p:443", "https://p:443"),
            ("socks5://p:1080", "socks5://p:1080"),
        ] {
            let e = env(&[("https_proxy", value)]);
            assert_eq!(proxy_for("https://ghcr.io/v2/", &e).as_deref(), Some(want));
        }
    }

    #[test]
    fn curl_sees_only_the_proxy_docker_would_use() {
        let all: Vec<EnvChange> = CURL_PROXY_VARS
            .iter()
            .map(|v| EnvChange::Remove(v.to_string()))
            .collect();
        let e = env(&[
            ("HTTPS_PROXY", "http://a:1"),
            ("https_proxy", "http://b:1"),
            ("ALL_PROXY", "http://c:1"),
            ("NO_PROXY", "*.corp.example,10.0.0.0/8"),
        ]);
        let mut want = all.clone();
        want.push(EnvChange::Set("https_proxy".into(), "http://a:1".into()));
        want.push(EnvChange::Set(
            "no_proxy".into(),
            "localhost,127.0.0.0/8,::1,.corp.example,10.0.0.0/8".into(),
        ));
        assert_eq!(curl_env("https://ghcr.io/v2/", &e), want);
        // Loopback, or a host NO_PROXY names: curl gets no proxy at all.
        assert_eq!(curl_env("http://127.0.0.1:5000/v2/", &e), all);
        assert_eq!(curl_env("https://x.corp.example/v2/", &e), all);
        assert_eq!(curl_env("https://ghcr.io/v2/", &ProxyEnv::default()), all);
        assert!(never_proxied("http://127.0.0.1:5000/v2/"));
        assert!(never_proxied("https://localhost:5000/token"));
        assert!(!never_proxied("https://ghcr.io/token"));
    }

    #[test]
    fn curl_gets_go_s_entries_as_it_reads_them_and_none_that_names_the_host() {
        let b = |rest: &str| format!("localhost,127.0.0.0/8,::1{rest}");
        // (NO_PROXY, the host Go proxies, curl's no_proxy)
        let cases: [(&str, &str, String); 14] = [
            ("", "ghcr.io", b("")),
            // Subdomains only: curl's `.name` also names `name` itself.
            (".reg.example", "ghcr.io", b(",.reg.example")),
            (".reg.example", "reg.example", b("")),
            ("*.reg.example", "reg.example", b("")),
            ("*.corp.example", "ghcr.io", b(",.corp.example")),
            // curl reads a trailing dot away and ignores a port.
            ("reg.example.", "reg.example", b("")),
            ("reg.example:443, reg.example:", "reg.example", b("")),
            // Names curl would split or read otherwise.
            (
                "a b.example, ..x.example, *x, [fd00::1], x/8",
                "ghcr.io",
                b(""),
            ),
            (" Corp.Example ", "ghcr.io", b(",corp.example")),
            (
                "10.1.2.3, 10.0.0.0/8, ::FFFF:10.1.2.4, FD00:0::1",
                "ghcr.io",
                b(",10.1.2.3,10.0.0.0/8,10.1.2.4,fd00::1"),
            ),
            // `localhost` in curl names its subdomains, Go's loopback not.
            ("", "reg.localhost", "127.0.0.0/8,::1".into()),
            (
                "localhost.x",
                "reg.localhost",
                "127.0.0.0/8,::1,localhost.x".into(),
            ),
            ("", "localhostx.example", b("")),
            ("x.example", "a.x.example.org", b(",x.example")),
        ];
        for (list, host, want) in cases {
            assert_eq!(curl_no_proxy(Some(list), host), want, "{list:?} {host}");
        }
    }

    #[test]
    fn a_proxy_variable_that_is_not_utf8_is_named() {
        let line = not_utf8("no_proxy", "ghcr.io");
        assert!(line.starts_with("no_proxy is not valid UTF-8"), "{line}");
        assert!(
            line.contains("registry ghcr.io") && line.contains("list of hosts"),
            "{line}"
        );
        assert!(!line.contains('\n'));
        assert!(not_utf8("HTTPS_PROXY", "x").contains("a proxy URL"));
    }
}
