//! Reading DNS answers: the records a resolution keeps, how errors are
//! told apart, and the answer's form (sorted `IP:PORT`).

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, Record};

/// Why a resolution found no peers.
#[derive(Debug, PartialEq)]
pub(super) enum Failure {
    /// NXDOMAIN for this name.
    NoSuchName(String),
    /// The name exists but has no records of the types asked (what is
    /// missing, in words).
    NoRecords(String),
    /// No answer within the timeout.
    Timeout,
    /// The server answered with an error code (REFUSED, SERVFAIL...).
    Answered(String),
    /// Anything else (a socket error, a malformed answer).
    Failed(String),
}

/// Sorts a negative answer (`Ok`: NXDOMAIN, no records, an error code)
/// from a failure to get an answer (`Err`).
pub(super) fn negative(e: NetError, name: &str) -> Result<Failure, Failure> {
    if e.is_nx_domain() {
        return Ok(Failure::NoSuchName(name.to_owned()));
    }
    match e {
        NetError::Dns(DnsError::NoRecordsFound(_)) => Ok(Failure::NoRecords(name.to_owned())),
        NetError::Dns(DnsError::ResponseCode(code)) => Ok(Failure::Answered(format!(
            "{} for {name}",
            rcode_name(code)
        ))),
        NetError::Timeout => Err(Failure::Timeout),
        other => Err(Failure::Failed(format!("{name}: {other}"))),
    }
}

/// An error code as DNS tools print it.
pub(super) fn rcode_name(code: ResponseCode) -> String {
    match code {
        ResponseCode::FormErr => "FORMERR".into(),
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        ResponseCode::Refused => "REFUSED".into(),
        other => format!("rcode {} ({other})", u16::from(other)),
    }
}

/// The `(target, port)` of every SRV record among `records`, leaving out
/// the root target `.` (RFC 2782: the service is not offered there).
pub(super) fn srv_records(records: &[Record]) -> Vec<(Name, u16)> {
    records
        .iter()
        .filter_map(|record| match &record.data {
            RData::SRV(srv) if !srv.target.is_root() => Some((srv.target.clone(), srv.port)),
            _ => None,
        })
        .collect()
}

/// The A and AAAA addresses of `name` among `records` (answers, or the
/// additional records of an SRV answer). Names compare case-insensitively.
pub(super) fn addresses_in(records: &[Record], name: &Name) -> Vec<IpAddr> {
    records
        .iter()
        .filter(|record| same_name(&record.name, name))
        .filter_map(|record| match &record.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
            _ => None,
        })
        .collect()
}

/// Whether two names are the same host, whether or not either is written
/// fully qualified (`Name`'s own `==` says `a.` and `a` differ).
pub(super) fn same_name(a: &Name, b: &Name) -> bool {
    trim_dot(a).eq_ignore_ascii_case(&trim_dot(b))
}

/// A name as a person writes it: no trailing dot.
pub(super) fn trim_dot(name: &Name) -> String {
    let text = name.to_ascii();
    match text.strip_suffix('.') {
        Some(trimmed) if !trimmed.is_empty() => trimmed.to_owned(),
        _ => text,
    }
}

/// The answer: sorted, deduplicated `IP:PORT` (`[v6]:PORT`), IPv4-mapped
/// IPv6 addresses as IPv4.
pub(super) fn peers(addrs: impl IntoIterator<Item = SocketAddr>) -> Vec<String> {
    addrs
        .into_iter()
        .map(|addr| SocketAddr::new(addr.ip().to_canonical(), addr.port()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|addr| addr.to_string())
        .collect()
}
