//! `dir:PATH`: key -> the file at `PATH/key`, never outside `PATH`.

use std::io;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use cache_core::{Error as CoreError, Getter, LoadContext, Loaded};
use tokio::io::AsyncReadExt;

use crate::Error;
use crate::source::bounded;

/// A [`Getter`] serving the files under one directory.
///
/// Keys are relative paths with `/` separators. A key can never reach a file
/// outside the root:
/// - keys that are absolute, contain `..` or `.` components, empty
///   components, a backslash or a NUL byte are refused with
///   [`CoreError::InvalidKey`] before touching the file system;
/// - the path is then resolved (symlinks followed) and must still lie under
///   the resolved root, or the answer is [`CoreError::NotFound`] (the file is
///   never read, and nothing says where the link leads).
///
/// A missing file or a directory is `NotFound`; a file larger than the
/// maximum value size is a source failure (it could not be served anyway).
/// A load stops, [`CoreError::DeadlineExceeded`], when its deadline passes
/// or it is cancelled ([`LoadContext::cancellation`]: nobody waits for the
/// value); a file operation already running on tokio's blocking pool
/// finishes there, unseen.
#[derive(Debug, Clone)]
pub struct DirSource {
    /// The canonical (symlink-free, absolute) root, resolved once at start.
    root: PathBuf,
    /// Files above this many bytes are refused.
    max_value_bytes: u64,
}

