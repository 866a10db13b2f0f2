//! `file:PATH`: peers from a file a deploy tool writes, one per line.
//!
//! The file is re-read every [`CHECK_EVERY`] and answers again only when
//! its contents changed, so it does not matter how it is replaced (written
//! in place, renamed over, a Kubernetes ConfigMap's symlink swap). Blank
//! lines and `#` comments are ignored; entries may also be separated by
//! commas or spaces.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

use super::DiscoveryOptions;
use crate::Error;

/// How often the file is re-read.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// A file discovery source.
#[derive(Debug)]
pub struct FileSource {
    path: PathBuf,
    /// What the last answer was made of (`Err`: the last read's error), so
    /// an unchanged file is not answered again.
    last: Option<Result<Vec<String>, String>>,
    /// When to read next; `None` before the first answer. Kept here so a
    /// cancelled `next` does not restart the wait.
    due: Option<Instant>,
}

impl FileSource {
    /// A source reading `path`.
    pub fn new(path: &Path, opts: &DiscoveryOptions) -> FileSource {
        let _ = opts;
        FileSource {
            path: path.to_owned(),
            last: None,
            due: None,
        }
    }

    /// See [`super::Discovery::next`]: the first call reads at once, later
    /// ones when the file's contents (or the error reading it) changed.
    pub async fn next(&mut self) -> Result<Vec<String>, Error> {
        loop {
            if let Some(due) = self.due {
                tokio::time::sleep_until(due).await;
            }
            self.due = Some(Instant::now() + CHECK_EVERY);
            let read = tokio::fs::read_to_string(&self.path)
                .await
                .map(|text| parse(&text))
                .map_err(|e| format!("cannot read {}: {e}", self.path.display()));
            if self.last.as_ref() == Some(&read) {
                continue;
            }
            self.last = Some(read.clone());
            return read.map_err(Error::Discovery);
        }
    }
}

/// The entries of a peers file.
pub fn parse(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .flat_map(|line| line.split([',', ' ', '\t']))
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_one_peer_per_line_without_comments() {
        let text = "# the mesh\n10.0.0.1:7001\n\n  10.0.0.2:7001  # rack b\nhttp://10.0.0.3:7001, 10.0.0.4:7001\n";
        assert_eq!(
            parse(text),
            [
                "10.0.0.1:7001",
                "10.0.0.2:7001",
                "http://10.0.0.3:7001",
                "10.0.0.4:7001"
            ]
        );
        assert!(parse("# nobody\n\n").is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn answers_at_once_then_only_on_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peers");
        std::fs::write(&path, "127.0.0.1:1\n").unwrap();
        let mut source = FileSource::new(&path, &DiscoveryOptions::new("127.0.0.1:1"));
        assert_eq!(source.next().await.unwrap(), ["127.0.0.1:1"]);
        // Unchanged: no answer for many checks.
        let quiet = tokio::time::timeout(CHECK_EVERY * 5, source.next()).await;
        assert!(quiet.is_err(), "answered an unchanged file: {quiet:?}");
        // Replaced by a rename, as deploy tools do.
        let tmp = dir.path().join("peers.tmp");
        std::fs::write(&tmp, "127.0.0.1:1\n127.0.0.1:2\n").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        let changed = tokio::time::timeout(CHECK_EVERY * 3, source.next()).await;
        assert_eq!(changed.unwrap().unwrap(), ["127.0.0.1:1", "127.0.0.1:2"]);
        // Removed: an error, once.
        std::fs::remove_file(&path).unwrap();
        let gone = tokio::time::timeout(CHECK_EVERY * 3, source.next()).await;
        let err = gone.unwrap().unwrap_err().to_string();
        assert!(err.contains("cannot read"), "{err}");
        let quiet = tokio::time::timeout(CHECK_EVERY * 5, source.next()).await;
        assert!(quiet.is_err(), "the same error twice: {quiet:?}");
    }
}
