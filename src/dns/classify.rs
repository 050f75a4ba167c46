//! One server's reply → what it means for the walk (pure: hickory Messages in, facts out).

use std::net::IpAddr;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use crate::dns::names::{is_within, text};

/// The kind of a reply, as a resolver sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A delegation to a child zone closer to the name.
    Referral,
    /// An authoritative answer (possibly a CNAME / DNAME step).
    Answer,
    /// The name exists but has no record of that type.
    Nodata,
    /// The name does not exist.
    Nxdomain,
    /// The server failed to act as an authoritative server for the zone.
    Lame,
}

/// A delegation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referral {
    /// The child zone.
    pub zone: Name,
    /// Its NS names, sorted.
    pub ns: Vec<Name>,
    /// In-bailiwick glue: (NS name, address).
    pub glue: Vec<(Name, IpAddr)>,
    /// Glue records offered for names outside the bailiwick (ignored).
    pub ignored_glue: Vec<Name>,
}

/// One step of an alias chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasStep {
    /// The name that is an alias.
    pub from: Name,
    /// What it points to.
    pub to: Name,
    /// CNAME or DNAME.
    pub kind: RecordType,
}

/// What one reply means.
#[derive(Debug, Clone, PartialEq)]
pub struct Classified {
    /// Kind.
    pub kind: Kind,
    /// For lame replies: refused, servfail, notimp, formerr, rcode_N, not_authoritative,
    /// upward_referral, sideways_referral, no_glue_path.
    pub lame_reason: Option<String>,
    /// For referrals.
    pub referral: Option<Referral>,
    /// Records answering the (final) question, in answer-section order.
    pub answers: Vec<Record>,
    /// Alias steps found in the answer, starting at the queried name.
    pub chain: Vec<AliasStep>,
    /// When the chain leaves the answer unfinished: the name to resolve next.
    pub follow: Option<Name>,
}

impl Classified {
    fn lame(reason: &str) -> Classified {
        Classified {
            kind: Kind::Lame,
            lame_reason: Some(reason.to_string()),
            referral: None,
            answers: Vec::new(),
            chain: Vec::new(),
            follow: None,
        }
    }
    fn of(kind: Kind) -> Classified {
        Classified {
            kind,
            lame_reason: None,
            referral: None,
            answers: Vec::new(),
            chain: Vec::new(),
            follow: None,
        }
    }
}

fn same(a: &Name, b: &Name) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

/// The target of a DNAME record (hickory keeps DNAME as unknown rdata: a wire-format name).
pub fn dname_target(r: &Record) -> Option<Name> {
    if r.record_type() != RecordType::DNAME {
        return None;
    }
    match &r.data {
        RData::Unknown { rdata, .. } => Name::read(&mut BinDecoder::new(&rdata.anything)).ok(),
        _ => None,
    }
}

/// Substitute a DNAME: `qname` = prefix + owner → prefix + target.
pub fn dname_substitute(qname: &Name, owner: &Name, target: &Name) -> Option<Name> {
    let keep = qname.num_labels().checked_sub(owner.num_labels())?;
    if keep == 0 {
        return None;
    }
    let labels: Vec<&[u8]> = qname.iter().take(keep as usize).collect();
    let mut n = Name::from_labels(labels).ok()?;
    n.set_fqdn(false);
    n.append_domain(target).ok()
}

