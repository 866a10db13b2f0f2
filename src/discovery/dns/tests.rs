//! The pure parts of the DNS source (formatting, sorting, picking records
//! out of answers, reading errors), and its cadence on a paused clock
//! against a server that never answers. Answers from a real server are
//! `tests/discovery_dns.rs`'s (dnsmasq, via `scripts/test-dns`).

use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_resolver::net::NoRecords;
use hickory_resolver::proto::op::Query;
use hickory_resolver::proto::rr::RecordType;
use hickory_resolver::proto::rr::rdata::{A, AAAA, SRV};

use super::answer::*;
use super::*;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, Record};

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

fn record(owner: &str, data: RData) -> Record {
    Record::from_rdata(name(owner), 0, data)
}

/// Addresses sort as numbers (IPv4 first), duplicates go, IPv6 is
/// bracketed and mapped IPv4 counts as IPv4.
#[test]
fn peers_are_sorted_deduplicated_and_bracketed() {
    let v4 = |last: u8, port| SocketAddr::new(Ipv4Addr::new(10, 0, 0, last).into(), port);
    let v6: SocketAddr = "[fd00::7]:7001".parse().unwrap();
    let mapped: SocketAddr = "[::ffff:10.0.0.2]:7001".parse().unwrap();
    assert_eq!(
        peers([
            v6,
            v4(10, 7001),
            v4(2, 7001),
            v4(2, 7001),
            mapped,
            v4(2, 7000)
        ]),
        [
            "10.0.0.2:7000",
            "10.0.0.2:7001",
            "10.0.0.10:7001",
            "[fd00::7]:7001"
        ]
    );
    let long = SocketAddr::new(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).into(), 443);
    assert_eq!(peers([long]), ["[2001:db8::1]:443"]);
    assert!(peers([]).is_empty());
}

/// Every SRV record gives its target and port, except the root target.
#[test]
fn srv_records_give_target_and_port() {
    let srv = |port, target| RData::SRV(SRV::new(10, 5, port, name(target)));
    let answers = [
        record("_gc._tcp.mesh.", srv(7001, "n1.mesh.")),
        record("_gc._tcp.mesh.", srv(7002, "n2.mesh.")),
        record("_gc._tcp.mesh.", srv(7003, ".")),
        record("n1.mesh.", RData::A(A::new(10, 0, 0, 1))),
    ];
    assert_eq!(
        srv_records(&answers),
        [(name("n1.mesh."), 7001), (name("n2.mesh."), 7002)]
    );
}

/// Only the A and AAAA records of the name asked, whatever its case and
/// trailing dot.
#[test]
fn addresses_are_picked_by_name() {
    let additionals = [
        record("N1.Mesh.", RData::A(A::new(10, 0, 0, 1))),
        record(
            "n1.mesh.",
            RData::AAAA(AAAA::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)),
        ),
        record("n2.mesh.", RData::A(A::new(10, 0, 0, 2))),
        record("n1.mesh.", RData::SRV(SRV::new(0, 0, 1, name("n1.mesh.")))),
    ];
    let want: Vec<IpAddr> = vec![
        Ipv4Addr::new(10, 0, 0, 1).into(),
        "fd00::1".parse::<Ipv6Addr>().unwrap().into(),
    ];
    assert_eq!(addresses_in(&additionals, &name("n1.mesh.")), want);
    assert_eq!(addresses_in(&additionals, &name("n1.mesh")), want);
    assert!(addresses_in(&additionals, &name("n3.mesh.")).is_empty());
    assert_eq!(trim_dot(&name("n1.mesh.")), "n1.mesh");
    assert_eq!(trim_dot(&name("n1.mesh")), "n1.mesh");
    assert_eq!(trim_dot(&Name::root()), ".");
}