impl DirSource {
    /// A source over `root`, which must exist and be a directory.
    pub fn new(root: &Path, max_value_bytes: u64) -> Result<Self, Error> {
        let canonical = std::fs::canonicalize(root)
            .map_err(|e| Error::config(format!("dir source {}: {e}", root.display())))?;
        if !canonical.is_dir() {
            return Err(Error::config(format!(
                "dir source {}: not a directory",
                root.display()
            )));
        }
        Ok(DirSource {
            root: canonical,
            max_value_bytes,
        })
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// Checks that `key` is a plain relative path, before any file system access.
fn check_key(key: &str) -> Result<(), CoreError> {
    if key.is_empty() {
        return Err(CoreError::InvalidKey("empty key"));
    }
    if key.contains('\0') {
        return Err(CoreError::InvalidKey("key contains a NUL byte"));
    }
    if key.contains('\\') {
        return Err(CoreError::InvalidKey("key contains a backslash"));
    }
    if key.starts_with('/') {
        return Err(CoreError::InvalidKey("key is an absolute path"));
    }
    for part in key.split('/') {
        match part {
            "" => return Err(CoreError::InvalidKey("key has an empty path component")),
            "." | ".." => {
                return Err(CoreError::InvalidKey("key has a . or .. path component"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Maps a file system error to NotFound or a source failure. A name the
/// file system cannot hold (too long) names no file: NotFound, not a
/// failure of the source.
fn io_error(key: &str, e: io::Error) -> CoreError {
    match e.kind() {
        io::ErrorKind::NotFound
        | io::ErrorKind::NotADirectory
        | io::ErrorKind::IsADirectory
        | io::ErrorKind::InvalidFilename => CoreError::NotFound,
        _ => CoreError::source_failed(format!("reading {key:?}: {e}")),
    }
}

#[async_trait]
impl Getter for DirSource {
    async fn get(&self, key: &str, ctx: &LoadContext) -> Result<Loaded, CoreError> {
        check_key(key)?;
        bounded(ctx, self.read(key)).await
    }
}

impl DirSource {
    /// Reads the file of `key` (a key already checked).
    async fn read(&self, key: &str) -> Result<Loaded, CoreError> {
        let path = tokio::fs::canonicalize(self.root.join(key))
            .await
            .map_err(|e| io_error(key, e))?;
        if !path.starts_with(&self.root) {
            // A symlink leads out of the root: answer as if absent.
            tracing::warn!(key, "dir source: key resolves outside the root; refused");
            return Err(CoreError::NotFound);
        }
        // Open the resolved path, so the file checked is the file read.
        let mut file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| io_error(key, e))?;
        let meta = file.metadata().await.map_err(|e| io_error(key, e))?;
        if !meta.is_file() {
            return Err(CoreError::NotFound);
        }
        if meta.len() > self.max_value_bytes {
            return Err(CoreError::source_failed(format!(
                "file {key:?} is {} bytes, over the maximum value size of {} bytes",
                meta.len(),
                self.max_value_bytes
            )));
        }
        // Read at most one byte past the limit, in case the file grew.
        let mut buf = Vec::with_capacity(meta.len() as usize);
        (&mut file)
            .take(self.max_value_bytes + 1)
            .read_to_end(&mut buf)
            .await
            .map_err(|e| io_error(key, e))?;
        if buf.len() as u64 > self.max_value_bytes {
            return Err(CoreError::source_failed(format!(
                "file {key:?} grew over the maximum value size of {} bytes",
                self.max_value_bytes
            )));
        }
        Ok(Loaded::new(Bytes::from(buf)))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            let path = std::env::temp_dir()
                .join(format!("groupcache-dir-test-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).unwrap();
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    async fn get(src: &DirSource, key: &str) -> Result<Bytes, CoreError> {
        src.get(key, &LoadContext::new()).await.map(|l| l.value)
    }

    /// Files (also in subdirectories) are served; missing files and
    /// directories are NotFound.
    #[tokio::test]
    async fn serves_files_under_root() {
        let tmp = TempDir::new("serve");
        let root = tmp.0.join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("a.txt"), b"alpha").unwrap();
        std::fs::write(root.join("sub/b.txt"), b"beta").unwrap();
        let src = DirSource::new(&root, 1024).unwrap();
        assert_eq!(get(&src, "a.txt").await.unwrap(), "alpha");
        assert_eq!(get(&src, "sub/b.txt").await.unwrap(), "beta");
        assert_eq!(get(&src, "nope").await, Err(CoreError::NotFound));
        assert_eq!(get(&src, "sub").await, Err(CoreError::NotFound));
        assert_eq!(get(&src, "a.txt/x").await, Err(CoreError::NotFound));
        // Longer than any file name the file system can hold (255 bytes).
        assert_eq!(get(&src, &"n".repeat(300)).await, Err(CoreError::NotFound));
    }

    /// Every traversal trick is refused, and never yields the secret file
    /// next to the root.
    #[tokio::test]
    async fn refuses_traversal() {
        let tmp = TempDir::new("traversal");
        let root = tmp.0.join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(tmp.0.join("secret"), b"SECRET").unwrap();
        std::fs::write(root.join("ok"), b"ok").unwrap();
        let src = DirSource::new(&root, 1024).unwrap();
        let secret_abs = tmp.0.join("secret").display().to_string();
        for key in [
            "../secret",
            "sub/../../secret",
            "./ok",
            "sub/./../ok",
            "..",
            "/etc/passwd",
            secret_abs.as_str(),
            "..\\secret",
            "sub\\..\\..\\secret",
            "ok\0",
            "sub//ok",
            "",
            "sub/",
        ] {
            let got = get(&src, key).await;
            assert!(
                matches!(got, Err(CoreError::InvalidKey(_))),
                "{key:?} gave {got:?}"
            );
        }
    }

    /// A symlink leading out of the root is NotFound; one staying inside
    /// is followed.
    #[tokio::test]
    async fn symlinks_out_are_refused() {
        let tmp = TempDir::new("symlink");
        let root = tmp.0.join("root");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(tmp.0.join("outside")).unwrap();
        std::fs::write(tmp.0.join("outside/secret"), b"SECRET").unwrap();
        std::fs::write(root.join("real"), b"real").unwrap();
        std::os::unix::fs::symlink(tmp.0.join("outside/secret"), root.join("leak")).unwrap();
        std::os::unix::fs::symlink(tmp.0.join("outside"), root.join("dirleak")).unwrap();
        std::os::unix::fs::symlink("real", root.join("alias")).unwrap();
        let src = DirSource::new(&root, 1024).unwrap();
        assert_eq!(get(&src, "leak").await, Err(CoreError::NotFound));
        assert_eq!(get(&src, "dirleak/secret").await, Err(CoreError::NotFound));
        assert_eq!(get(&src, "alias").await.unwrap(), "real");
    }

    /// A file over the maximum value size is a source failure; one at the
    /// limit is served.
    #[tokio::test]
    async fn oversized_file_fails() {
        let tmp = TempDir::new("size");
        std::fs::write(tmp.0.join("big"), vec![7u8; 11]).unwrap();
        std::fs::write(tmp.0.join("fits"), vec![7u8; 10]).unwrap();
        let src = DirSource::new(&tmp.0, 10).unwrap();
        assert!(matches!(
            get(&src, "big").await,
            Err(CoreError::SourceFailed(_))
        ));
        assert_eq!(get(&src, "fits").await.unwrap().len(), 10);
    }

    /// A cancelled load, or one past its deadline, does not read the file.
    #[tokio::test]
    async fn cancelled_and_expired_loads_stop() {
        let tmp = TempDir::new("cancel");
        std::fs::write(tmp.0.join("f"), b"x").unwrap();
        let src = DirSource::new(&tmp.0, 10).unwrap();
        let cancelled = LoadContext::new();
        cancelled.cancellation().cancel();
        assert_eq!(
            src.get("f", &cancelled).await,
            Err(CoreError::DeadlineExceeded)
        );
        let expired = LoadContext::with_timeout(Duration::ZERO);
        assert_eq!(
            src.get("f", &expired).await,
            Err(CoreError::DeadlineExceeded)
        );
    }

    /// A load that would never end (its file is a FIFO with no writer,
    /// whose open blocks for ever) ends as soon as it is cancelled.
    #[tokio::test]
    async fn cancelling_stops_a_load_in_progress() {
        let tmp = TempDir::new("fifo");
        let fifo = tmp.0.join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let src = DirSource::new(&tmp.0, 10).unwrap();
        let ctx = LoadContext::new();
        let token = ctx.cancellation().clone();
        let load = tokio::spawn(async move { src.get("fifo", &ctx).await });
        // One turn: the load runs until it waits for the file system.
        tokio::task::yield_now().await;
        token.cancel();
        let got = tokio::time::timeout(Duration::from_secs(5), load)
            .await
            .expect("cancelling ended the load")
            .unwrap();
        assert_eq!(got, Err(CoreError::DeadlineExceeded));
        // Release the blocking thread, if it got as far as opening the
        // FIFO: opening it for reading and writing never blocks (Linux),
        // and gives that open its writer.
        drop(
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&fifo),
        );
    }

    /// A root that does not exist or is a file is a configuration error.
    #[test]
    fn bad_root() {
        let tmp = TempDir::new("badroot");
        std::fs::write(tmp.0.join("file"), b"x").unwrap();
        assert!(DirSource::new(&tmp.0.join("missing"), 1).is_err());
        let err = DirSource::new(&tmp.0.join("file"), 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a directory"), "{err}");
    }
}
