//! Root hints: the IANA root servers built in, or a named.root-format file.

use std::net::IpAddr;

use hickory_proto::rr::Name;

use crate::error::{Error, Result};

/// One root server: its name and an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    /// NS name (`a.root-servers.net.`), or `(--root)` for addresses given on the command line.
    pub ns: String,
    /// Address.
    pub address: IpAddr,
}

/// IANA's named.root (the root servers' names and addresses), as distributed by InterNIC.
pub const IANA_NAMED_ROOT: &str = "\
.                        3600000      NS    A.ROOT-SERVERS.NET.
A.ROOT-SERVERS.NET.      3600000      A     198.41.0.4
A.ROOT-SERVERS.NET.      3600000      AAAA  2001:503:ba3e::2:30
.                        3600000      NS    B.ROOT-SERVERS.NET.
B.ROOT-SERVERS.NET.      3600000      A     170.247.170.2
B.ROOT-SERVERS.NET.      3600000      AAAA  2801:1b8:10::b
.                        3600000      NS    C.ROOT-SERVERS.NET.
C.ROOT-SERVERS.NET.      3600000      A     192.33.4.12
C.ROOT-SERVERS.NET.      3600000      AAAA  2001:500:2::c
.                        3600000      NS    D.ROOT-SERVERS.NET.
D.ROOT-SERVERS.NET.      3600000      A     199.7.91.13
D.ROOT-SERVERS.NET.      3600000      AAAA  2001:500:2d::d
.                        3600000      NS    E.ROOT-SERVERS.NET.
E.ROOT-SERVERS.NET.      3600000      A     192.203.230.10
E.ROOT-SERVERS.NET.      3600000      AAAA  2001:500:a8::e
.                        3600000      NS    F.ROOT-SERVERS.NET.
F.ROOT-SERVERS.NET.      3600000      A     192.5.5.241
F.ROOT-SERVERS.NET.      3600000      AAAA  2001:500:2f::f
.                        3600000      NS    G.ROOT-SERVERS.NET.
G.ROOT-SERVERS.NET.      3600000      A     192.112.36.4
G.ROOT-SERVERS.NET.      3600000      AAAA  2001:500:12::d0d
.                        3600000      NS    H.ROOT-SERVERS.NET.
H.ROOT-SERVERS.NET.      3600000      A     198.97.190.53
H.ROOT-SERVERS.NET.      3600000      AAAA  2001:500:1::53
.                        3600000      NS    I.ROOT-SERVERS.NET.
I.ROOT-SERVERS.NET.      3600000      A     192.36.148.17
I.ROOT-SERVERS.NET.      3600000      AAAA  2001:7fe::53
.                        3600000      NS    J.ROOT-SERVERS.NET.
J.ROOT-SERVERS.NET.      3600000      A     192.58.128.30
J.ROOT-SERVERS.NET.      3600000      AAAA  2001:503:c27::2:30
.                        3600000      NS    K.ROOT-SERVERS.NET.
K.ROOT-SERVERS.NET.      3600000      A     193.0.14.129
K.ROOT-SERVERS.NET.      3600000      AAAA  2001:7fd::1
.                        3600000      NS    L.ROOT-SERVERS.NET.
L.ROOT-SERVERS.NET.      3600000      A     199.7.83.42
L.ROOT-SERVERS.NET.      3600000      AAAA  2001:500:9f::42
.                        3600000      NS    M.ROOT-SERVERS.NET.
M.ROOT-SERVERS.NET.      3600000      A     202.12.27.33
M.ROOT-SERVERS.NET.      3600000      AAAA  2001:dc3::35
";

/// Parse named.root format: `NAME [TTL] [IN] TYPE DATA`; `;` starts a comment. Only the
/// A / AAAA records of names the root's NS records list are used.
pub fn parse_named_root(text: &str) -> Result<Vec<Hint>> {
    let mut ns_names: Vec<String> = Vec::new();
    let mut addrs: Vec<(String, IpAddr)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split(';').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let Some(pos) = f
            .iter()
            .position(|w| matches!(w.to_ascii_uppercase().as_str(), "NS" | "A" | "AAAA"))
        else {
            continue;
        };
        let (Some(owner), Some(data)) = (f.first(), f.get(pos + 1)) else {
            return Err(Error::usage(format!(
                "root hints line {}: missing data: {raw:?}",
                i + 1
            )));
        };
        let owner = canon(owner);
        match f[pos].to_ascii_uppercase().as_str() {
            "NS" if owner == "." => ns_names.push(canon(data)),
            "A" | "AAAA" => {
                let ip: IpAddr = data.parse().map_err(|_| {
                    Error::usage(format!("root hints line {}: bad address {data:?}", i + 1))
                })?;
                addrs.push((owner, ip));
            }
            _ => {}
        }
    }
    let hints: Vec<Hint> = ns_names
        .iter()
        .flat_map(|n| {
            addrs
                .iter()
                .filter(move |(o, _)| o == n)
                .map(move |(_, a)| Hint {
                    ns: n.clone(),
                    address: *a,
                })
        })
        .collect();
    if hints.is_empty() {
        return Err(Error::usage(
            "root hints: no root server with an address (expected `. NS name` and `name A addr` lines)",
        ));
    }
    Ok(hints)
}

fn canon(s: &str) -> String {
    let l = s.to_ascii_lowercase();
    if l.ends_with('.') { l } else { format!("{l}.") }
}

/// The built-in IANA hints.
pub fn builtin() -> Vec<Hint> {
    parse_named_root(IANA_NAMED_ROOT).unwrap_or_default()
}

/// Hints from `--root ADDR[,ADDR...]`.
pub fn from_addresses(list: &str) -> Result<Vec<Hint>> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpAddr>()
                .map(|address| Hint {
                    ns: "(--root)".into(),
                    address,
                })
                .map_err(|_| {
                    Error::usage(format!(
                        "--root: {s:?} is not an IP address (write --root 127.0.0.2,::1)"
                    ))
                })
        })
        .collect::<Result<Vec<_>>>()
        .and_then(|v| {
            if v.is_empty() {
                Err(Error::usage("--root: no address given"))
            } else {
                Ok(v)
            }
        })
}

/// The root zone's name, for the first level.
pub fn root() -> Name {
    Name::root()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_has_13_servers_both_families() {
        let h = builtin();
        assert_eq!(h.len(), 26);
        assert_eq!(h[0].ns, "a.root-servers.net.");
        assert_eq!(h.iter().filter(|x| x.address.is_ipv4()).count(), 13);
    }

    #[test]
    fn named_root_file() {
        let f = "; comment\n.  3600000 IN NS a.root-servers.test.\na.root-servers.test. 3600000 A 127.0.0.2\nother.test. A 127.0.0.9\n";
        let h = parse_named_root(f).unwrap();
        assert_eq!(
            h,
            vec![Hint {
                ns: "a.root-servers.test.".into(),
                address: "127.0.0.2".parse().unwrap()
            }]
        );
        assert!(parse_named_root("nothing here").is_err());
        assert!(parse_named_root(". NS a.\na. A 300.1.1.1").is_err());
    }

    #[test]
    fn root_addresses() {
        assert_eq!(from_addresses("127.0.0.2, ::1").unwrap().len(), 2);
        assert!(from_addresses("127.0.0.2,example").is_err());
        assert!(from_addresses(",").is_err());
    }
}