/// NXDOMAIN, an empty answer and an error code are answers; a timeout or
/// a socket error is not.
#[test]
fn errors_are_sorted_into_answers_and_failures() {
    let no_records = |code| {
        NetError::from(NoRecords::new(
            Query::query(name("x.mesh."), RecordType::A),
            code,
        ))
    };
    assert_eq!(
        negative(no_records(ResponseCode::NXDomain), "x.mesh"),
        Ok(Failure::NoSuchName("x.mesh".into()))
    );
    assert_eq!(
        negative(no_records(ResponseCode::NoError), "x.mesh"),
        Ok(Failure::NoRecords("x.mesh".into()))
    );
    assert_eq!(
        negative(
            NetError::Dns(DnsError::ResponseCode(ResponseCode::Refused)),
            "x.mesh"
        ),
        Ok(Failure::Answered("REFUSED for x.mesh".into()))
    );
    assert_eq!(negative(NetError::Timeout, "x.mesh"), Err(Failure::Timeout));
    let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    assert!(matches!(
        negative(NetError::from(refused), "x.mesh"),
        Err(Failure::Failed(why)) if why.starts_with("x.mesh: ")
    ));
}

fn silent_server() -> (std::net::UdpSocket, DiscoveryOptions) {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut opts = DiscoveryOptions::new("127.0.0.1:7001");
    opts.dns_server = Some(socket.local_addr().unwrap());
    opts.interval = Duration::from_secs(5);
    opts.timeout = Duration::from_secs(2);
    (socket, opts)
}

/// Only DNS specs open a DNS source; the messages name the spec, the
/// server and what failed.
#[tokio::test]
async fn messages_name_spec_server_and_cause() {
    let (_socket, opts) = silent_server();
    let file = DiscoverySpec::File("/x".into());
    let err = DnsSource::new(&file, &opts).unwrap_err().to_string();
    assert!(err.contains("not a DNS source"), "{err}");

    let spec = DiscoverySpec::Dns {
        name: "gc.mesh".into(),
        port: 7001,
    };
    let source = DnsSource::new(&spec, &opts).unwrap();
    let server = opts.dns_server.unwrap().to_string();
    let text = |failure| source.ask.error(failure).to_string();
    let nx = text(Failure::NoSuchName("gc.mesh".into()));
    assert_eq!(
        nx,
        format!("discovery: dns:gc.mesh:7001: gc.mesh does not exist (NXDOMAIN from {server})")
    );
    let timeout = text(Failure::Timeout);
    assert!(
        timeout.contains(&format!("no answer from {server} within 2s")),
        "{timeout}"
    );
    let refused = text(Failure::Answered("REFUSED for gc.mesh".into()));
    assert!(
        refused.ends_with(&format!("{server} answered REFUSED for gc.mesh")),
        "{refused}"
    );
}

/// The first call asks at once; each later one an interval after the
/// previous started, however often a pending call is dropped, during the
/// wait or during the resolution; each fails after the timeout when the
/// server never answers.
#[tokio::test(start_paused = true)]
async fn polls_keep_their_cadence_across_cancelled_calls() {
    let (_socket, opts) = silent_server();
    let spec = DiscoverySpec::DnsSrv {
        name: "_gc._tcp.mesh".into(),
    };
    let mut source = DnsSource::new(&spec, &opts).unwrap();
    let start = Instant::now();
    let err = source.next().await.unwrap_err().to_string();
    assert!(err.contains("timeout"), "{err}");
    assert_eq!(start.elapsed(), opts.timeout);
    // Dropped every second, more often than a resolution takes: without
    // the due instant and the resolution under way kept in the source,
    // each call would wait a whole interval again, or start the 2 s
    // resolution over, and never answer.
    loop {
        match tokio::time::timeout(Duration::from_secs(1), source.next()).await {
            Err(_) => assert!(
                start.elapsed() < Duration::from_secs(30),
                "never asked again"
            ),
            Ok(answer) => {
                assert!(answer.is_err());
                break;
            }
        }
    }
    assert_eq!(start.elapsed(), opts.interval + opts.timeout);
}
