//! The database password of a `sql:` source, and keeping it (and the
//! query's text) out of every message.
//!
//! A password comes from one of, first found wins:
//! 1. the URL (`postgres://user:PASSWORD@host/db`);
//! 2. a file (`--sql-password-file NAME=PATH`: its first line);
//! 3. the environment variable `GROUPCACHE_SQL_PASSWORD_<NAME>` (the group
//!    name upper-cased, `-` and `.` as `_`);
//! 4. what the driver reads itself: for PostgreSQL `PGPASSWORD` and
//!    `~/.pgpass`.
//!
//! A URL password and a file together are refused: which one is meant?
//! [`Password`] prints as `***`; [`Redactor`] removes the password and the
//! query's text from the database's messages before they are logged or
//! returned.

use std::fmt;
use std::path::Path;

use crate::Error;

/// A password: its `Debug` shows `***`, never the text.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps `text`.
    pub fn new(text: impl Into<String>) -> Password {
        Password(text.into())
    }

    /// Reads the first line of `path` (without its line ending). An empty
    /// first line is refused: a file meant to hold a password that holds
    /// none is a mistake.
    pub fn from_file(path: &Path) -> Result<Password, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::config(format!(
                "cannot read the password file {}: {e}",
                path.display()
            ))
        })?;
        let line = text.lines().next().unwrap_or_default();
        if line.is_empty() {
            return Err(Error::config(format!(
                "the password file {} is empty",
                path.display()
            )));
        }
        Ok(Password(line.to_owned()))
    }

    /// The text, for the connection options only.
    pub(super) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// The environment variable holding the password of group `name`:
/// `GROUPCACHE_SQL_PASSWORD_<NAME>`, upper-cased, `-` and `.` as `_`.
pub fn password_variable(name: &str) -> String {
    let suffix: String = name
        .chars()
        .map(|c| match c {
            '-' | '.' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect();
    format!("GROUPCACHE_SQL_PASSWORD_{suffix}")
}

/// Removes secrets from text headed for a log or an error: the password
/// (as given and percent-encoded) and the query's text, each replaced by
/// a marker. MySQL's syntax errors quote the query from the fault on
/// (`... near 'FROM t WHERE' at line 1`): that quote is cut too.
#[derive(Clone, Default)]
pub(super) struct Redactor {
    /// (secret, what it becomes), longest first, none empty.
    secrets: Vec<(String, &'static str)>,
}

impl Redactor {
    /// A redactor of `password` (if any) and `query`.
    pub(super) fn new(password: Option<&str>, query: &str) -> Redactor {
        let mut secrets = Vec::new();
        if let Some(p) = password.filter(|p| !p.is_empty()) {
            let encoded =
                percent_encoding::utf8_percent_encode(p, percent_encoding::NON_ALPHANUMERIC)
                    .to_string();
            if encoded != p {
                secrets.push((encoded, "***"));
            }
            secrets.push((p.to_owned(), "***"));
        }
        if !query.trim().is_empty() {
            secrets.push((query.to_owned(), "<query>"));
            if query.trim() != query {
                secrets.push((query.trim().to_owned(), "<query>"));
            }
        }
        secrets.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
        Redactor { secrets }
    }

    /// `text` without the secrets.
    pub(super) fn clean(&self, text: &str) -> String {
        let mut out = match text.find(" near '") {
            Some(at) => format!("{} near <query text>", &text[..at]),
            None => text.to_owned(),
        };
        for (secret, marker) in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), marker);
            }
        }
        out
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Redactor")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The password, encoded or not, and the query's text are removed; a
    /// MySQL syntax error loses its quote of the query.
    #[test]
    fn redacts_password_and_query() {
        let r = Redactor::new(Some("p@ss word"), "SELECT v FROM t WHERE k = ?");
        let text = "login p@ss word (p%40ss%20word) failed running SELECT v FROM t WHERE k = ?";
        let clean = r.clean(text);
        assert!(!clean.contains("p@ss"), "{clean}");
        assert!(!clean.contains("p%40ss"), "{clean}");
        assert!(!clean.contains("SELECT"), "{clean}");
        assert!(
            clean.contains("***") && clean.contains("<query>"),
            "{clean}"
        );
        let mysql = "You have an error in your SQL syntax; check the manual for the right \
                     syntax to use near 'FROM t WHERE k = ?' at line 1";
        let clean = r.clean(mysql);
        assert!(!clean.contains("FROM t"), "{clean}");
        assert!(clean.starts_with("You have an error"), "{clean}");
    }

    /// Names map to one variable each; the password never prints.
    #[test]
    fn variable_names_and_debug() {
        assert_eq!(password_variable("items"), "GROUPCACHE_SQL_PASSWORD_ITEMS");
        assert_eq!(
            password_variable("my-items.v2"),
            "GROUPCACHE_SQL_PASSWORD_MY_ITEMS_V2"
        );
        assert_eq!(format!("{:?}", Password::new("hunter2")), "Password(***)");
    }

    /// A password file gives its first line; an empty or missing one is a
    /// clear error.
    #[test]
    fn password_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "s3cret\n").unwrap();
        assert_eq!(Password::from_file(&file).unwrap().expose(), "s3cret");
        std::fs::write(&file, "\n").unwrap();
        let err = Password::from_file(&file).unwrap_err().to_string();
        assert!(err.contains("is empty"), "{err}");
        let err = Password::from_file(&dir.path().join("none"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot read the password file"), "{err}");
    }
}
