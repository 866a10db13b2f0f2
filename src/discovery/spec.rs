//! `--discovery SPEC`: where a node's peer set comes from, parsed.

use std::fmt;
use std::path::PathBuf;

use crate::Error;

/// A parsed `--discovery` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoverySpec {
    /// `file:PATH`: one peer per line (`#` comments and blank lines
    /// ignored), watched for changes.
    File(PathBuf),
    /// `dns:NAME:PORT`: the A and AAAA records of `NAME`, each at `PORT`,
    /// re-resolved periodically (a Kubernetes headless Service, Consul DNS).
    Dns {
        /// The name resolved.
        name: String,
        /// The port every address serves peers on.
        port: u16,
    },
    /// `dns+srv:NAME`: the SRV records of `NAME` (host and port from each
    /// record), re-resolved periodically.
    DnsSrv {
        /// The SRV name, e.g. `_peers._tcp.groupcache.default.svc.cluster.local`.
        name: String,
    },
    /// `etcd:http://HOST:PORT[,http://HOST:PORT...]/PREFIX`: each node
    /// registers itself under `PREFIX` with a lease it keeps alive, and
    /// watches the prefix.
    Etcd {
        /// The etcd client URLs (`http://` or `https://`), tried in order.
        endpoints: Vec<String>,
        /// The key prefix, starting and ending with `/`.
        prefix: String,
    },
}

impl DiscoverySpec {
    /// Parses `file:PATH`, `dns:NAME:PORT`, `dns+srv:NAME` or
    /// `etcd:URL[,URL...]/PREFIX`.
    pub fn parse(spec: &str) -> Result<DiscoverySpec, Error> {
        let bad = |why: &str| {
            Error::config(format!(
                "--discovery {spec:?}: {why} (expected file:PATH, dns:NAME:PORT, dns+srv:NAME \
                 or etcd:http://HOST:PORT/PREFIX)"
            ))
        };
        if let Some(path) = spec.strip_prefix("file:") {
            if path.is_empty() {
                return Err(bad("the file path is empty"));
            }
            return Ok(DiscoverySpec::File(PathBuf::from(path)));
        }
        if let Some(rest) = spec.strip_prefix("dns+srv:") {
            let name = rest.trim_end_matches('.');
            check_dns_name(name).map_err(|why| bad(&why))?;
            return Ok(DiscoverySpec::DnsSrv {
                name: name.to_owned(),
            });
        }
        if let Some(rest) = spec.strip_prefix("dns:") {
            let (name, port) = rest
                .rsplit_once(':')
                .ok_or_else(|| bad("the port is missing"))?;
            let port: u16 = port
                .parse()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad("the port must be a number from 1 to 65535"))?;
            let name = name.trim_end_matches('.');
            check_dns_name(name).map_err(|why| bad(&why))?;
            return Ok(DiscoverySpec::Dns {
                name: name.to_owned(),
                port,
            });
        }
        if let Some(rest) = spec.strip_prefix("etcd:") {
            return parse_etcd(rest).map_err(|why| bad(&why));
        }
        Err(bad("unknown kind"))
    }
}

impl fmt::Display for DiscoverySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiscoverySpec::File(path) => write!(f, "file:{}", path.display()),
            DiscoverySpec::Dns { name, port } => write!(f, "dns:{name}:{port}"),
            DiscoverySpec::DnsSrv { name } => write!(f, "dns+srv:{name}"),
            DiscoverySpec::Etcd { endpoints, prefix } => {
                write!(f, "etcd:{}{prefix}", endpoints.join(","))
            }
        }
    }
}

/// A host name as DNS takes it: labels of letters, digits, `-` and `_`
/// (SRV names start with `_service._proto`), at most 253 bytes.
fn check_dns_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the name is empty".into());
    }
    if name.len() > 253 {
        return Err("the name is longer than 253 bytes".into());
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("{label:?} is not a DNS label"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!("{label:?} is not a DNS label"));
        }
    }
    Ok(())
}

