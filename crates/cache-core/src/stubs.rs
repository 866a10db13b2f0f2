//! TEMPORARY stand-ins for modules other helpers are writing (stores, ring);
//! deleted when their branches are merged.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::collections::HashMap;

use parking_lot::Mutex;
use tokio::time::Instant;

use crate::CacheStats;
use crate::promotion::{PromotionInput, PromotionPolicy};
use crate::store::{CacheKind, Entry, Store, entry_size};

#[derive(Default)]
pub struct MapStore {
    budget: u64,
    maps: Mutex<[(HashMap<String, Entry>, CacheStats); 2]>,
}

impl MapStore {
    pub fn new(budget: u64, _hot: f64) -> Self {
        MapStore {
            budget,
            ..Default::default()
        }
    }
}

fn idx(k: CacheKind) -> usize {
    match k {
        CacheKind::Main => 0,
        CacheKind::Hot => 1,
    }
}

impl Store for MapStore {
    fn get(&self, kind: CacheKind, key: &str, now: Instant) -> Option<Entry> {
        let mut m = self.maps.lock();
        let (map, st) = &mut m[idx(kind)];
        st.gets += 1;
        let e = map.get(key).filter(|e| !e.is_expired(now)).cloned();
        if e.is_some() {
            st.hits += 1;
        }
        e
    }
    fn insert(&self, kind: CacheKind, key: &str, entry: Entry) {
        let mut m = self.maps.lock();
        let (map, st) = &mut m[idx(kind)];
        st.bytes += entry_size(key, entry.data.len());
        st.items += 1;
        if let Some(old) = map.insert(key.to_owned(), entry) {
            st.bytes -= entry_size(key, old.data.len());
            st.items -= 1;
        }
    }
    fn remove(&self, key: &str) -> bool {
        let mut m = self.maps.lock();
        let mut any = false;
        for (map, st) in m.iter_mut() {
            if let Some(old) = map.remove(key) {
                st.bytes -= entry_size(key, old.data.len());
                st.items -= 1;
                any = true;
            }
        }
        any
    }
    fn stats(&self, kind: CacheKind) -> CacheStats {
        self.maps.lock()[idx(kind)].1
    }
    fn budget(&self) -> u64 {
        self.budget
    }
}

pub type LruStore = MapStore;
pub type MokaStore = MapStore;

#[derive(Default)]
pub struct QpsThreshold;
impl PromotionPolicy for QpsThreshold {
    fn should_promote(&self, input: &PromotionInput<'_>) -> bool {
        input.owner_qps.is_some_and(|q| q >= 1.0)
    }
}

#[derive(Default)]
pub struct KeyRates;
impl KeyRates {
    pub fn record(&self, _key: &str, _now: Instant) -> f64 {
        0.0
    }
}
