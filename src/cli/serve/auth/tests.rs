//! Unit tier: token sources, the peer-token requirement, the exposure check.

use std::collections::HashMap;

use clap::Parser;

use super::*;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    auth: AuthArgs,
}

fn args(list: &[&str]) -> AuthArgs {
    Cli::try_parse_from(std::iter::once("serve").chain(list.iter().copied()))
        .unwrap()
        .auth
}

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |k| map.get(k).cloned()
}

/// Tokens come from files or from the variables; never from a flag's
/// value itself. Client tokens alone are refused.
#[test]
fn token_sources() {
    let none = args(&[]).tokens(&env(&[])).unwrap();
    assert!(none.clients.is_none() && none.peers.is_none());

    let both = args(&[])
        .tokens(&env(&[(CLIENT_TOKENS_VAR, "a,b"), (PEER_TOKENS_VAR, "p")]))
        .unwrap();
    assert!(both.clients.as_ref().unwrap().contains(b"b"));
    assert!(both.peers.as_ref().unwrap().contains(b"p"));

    let err = args(&[])
        .tokens(&env(&[(CLIENT_TOKENS_VAR, "a")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("--peer-token-file"), "{err}");

    let err = args(&["--auth-token-file", "/nonexistent/tokens"])
        .tokens(&env(&[(PEER_TOKENS_VAR, "p")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot read the token file /nonexistent/tokens"),
        "{err}"
    );
}

/// A non-loopback listen address needs client tokens, TLS or --insecure.
#[test]
fn exposure() {
    let open = NodeTokens::default();
    let wide: SocketAddr = "0.0.0.0:7001".parse().unwrap();
    let local: SocketAddr = "127.0.0.1:7001".parse().unwrap();
    assert!(args(&[]).check_exposure(local, &open, false).is_ok());
    let err = args(&[])
        .check_exposure(wide, &open, false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--auth-token-file")
            && err.contains("--tls-cert")
            && err.contains("--insecure"),
        "{err}"
    );
    assert!(
        args(&["--insecure"])
            .check_exposure(wide, &open, false)
            .is_ok()
    );
    assert!(args(&[]).check_exposure(wide, &open, true).is_ok());
    let tokens = args(&[])
        .tokens(&env(&[(CLIENT_TOKENS_VAR, "a"), (PEER_TOKENS_VAR, "p")]))
        .unwrap();
    assert!(args(&[]).check_exposure(wide, &tokens, false).is_ok());
}
