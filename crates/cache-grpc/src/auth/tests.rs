//! Unit tier: each role against each credential.

use tonic::Code;

use super::*;

fn policy() -> AuthPolicy {
    AuthPolicy::open()
        .client_tokens(Tokens::from_text("client-a\nclient-b").unwrap())
        .peer_tokens(Tokens::from_text("peer-x").unwrap())
}

fn code(r: Result<(), tonic::Status>) -> Option<Code> {
    r.err().map(|s| s.code())
}

/// Paths map to roles; Stats and health are configurable.
#[test]
fn roles_by_path() {
    let p = policy();
    assert_eq!(p.role("/groupcache.v1.Groupcache/Fetch"), Role::Peer);
    assert_eq!(p.role("/groupcache.v1.Groupcache/Put"), Role::Peer);
    assert_eq!(p.role("/groupcache.v1.Groupcache/FetchMany"), Role::Peer);
    assert_eq!(p.role("/groupcache.v1.Groupcache/GetMany"), Role::Client);
    assert_eq!(p.role("/groupcache.v1.Groupcache/Get"), Role::Client);
    assert_eq!(p.role("/groupcache.v1.Groupcache/Stats"), Role::Client);
    assert_eq!(p.role("/groupcache.v1.Groupcache/Nope"), Role::Client);
    assert_eq!(p.role("/grpc.health.v1.Health/Check"), Role::Open);
    assert_eq!(
        p.role("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"),
        Role::Open
    );
    assert_eq!(p.role("/other.Service/X"), Role::Client);
    let p = policy().open_stats(true).closed_health(true);
    assert_eq!(p.role("/groupcache.v1.Groupcache/Stats"), Role::Open);
    assert_eq!(p.role("/grpc.health.v1.Health/Check"), Role::Client);
}

/// Clients need a client (or peer) token; Fetch a peer's; a client token
/// on Fetch is PERMISSION_DENIED, nothing or a wrong one UNAUTHENTICATED.
#[test]
fn credentials_by_role() {
    let p = policy();
    assert_eq!(code(p.check(Role::Open, None, None)), None);
    assert_eq!(code(p.check(Role::Client, Some(b"client-b"), None)), None);
    assert_eq!(code(p.check(Role::Client, Some(b"peer-x"), None)), None);
    assert_eq!(
        code(p.check(Role::Client, None, None)),
        Some(Code::Unauthenticated)
    );
    assert_eq!(
        code(p.check(Role::Client, Some(b"client-c"), None)),
        Some(Code::Unauthenticated)
    );
    assert_eq!(code(p.check(Role::Peer, Some(b"peer-x"), None)), None);
    assert_eq!(
        code(p.check(Role::Peer, Some(b"client-a"), None)),
        Some(Code::PermissionDenied)
    );
    assert_eq!(
        code(p.check(Role::Peer, None, None)),
        Some(Code::Unauthenticated)
    );
    // A certificate counts only when peer certificates are on.
    let cert = ClientCertificate {
        peer: true,
        name: Some("node-b".into()),
    };
    assert_eq!(
        code(p.check(Role::Peer, None, Some(&cert))),
        Some(Code::Unauthenticated)
    );
    let p = p.peer_certificates(true);
    assert_eq!(code(p.check(Role::Peer, None, Some(&cert))), None);
    assert_eq!(code(p.check(Role::Client, None, Some(&cert))), None);
    // A certificate of the CA not on the allow-list is a client's: Get
    // yes, Fetch no (PERMISSION_DENIED), unless it also has a peer token.
    let client_cert = ClientCertificate {
        peer: false,
        name: None,
    };
    assert_eq!(code(p.check(Role::Client, None, Some(&client_cert))), None);
    assert_eq!(
        code(p.check(Role::Peer, None, Some(&client_cert))),
        Some(Code::PermissionDenied)
    );
    assert_eq!(
        code(p.check(Role::Peer, Some(b"peer-x"), Some(&client_cert))),
        None
    );
}

/// No tokens: everything passes. Client tokens without a way for peers to
/// prove themselves cannot work.
#[test]
fn open_and_invalid_policies() {
    let p = AuthPolicy::open();
    assert!(p.is_open());
    assert_eq!(code(p.check(Role::Peer, None, None)), None);
    let only_clients = AuthPolicy::open().client_tokens(Tokens::from_text("c").unwrap());
    assert!(only_clients.validate().is_err());
    assert!(
        only_clients
            .clone()
            .peer_certificates(true)
            .validate()
            .is_ok()
    );
    assert!(policy().validate().is_ok());
    // Peer tokens alone gate Fetch only.
    let peers_only = AuthPolicy::open().peer_tokens(Tokens::from_text("p").unwrap());
    assert_eq!(code(peers_only.check(Role::Client, None, None)), None);
    assert_eq!(
        code(peers_only.check(Role::Peer, None, None)),
        Some(Code::Unauthenticated)
    );
}

/// A client port of a node with a peer port refuses peer RPCs whatever
/// the credential, and serves the rest as before.
#[test]
fn peers_elsewhere() {
    let p = AuthPolicy::open().peers_elsewhere(true);
    assert!(!p.is_open());
    assert_eq!(
        code(p.check(Role::Peer, None, None)),
        Some(Code::PermissionDenied)
    );
    assert_eq!(code(p.check(Role::Client, None, None)), None);
    let p = policy().peers_elsewhere(true);
    assert_eq!(
        code(p.check(Role::Peer, Some(b"peer-x"), None)),
        Some(Code::PermissionDenied)
    );
    assert_eq!(code(p.check(Role::Client, Some(b"client-a"), None)), None);
}

/// Remove and Set are the admin's: open while no credential is configured
/// at all; then an admin token or a peer's credential passes, a client's
/// is PERMISSION_DENIED, nothing UNAUTHENTICATED. The peer-side halves of
/// the mesh's mutations are peer-only; an admin token passes as a client's.
#[test]
fn mutations_need_an_admin_or_a_peer() {
    let open = AuthPolicy::open();
    assert_eq!(open.role("/groupcache.v1.Groupcache/Remove"), Role::Admin);
    assert_eq!(open.role("/groupcache.v1.Groupcache/Set"), Role::Admin);
    assert_eq!(
        open.role("/groupcache.v1.Groupcache/Invalidate"),
        Role::Peer
    );
    assert_eq!(open.role("/groupcache.v1.Groupcache/Store"), Role::Peer);
    assert_eq!(code(open.check(Role::Admin, None, None)), None);

    let p = policy().admin_tokens(Tokens::from_text("admin-1").unwrap());
    assert_eq!(code(p.check(Role::Admin, Some(b"admin-1"), None)), None);
    assert_eq!(code(p.check(Role::Admin, Some(b"peer-x"), None)), None);
    assert_eq!(
        code(p.check(Role::Admin, Some(b"client-a"), None)),
        Some(Code::PermissionDenied)
    );
    assert_eq!(
        code(p.check(Role::Admin, None, None)),
        Some(Code::Unauthenticated)
    );
    assert_eq!(code(p.check(Role::Client, Some(b"admin-1"), None)), None);
    assert_eq!(
        code(p.check(Role::Peer, Some(b"admin-1"), None)),
        Some(Code::PermissionDenied)
    );

    // Peer tokens only (clients open): a mutation still needs a credential.
    let peers_only = AuthPolicy::open().peer_tokens(Tokens::from_text("peer-x").unwrap());
    assert_eq!(
        code(peers_only.check(Role::Admin, None, None)),
        Some(Code::Unauthenticated)
    );
    assert_eq!(code(peers_only.check(Role::Client, None, None)), None);
}