/// Classify `msg`, the reply of a server of `zone` to `qname`/`qtype`.
pub fn classify(zone: &Name, qname: &Name, qtype: RecordType, msg: &Message) -> Classified {
    let mut rcode = msg.metadata.response_code;
    // BIND answers an alias loop with an authoritative SERVFAIL that still carries the CNAMEs
    // ("max. restarts reached"): take the chain, so the loop is seen for what it is.
    let chain_in_servfail = rcode == ResponseCode::ServFail
        && msg.metadata.authoritative
        && msg
            .answers
            .iter()
            .any(|r| r.record_type() == RecordType::CNAME && same(&r.name, qname));
    if chain_in_servfail {
        rcode = ResponseCode::NoError;
    }
    match rcode {
        ResponseCode::NoError | ResponseCode::NXDomain => {}
        ResponseCode::Refused => return Classified::lame("refused"),
        ResponseCode::ServFail => return Classified::lame("servfail"),
        ResponseCode::NotImp => return Classified::lame("notimp"),
        ResponseCode::FormErr => return Classified::lame("formerr"),
        other => return Classified::lame(&format!("rcode_{}", u16::from(other))),
    }
    let aa = msg.metadata.authoritative;

    // Follow the alias chain inside the answer section.
    let mut chain = Vec::new();
    let mut current = qname.clone();
    let mut answers = Vec::new();
    let mut visited = vec![qname.to_lowercase()];
    for _ in 0..16 {
        let exact: Vec<&Record> = msg
            .answers
            .iter()
            .filter(|r| same(&r.name, &current))
            .collect();
        let cname_target = exact.iter().find_map(|r| match &r.data {
            RData::CNAME(c) => Some(c.0.clone()),
            _ => None,
        });
        if qtype != RecordType::CNAME
            && let Some(t) = cname_target
        {
            chain.push(AliasStep {
                from: current.clone(),
                to: t.clone(),
                kind: RecordType::CNAME,
            });
            if visited.contains(&t.to_lowercase()) {
                current = t;
                break;
            }
            visited.push(t.to_lowercase());
            current = t;
            continue;
        }
        let hits: Vec<Record> = exact
            .iter()
            .filter(|r| r.record_type() == qtype)
            .map(|r| (*r).clone())
            .collect();
        if !hits.is_empty() {
            answers = hits;
            break;
        }
        // A DNAME above the current name.
        if qtype != RecordType::DNAME {
            let dn = msg.answers.iter().find_map(|r| {
                let t = dname_target(r)?;
                (is_within(&current, &r.name) && !same(&current, &r.name))
                    .then(|| (r.name.clone(), t))
            });
            if let Some((owner, target)) = dn
                && let Some(next) = dname_substitute(&current, &owner, &target)
            {
                chain.push(AliasStep {
                    from: current.clone(),
                    to: next.clone(),
                    kind: RecordType::DNAME,
                });
                if visited.contains(&next.to_lowercase()) {
                    current = next;
                    break;
                }
                visited.push(next.to_lowercase());
                current = next;
                continue;
            }
        }
        break;
    }
    let has_soa = msg
        .authorities
        .iter()
        .any(|r| r.record_type() == RecordType::SOA);

    if !answers.is_empty() || !chain.is_empty() {
        if !aa {
            return Classified::lame("not_authoritative");
        }
        let mut c = Classified::of(Kind::Answer);
        c.follow = (answers.is_empty() && rcode == ResponseCode::NoError).then(|| current.clone());
        if answers.is_empty() && rcode == ResponseCode::NXDomain {
            c.kind = Kind::Nxdomain;
        }
        c.answers = answers;
        c.chain = chain;
        return c;
    }
    if rcode == ResponseCode::NXDomain {
        return if aa {
            Classified::of(Kind::Nxdomain)
        } else {
            Classified::lame("not_authoritative")
        };
    }
    if aa {
        return Classified::of(Kind::Nodata);
    }
    // Not authoritative and no answer: a referral, or lame.
    let ns: Vec<&Record> = msg
        .authorities
        .iter()
        .filter(|r| r.record_type() == RecordType::NS)
        .collect();
    let Some(first) = ns.first() else {
        return Classified::lame(if has_soa {
            "not_authoritative"
        } else {
            "no_referral"
        });
    };
    let child = first.name.clone();
    if !is_within(&child, zone) || same(&child, zone) {
        let reason = if is_within(zone, &child) {
            "upward_referral"
        } else {
            "sideways_referral"
        };
        return Classified::lame(reason);
    }
    if !is_within(qname, &child) {
        return Classified::lame("sideways_referral");
    }
    let mut names: Vec<Name> = ns
        .iter()
        .filter(|r| same(&r.name, &child))
        .filter_map(|r| match &r.data {
            RData::NS(n) => Some(n.0.to_lowercase()),
            _ => None,
        })
        .collect();
    names.sort();
    names.dedup();
    let mut glue = Vec::new();
    let mut ignored = Vec::new();
    for r in &msg.additionals {
        let ip = match &r.data {
            RData::A(a) => IpAddr::V4(a.0),
            RData::AAAA(a) => IpAddr::V6(a.0),
            _ => continue,
        };
        let owner = r.name.to_lowercase();
        if !names.contains(&owner) {
            continue;
        }
        // Glue is only believed for names inside the delegating zone (the bailiwick).
        if is_within(&owner, zone) {
            glue.push((owner, ip));
        } else if !ignored.contains(&owner) {
            ignored.push(owner);
        }
    }
    let mut c = Classified::of(Kind::Referral);
    c.referral = Some(Referral {
        zone: child.to_lowercase(),
        ns: names,
        glue,
        ignored_glue: ignored,
    });
    c
}

/// A stable text form of a record's data (for comparing servers, ignoring TTL).
pub fn rdata_text(r: &Record) -> String {
    match dname_target(r) {
        Some(t) => text(&t),
        None => r.data.to_string(),
    }
}

