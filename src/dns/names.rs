//! User input → DNS names and record types, with errors that say what is wrong.

use std::str::FromStr;

use hickory_proto::rr::{Name, RecordType};

use crate::error::{Error, Result};

/// Parse and validate a domain name the user typed (absolute; a trailing dot is optional).
pub fn parse_name(s: &str) -> Result<Name> {
    let t = s.trim();
    if t.is_empty() {
        return Err(Error::usage(
            "empty name: give a domain name such as www.example.test",
        ));
    }
    if t == "." {
        return Ok(Name::root());
    }
    let body = t.strip_suffix('.').unwrap_or(t);
    let mut wire_len = 1usize; // the root label
    for label in body.split('.') {
        if label.is_empty() {
            return Err(Error::usage(format!(
                "bad name {s:?}: empty label (two dots in a row, or a leading dot)"
            )));
        }
        if label.len() > 63 {
            return Err(Error::usage(format!(
                "bad name {s:?}: label {:?}… is {} bytes, the limit is 63",
                &label[..label.len().min(20)],
                label.len()
            )));
        }
        wire_len += 1 + label.len();
    }
    if wire_len > 255 {
        return Err(Error::usage(format!(
            "bad name {s:?}: {wire_len} bytes on the wire, the limit is 255"
        )));
    }
    let mut name =
        Name::from_utf8(body).map_err(|e| Error::usage(format!("bad name {s:?}: {e}")))?;
    name.set_fqdn(true);
    Ok(name)
}

/// Parse a record type: a mnemonic (A, AAAA, MX, …, case-insensitive) or TYPEnnn.
pub fn parse_type(s: &str) -> Result<RecordType> {
    let up = s.trim().to_ascii_uppercase();
    if let Some(n) = up.strip_prefix("TYPE")
        && let Ok(v) = n.parse::<u16>()
    {
        return Ok(RecordType::from(v));
    }
    match RecordType::from_str(&up) {
        Ok(RecordType::Unknown(_)) | Err(_) => Err(Error::usage(format!(
            "unknown record type {s:?}: use a mnemonic such as A, AAAA, MX, TXT, NS, SOA, CNAME, DS, DNSKEY, or TYPEnnn"
        ))),
        Ok(t) => Ok(t),
    }
}

/// Is `child` equal to or below `parent`?
pub fn is_within(child: &Name, parent: &Name) -> bool {
    parent.zone_of(child)
}

/// Lower-case absolute text form (`www.example.test.`).
pub fn text(n: &Name) -> String {
    let s = n.to_lowercase().to_string();
    if s.ends_with('.') { s } else { format!("{s}.") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            text(&parse_name("WWW.Example.TEST").unwrap()),
            "www.example.test."
        );
        assert_eq!(
            text(&parse_name("www.example.test.").unwrap()),
            "www.example.test."
        );
        assert!(parse_name(".").unwrap().is_root());
        for bad in [
            "",
            "a..b",
            ".a",
            &"x".repeat(64),
            &format!("{}.test", ["abcdefghij"; 25].join(".")),
        ] {
            let e = parse_name(bad).unwrap_err();
            assert!(matches!(e, Error::Usage(_)), "{bad}");
        }
        assert!(parse_name(&"a.".repeat(127)).is_ok(), "253 characters fit");
    }

    #[test]
    fn types() {
        assert_eq!(parse_type("a").unwrap(), RecordType::A);
        assert_eq!(parse_type("AAAA").unwrap(), RecordType::AAAA);
        assert_eq!(parse_type("ds").unwrap(), RecordType::DS);
        assert_eq!(parse_type("TYPE65").unwrap(), RecordType::from(65));
        assert!(parse_type("BOGUS").is_err());
        assert!(parse_type("").is_err());
    }

    #[test]
    fn within() {
        let a = parse_name("www.example.test").unwrap();
        let z = parse_name("example.test").unwrap();
        assert!(is_within(&a, &z) && is_within(&z, &z) && is_within(&a, &Name::root()));
        assert!(!is_within(&z, &a));
        assert!(!is_within(&parse_name("badexample.test").unwrap(), &z));
    }
}
