//! Rereading the files a node serves with (token files, TLS certificates,
//! keys and CAs) when they change and on SIGHUP, without a restart.
//!
//! Files are checked every [`RELOAD_EVERY`] by modification time (a
//! rename into place, as deploy tools and cert-manager do, counts). A
//! reload that fails keeps what was loaded before and logs why: a
//! half-written file never takes a node's credentials away.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// How often watched files are checked for changes.
pub const RELOAD_EVERY: Duration = Duration::from_secs(2);

/// One thing loaded from files.
pub struct Watched {
    /// What it is, for the log ("client tokens", "TLS certificate").
    pub what: &'static str,
    /// Its files: a change to any reloads it.
    pub files: Vec<PathBuf>,
    /// Reads the files again; `Ok` with a word for the log.
    pub reload: Box<dyn Fn() -> Result<String, String> + Send + Sync>,
}

impl std::fmt::Debug for Watched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watched")
            .field("what", &self.what)
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

fn modified(files: &[PathBuf]) -> Vec<Option<SystemTime>> {
    files
        .iter()
        .map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok())
        .collect()
}

/// Reloads each of `items` whose files changed, every [`RELOAD_EVERY`],
/// and all of them whenever `sighup` yields. Runs until `sighup` ends.
pub async fn reload_on_change(
    items: Vec<Watched>,
    mut sighup: impl futures::Stream<Item = ()> + Unpin,
) {
    use futures::StreamExt;
    if items.is_empty() {
        return;
    }
    let mut seen: Vec<_> = items.iter().map(|w| modified(&w.files)).collect();
    let mut tick = tokio::time::interval(RELOAD_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let forced = tokio::select! {
            _ = tick.tick() => false,
            signal = sighup.next() => match signal {
                Some(()) => true,
                None => return,
            },
        };
        for (item, last) in items.iter().zip(seen.iter_mut()) {
            let now = modified(&item.files);
            if !forced && now == *last {
                continue;
            }
            *last = now;
            let files = item
                .files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ");
            match (item.reload)() {
                Ok(done) => tracing::info!(what = item.what, %files, %done, "reloaded"),
                Err(error) => tracing::warn!(
                    what = item.what, %files, %error,
                    "not reloaded; what was loaded before stays"
                ),
            }
        }
    }
}
