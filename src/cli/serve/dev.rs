//! `serve --dev SETTING,...`: the stock settings our changes are measured
//! against, for the benchmark suite and A/B runs; hidden from `--help`.
//!
//! Each turns one of the node's own changes back to what stock tonic (or
//! the earlier promotion rule) does; the answers stay the same. Nothing a
//! production node needs is here: every setting only costs CPU or hit
//! ratio. `stock` is all of them at once (the suite's
//! `rust-groupcache-stock`, with `--threads 0`).

use clap::ValueEnum;

/// One developer setting of `--dev`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DevSetting {
    /// Serve through hyper's HTTP/2 server, as tonic's server runs it (a
    /// task per request, a `date` header), instead of our own driver.
    HyperTransport,
    /// Answer `Get` and `Fetch` through tonic's generic codec instead of
    /// the unary codec.
    TonicCodec,
    /// Write every answer to clients and peers with its own system call
    /// instead of gathering what is ready into one write.
    NoServerCoalescing,
    /// Write every fetch to a peer with its own system call.
    NoPeerCoalescing,
    /// Promote to the hot cache only the busiest tenth of fetched keys,
    /// even while the hot cache has free room (the rule before filling).
    BusyOnlyPromotion,
    /// All of the above.
    Stock,
}

/// The `--dev` settings in force.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DevSettings {
    /// [`DevSetting::HyperTransport`].
    pub hyper_transport: bool,
    /// [`DevSetting::TonicCodec`].
    pub tonic_codec: bool,
    /// [`DevSetting::NoServerCoalescing`].
    pub no_server_coalescing: bool,
    /// [`DevSetting::NoPeerCoalescing`].
    pub no_peer_coalescing: bool,
    /// [`DevSetting::BusyOnlyPromotion`].
    pub busy_only_promotion: bool,
}

impl DevSettings {
    /// The settings a `--dev` list names.
    pub fn from_list(list: &[DevSetting]) -> Self {
        let mut s = DevSettings::default();
        for setting in list {
            let all = *setting == DevSetting::Stock;
            s.hyper_transport |= all || *setting == DevSetting::HyperTransport;
            s.tonic_codec |= all || *setting == DevSetting::TonicCodec;
            s.no_server_coalescing |= all || *setting == DevSetting::NoServerCoalescing;
            s.no_peer_coalescing |= all || *setting == DevSetting::NoPeerCoalescing;
            s.busy_only_promotion |= all || *setting == DevSetting::BusyOnlyPromotion;
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `stock` turns everything on; single settings only themselves.
    #[test]
    fn settings_from_the_list() {
        assert_eq!(DevSettings::from_list(&[]), DevSettings::default());
        let stock = DevSettings::from_list(&[DevSetting::Stock]);
        assert!(stock.hyper_transport && stock.tonic_codec && stock.busy_only_promotion);
        assert!(stock.no_server_coalescing && stock.no_peer_coalescing);
        let one = DevSettings::from_list(&[DevSetting::NoPeerCoalescing]);
        assert_eq!(
            one,
            DevSettings {
                no_peer_coalescing: true,
                ..DevSettings::default()
            }
        );
    }
}
