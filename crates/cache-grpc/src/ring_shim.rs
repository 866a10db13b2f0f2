//! TEMPORARY stand-in for `cache_core::consistent_hash` until the `ring`
//! branch is merged (same signatures, naive bodies). Deleted on merge.
#![allow(missing_docs, unreachable_pub, dead_code)]

pub const DEFAULT_VNODES: usize = 50;

#[derive(Debug, Clone, Default)]
pub struct HashRing {
    peers: Vec<String>,
}

impl HashRing {
    pub fn new(_vnodes: usize) -> Self {
        HashRing::default()
    }
    pub fn set_peers<I, S>(&mut self, peers: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut ids: Vec<String> = peers.into_iter().map(|p| p.as_ref().to_owned()).collect();
        ids.sort_unstable();
        ids.dedup();
        self.peers = ids;
    }
    pub fn owner(&self, key: &str) -> Option<&str> {
        if self.peers.is_empty() {
            return None;
        }
        let h = key
            .bytes()
            .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        Some(&self.peers[(h % self.peers.len() as u64) as usize])
    }
    pub fn peers(&self) -> &[String] {
        &self.peers
    }
}

pub fn canonical_peer_id(addr: &str) -> Result<String, cache_core::Error> {
    let s = addr.trim();
    let s = s.strip_prefix("http://").unwrap_or(s);
    let s = s.strip_suffix('/').unwrap_or(s);
    match s.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok() && !s.contains("://") => {
            Ok(s.to_owned())
        }
        _ => Err(cache_core::Error::Config(format!(
            "invalid peer address {addr:?}"
        ))),
    }
}