/// `http://h:p[,http://h:p...]/prefix`: the prefix is the path of the last
/// URL, normalised to start and end with `/`.
fn parse_etcd(rest: &str) -> Result<DiscoverySpec, String> {
    let mut endpoints = Vec::new();
    let mut prefix = None;
    let urls: Vec<&str> = rest.split(',').collect();
    for (i, url) in urls.iter().enumerate() {
        let (scheme, after) = url
            .split_once("://")
            .ok_or_else(|| format!("{url:?} is not an http:// or https:// URL"))?;
        if scheme != "http" && scheme != "https" {
            return Err(format!("{url:?} is not an http:// or https:// URL"));
        }
        let (authority, path) = match after.find('/') {
            Some(at) => (&after[..at], &after[at..]),
            None => (after, ""),
        };
        if authority.is_empty() {
            return Err(format!("{url:?} has no host"));
        }
        let last = i + 1 == urls.len();
        if !last && !path.is_empty() && path != "/" {
            return Err("only the last URL may carry the key prefix".into());
        }
        if last {
            prefix = Some(path);
        }
        endpoints.push(format!("{scheme}://{authority}"));
    }
    let path = prefix.unwrap_or("").trim_matches('/');
    if path.is_empty() {
        return Err("the key prefix is missing (etcd:http://HOST:PORT/PREFIX)".into());
    }
    Ok(DiscoverySpec::Etcd {
        endpoints,
        prefix: format!("/{path}/"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind() {
        assert_eq!(
            DiscoverySpec::parse("file:/etc/groupcache/peers").unwrap(),
            DiscoverySpec::File("/etc/groupcache/peers".into())
        );
        assert_eq!(
            DiscoverySpec::parse("dns:groupcache.default.svc.cluster.local.:7001").unwrap(),
            DiscoverySpec::Dns {
                name: "groupcache.default.svc.cluster.local".into(),
                port: 7001
            }
        );
        assert_eq!(
            DiscoverySpec::parse("dns+srv:_peers._tcp.groupcache.service.consul").unwrap(),
            DiscoverySpec::DnsSrv {
                name: "_peers._tcp.groupcache.service.consul".into()
            }
        );
        let etcd = DiscoverySpec::parse("etcd:http://127.0.0.1:2379,http://127.0.0.2:2379/gc/mesh")
            .unwrap();
        assert_eq!(
            etcd,
            DiscoverySpec::Etcd {
                endpoints: vec![
                    "http://127.0.0.1:2379".into(),
                    "http://127.0.0.2:2379".into()
                ],
                prefix: "/gc/mesh/".into()
            }
        );
        assert_eq!(
            etcd.to_string(),
            "etcd:http://127.0.0.1:2379,http://127.0.0.2:2379/gc/mesh/"
        );
    }

    #[test]
    fn refuses_bad_specs_saying_why() {
        for (spec, why) in [
            ("consul:x", "unknown kind"),
            ("file:", "path is empty"),
            ("dns:name", "port is missing"),
            ("dns:name:0", "port must be"),
            ("dns:name:http", "port must be"),
            ("dns:bad name:7001", "not a DNS label"),
            ("dns:a..b:7001", "not a DNS label"),
            ("dns+srv:", "name is empty"),
            ("etcd:127.0.0.1:2379/p", "not an http"),
            ("etcd:ftp://h:1/p", "not an http"),
            ("etcd:http://127.0.0.1:2379", "prefix is missing"),
            ("etcd:http://127.0.0.1:2379/", "prefix is missing"),
            ("etcd:http://a:1/p,http://b:1/q", "only the last URL"),
            ("etcd:http:///p", "has no host"),
        ] {
            let err = DiscoverySpec::parse(spec).unwrap_err().to_string();
            assert!(err.contains(why), "{spec}: {err}");
            assert!(err.contains("--discovery"), "{spec}: {err}");
        }
    }
}