/// `owner TTL IN TYPE data`.
pub fn record_text(r: &Record) -> String {
    format!(
        "{} {} IN {} {}",
        text(&r.name),
        r.ttl,
        r.record_type(),
        rdata_text(r)
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use hickory_proto::op::{MessageType, OpCode};
    use hickory_proto::rr::rdata::{A, CNAME, NS, SOA};

    pub fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    pub fn reply(aa: bool, rcode: ResponseCode) -> Message {
        let mut m = Message::new(1, MessageType::Response, OpCode::Query);
        m.metadata.authoritative = aa;
        m.metadata.response_code = rcode;
        m
    }

    pub fn ns(owner: &str, target: &str) -> Record {
        Record::from_rdata(n(owner), 300, RData::NS(NS(n(target))))
    }
    pub fn a(owner: &str, ip: &str) -> Record {
        Record::from_rdata(n(owner), 300, RData::A(A(ip.parse().unwrap())))
    }
    pub fn cname(owner: &str, target: &str) -> Record {
        Record::from_rdata(n(owner), 300, RData::CNAME(CNAME(n(target))))
    }
    pub fn soa(owner: &str) -> Record {
        let sub = |l: &str| {
            if owner == "." {
                n(&format!("{l}."))
            } else {
                n(&format!("{l}.{owner}"))
            }
        };
        Record::from_rdata(
            n(owner),
            300,
            RData::SOA(SOA::new(sub("ns"), sub("h"), 1, 1, 1, 1, 1)),
        )
    }

    #[test]
    fn referral_with_glue_in_bailiwick_only() {
        let mut m = reply(false, ResponseCode::NoError);
        m.add_authority(ns("example.test.", "ns1.example.test."));
        m.add_authority(ns("example.test.", "ns.other.zone."));
        m.add_additional(a("ns1.example.test.", "127.0.0.5"));
        m.add_additional(a("ns.other.zone.", "127.0.0.66"));
        let c = classify(&n("test."), &n("www.example.test."), RecordType::A, &m);
        assert_eq!(c.kind, Kind::Referral);
        let r = c.referral.unwrap();
        assert_eq!(r.zone, n("example.test."));
        // DNS canonical order (labels compared from the right).
        assert_eq!(r.ns, vec![n("ns1.example.test."), n("ns.other.zone.")]);
        assert_eq!(
            r.glue,
            vec![(n("ns1.example.test."), "127.0.0.5".parse().unwrap())]
        );
        assert_eq!(r.ignored_glue, vec![n("ns.other.zone.")]);
    }

    #[test]
    fn bad_referrals_and_rcodes_are_lame() {
        let mut up = reply(false, ResponseCode::NoError);
        up.add_authority(ns(".", "a.root."));
        assert_eq!(
            classify(&n("test."), &n("a.test."), RecordType::A, &up)
                .lame_reason
                .as_deref(),
            Some("upward_referral")
        );
        let mut side = reply(false, ResponseCode::NoError);
        side.add_authority(ns("other.test.", "ns.other.test."));
        assert_eq!(
            classify(&n("test."), &n("a.example.test."), RecordType::A, &side)
                .lame_reason
                .as_deref(),
            Some("sideways_referral")
        );
        for (rc, why) in [
            (ResponseCode::Refused, "refused"),
            (ResponseCode::ServFail, "servfail"),
            (ResponseCode::NotImp, "notimp"),
            (ResponseCode::FormErr, "formerr"),
        ] {
            assert_eq!(
                classify(&n("test."), &n("a.test."), RecordType::A, &reply(true, rc))
                    .lame_reason
                    .as_deref(),
                Some(why)
            );
        }
        let mut na = reply(false, ResponseCode::NoError);
        na.add_answer(a("a.test.", "192.0.2.1"));
        assert_eq!(
            classify(&n("test."), &n("a.test."), RecordType::A, &na)
                .lame_reason
                .as_deref(),
            Some("not_authoritative")
        );
        let empty = reply(false, ResponseCode::NoError);
        assert_eq!(
            classify(&n("test."), &n("a.test."), RecordType::A, &empty).kind,
            Kind::Lame
        );
    }

    #[test]
    fn answers_nodata_nxdomain() {
        let mut m = reply(true, ResponseCode::NoError);
        m.add_answer(a("api.example.test.", "192.0.2.10"));
        let c = classify(
            &n("example.test."),
            &n("api.example.test."),
            RecordType::A,
            &m,
        );
        assert_eq!(
            (c.kind, c.answers.len(), c.follow.is_none()),
            (Kind::Answer, 1, true)
        );
        let mut nd = reply(true, ResponseCode::NoError);
        nd.add_authority(soa("example.test."));
        assert_eq!(
            classify(
                &n("example.test."),
                &n("api.example.test."),
                RecordType::MX,
                &nd
            )
            .kind,
            Kind::Nodata
        );
        let mut nx = reply(true, ResponseCode::NXDomain);
        nx.add_authority(soa("example.test."));
        assert_eq!(
            classify(
                &n("example.test."),
                &n("no.example.test."),
                RecordType::A,
                &nx
            )
            .kind,
            Kind::Nxdomain
        );
    }

    #[test]
    fn cname_chain_in_and_out_of_zone() {
        let mut m = reply(true, ResponseCode::NoError);
        m.add_answer(cname("www.example.test.", "edge.cdn.test."));
        let c = classify(
            &n("example.test."),
            &n("www.example.test."),
            RecordType::A,
            &m,
        );
        assert_eq!(c.kind, Kind::Answer);
        assert_eq!(c.chain.len(), 1);
        assert_eq!(c.follow, Some(n("edge.cdn.test.")));
        m.add_answer(a("edge.cdn.test.", "192.0.2.80"));
        let c = classify(
            &n("example.test."),
            &n("www.example.test."),
            RecordType::A,
            &m,
        );
        assert_eq!((c.answers.len(), c.follow.clone()), (1, None));
        // Asking for the CNAME itself answers it.
        let c = classify(
            &n("example.test."),
            &n("www.example.test."),
            RecordType::CNAME,
            &m,
        );
        assert_eq!((c.answers.len(), c.chain.len()), (1, 0));
    }

    #[test]
    fn authoritative_servfail_with_a_cname_loop_keeps_the_chain() {
        let mut m = reply(true, ResponseCode::ServFail);
        m.add_answer(cname("loop1.example.test.", "loop2.example.test."));
        m.add_answer(cname("loop2.example.test.", "loop1.example.test."));
        let c = classify(
            &n("example.test."),
            &n("loop1.example.test."),
            RecordType::A,
            &m,
        );
        assert_eq!(c.kind, Kind::Answer);
        assert_eq!(c.chain.len(), 2);
        assert_eq!(c.follow, Some(n("loop1.example.test.")));
        // A plain SERVFAIL stays lame.
        assert_eq!(
            classify(
                &n("example.test."),
                &n("a.example.test."),
                RecordType::A,
                &reply(true, ResponseCode::ServFail)
            )
            .kind,
            Kind::Lame
        );
    }

    #[test]
    fn dname_substitution() {
        let t = dname_substitute(&n("a.b.old.test."), &n("old.test."), &n("new.test.")).unwrap();
        assert_eq!(t, n("a.b.new.test."));
        assert!(dname_substitute(&n("old.test."), &n("old.test."), &n("new.test.")).is_none());
    }
}

#[cfg(test)]
mod wire_tests {
    use super::tests::{a, n, ns};
    use super::*;
    use hickory_proto::op::{MessageType, OpCode};

    /// A referral as it crosses the wire (the root's answer for www.example.test), recorded
    /// as bytes: every prefix and every single-byte corruption parses to an error or to a
    /// message that classifies without panicking.
    #[test]
    fn recorded_referral_and_its_corruptions() {
        let mut m = Message::new(0x1234, MessageType::Response, OpCode::Query);
        m.add_query(hickory_proto::op::Query::query(
            n("www.example.test."),
            RecordType::A,
        ));
        m.add_authority(ns("test.", "ns1.nic.test."));
        m.add_authority(ns("test.", "ns2.nic.test."));
        m.add_additional(a("ns1.nic.test.", "127.0.0.3"));
        m.add_additional(a("ns2.nic.test.", "127.0.0.4"));
        let wire = m.to_vec().unwrap();
        let back = Message::from_vec(&wire).unwrap();
        let c = classify(&Name::root(), &n("www.example.test."), RecordType::A, &back);
        assert_eq!(c.kind, Kind::Referral);
        assert_eq!(c.referral.as_ref().unwrap().glue.len(), 2);
        for cut in 0..wire.len() {
            if let Ok(msg) = Message::from_vec(&wire[..cut]) {
                let _ = classify(&Name::root(), &n("www.example.test."), RecordType::A, &msg);
            }
        }
        for i in 0..wire.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut w = wire.clone();
                w[i] ^= flip;
                if let Ok(msg) = Message::from_vec(&w) {
                    let _ = classify(&Name::root(), &n("www.example.test."), RecordType::A, &msg);
                }
            }
        }
        assert!(
            Message::from_vec(&[0u8; 5]).is_err(),
            "a short header is malformed"
        );
    }
}
