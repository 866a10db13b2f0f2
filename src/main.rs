//! The `groupcache` binary (being written).

fn main() {}
