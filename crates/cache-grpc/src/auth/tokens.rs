//! [`Tokens`]: a set of bearer tokens that can be reloaded while the node
//! runs, compared in constant time, and never printed.
//!
//! A file holds one token per line (blank lines and `#` comments skipped);
//! several at once allow rotation: add the new token, move the clients
//! over, remove the old one. [`Tokens::reload`] rereads the file and swaps
//! the set in at once; requests in flight keep the set they were checked
//! against. A reload that fails (file gone, empty) keeps the old set.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;
use subtle::ConstantTimeEq;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};

use crate::Error;

/// One token: its bytes and its `authorization` header value.
#[derive(Clone)]
struct Token {
    secret: Box<[u8]>,
    header: AsciiMetadataValue,
}

/// A reloadable set of bearer tokens; see the [`auth`](crate::auth) module. Cheap
/// to clone (clones share the set).
#[derive(Clone)]
pub struct Tokens {
    set: Arc<RwLock<Arc<[Token]>>>,
    /// The file they come from (`None`: given directly).
    file: Option<PathBuf>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the tokens themselves.
        f.debug_struct("Tokens")
            .field("count", &self.set.read().len())
            .field("file", &self.file)
            .finish()
    }
}

/// The tokens of `text`: one per line, trimmed, blank lines and `#`
/// comments skipped. Each must be a valid header value (visible ASCII).
fn parse(text: &str, origin: &str) -> Result<Arc<[Token]>, Error> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let token = line.trim();
        if token.is_empty() || token.starts_with('#') {
            continue;
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::Config(format!(
                "{origin}:{}: a token must be visible ASCII without spaces",
                i + 1
            )));
        }
        let header = MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|_| Error::Config(format!("{origin}:{}: not a valid header value", i + 1)))?;
        out.push(Token {
            secret: token.as_bytes().into(),
            header,
        });
    }
    if out.is_empty() {
        return Err(Error::Config(format!("{origin}: no token in it")));
    }
    Ok(out.into())
}

impl Tokens {
    /// The tokens of `file`; an error if it cannot be read or holds none.
    pub fn from_file(file: impl AsRef<Path>) -> Result<Tokens, Error> {
        let file = file.as_ref().to_path_buf();
        let set = Self::read(&file)?;
        Ok(Tokens {
            set: Arc::new(RwLock::new(set)),
            file: Some(file),
        })
    }

    /// The tokens of `text` (one per line, as in a file), for an
    /// environment variable or a test.
    pub fn from_text(text: &str) -> Result<Tokens, Error> {
        Ok(Tokens {
            set: Arc::new(RwLock::new(parse(text, "tokens")?)),
            file: None,
        })
    }

    fn read(file: &Path) -> Result<Arc<[Token]>, Error> {
        let text = std::fs::read_to_string(file).map_err(|e| {
            Error::Config(format!(
                "cannot read the token file {}: {e}",
                file.display()
            ))
        })?;
        parse(&text, &file.display().to_string())
    }

    /// Rereads the file (a set given as text stays as it is); returns how
    /// many tokens are in force. On an error the old set stays.
    pub fn reload(&self) -> Result<usize, Error> {
        let Some(file) = &self.file else {
            return Ok(self.set.read().len());
        };
        let set = Self::read(file)?;
        let n = set.len();
        *self.set.write() = set;
        Ok(n)
    }

    /// The file the tokens come from, if any.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Whether `presented` is one of the tokens. Every token is compared,
    /// each in constant time, so the time taken says nothing about which
    /// token, or how much of one, matched.
    pub fn contains(&self, presented: &[u8]) -> bool {
        let set = self.set.read().clone();
        let mut found = subtle::Choice::from(0u8);
        for t in set.iter() {
            found |= t.secret.as_ref().ct_eq(presented);
        }
        found.into()
    }

    /// The `authorization` value to send: `Bearer` and the first token.
    pub fn header(&self) -> AsciiMetadataValue {
        self.set.read()[0].header.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines, comments, several tokens; Debug never shows them.
    #[test]
    fn parse_and_match() {
        let t = Tokens::from_text("# rotation\nold-token\n\n  new-token  \n").unwrap();
        assert!(t.contains(b"old-token"));
        assert!(t.contains(b"new-token"));
        assert!(!t.contains(b"new-toke"));
        assert!(!t.contains(b""));
        assert_eq!(t.header().to_str().unwrap(), "Bearer old-token");
        let debug = format!("{t:?}");
        assert!(!debug.contains("token\""), "{debug}");
        assert!(!debug.contains("old-token"), "{debug}");
    }

    /// Empty files and bad bytes are refused, naming the line.
    #[test]
    fn bad_token_files() {
        assert!(Tokens::from_text("# nothing\n").is_err());
        let err = Tokens::from_text("ok\nwith space\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains(":2:"), "{err}");
    }

    /// A reload swaps the set; a failed one keeps the old set.
    #[test]
    fn reload_swaps_or_keeps() {
        let dir = std::env::temp_dir().join(format!("gc-tokens-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("tokens");
        std::fs::write(&file, "one\n").unwrap();
        let t = Tokens::from_file(&file).unwrap();
        assert!(t.contains(b"one"));
        std::fs::write(&file, "two\nthree\n").unwrap();
        assert_eq!(t.reload().unwrap(), 2);
        assert!(!t.contains(b"one") && t.contains(b"three"));
        std::fs::write(&file, "\n").unwrap();
        assert!(t.reload().is_err());
        assert!(t.contains(b"two"), "the old set stays");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
