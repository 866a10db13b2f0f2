//! `serve --config FILE`: a node's settings in a TOML file.
//!
//! Every key is the long name of a `serve` flag (`cache-bytes = "64MiB"`,
//! `peers = ["10.0.0.1:7001", "10.0.0.2:7001"]`, `no-reflection = true`),
//! and the table `[groups]` names each group and its source
//! (`colors = "dir:/srv/colors"`). A value may be a string, an integer, a
//! boolean or an array of them, written as the flag would take it.
//!
//! The file's values become the flags' defaults, so the order of
//! precedence is: a flag on the command line, then its environment
//! variable, then the file, then the built-in default. Each value is
//! checked by the flag's own parser when the file is read, and an error
//! names the file, the line and the key; the settings then go through the
//! same validation as flags.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{Command, CommandFactory, FromArgMatches};
use toml_edit::{Document, Item, Table, Value};

use crate::Error;
use crate::cli::Cli;

/// The flag and variable naming the file.
const FLAG: &str = "--config";
const VARIABLE: &str = "GROUPCACHE_CONFIG";
/// The table of groups, and the flag its entries become.
const GROUPS: &str = "groups";
const GROUP_FLAG: &str = "group";

/// What went wrong while reading the command line.
#[derive(Debug)]
pub enum ParseError {
    /// clap's own error (or `--help`, `--version`), to be printed by clap.
    Clap(clap::Error),
    /// The configuration file could not be used.
    Config(Error),
}

/// Parses `argv` (and the environment, through `var`) into a [`Cli`], with
/// the `--config` file of `serve`, if any, supplying defaults.
pub fn parse(
    argv: Vec<OsString>,
    var: impl Fn(&str) -> Option<OsString>,
) -> Result<Cli, ParseError> {
    let mut cmd = Cli::command();
    if let Some(path) = config_path(&argv, var) {
        let text = std::fs::read_to_string(&path).map_err(|e| {
            ParseError::Config(Error::config(format!(
                "cannot read the config file {}: {e}",
                path.display()
            )))
        })?;
        let settings = settings(&path, &text, &cmd).map_err(ParseError::Config)?;
        cmd = cmd.mut_subcommand("serve", |serve| apply(serve, settings));
    }
    let matches = cmd.try_get_matches_from(argv).map_err(ParseError::Clap)?;
    Cli::from_arg_matches(&matches).map_err(ParseError::Clap)
}

/// The file named by `serve --config FILE` (or `--config=FILE`), else by
/// `GROUPCACHE_CONFIG` when the subcommand is `serve`.
fn config_path(argv: &[OsString], var: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let serve = argv.iter().skip(1).position(|a| a == "serve")? + 1;
    let mut rest = argv[serve + 1..].iter();
    while let Some(arg) = rest.next() {
        if arg == "--" {
            break;
        }
        if arg == FLAG {
            return rest.next().map(PathBuf::from);
        }
        if let Some(value) = arg.to_str().and_then(|a| a.strip_prefix("--config=")) {
            return Some(PathBuf::from(value));
        }
    }
    var(VARIABLE).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// One setting of the file: the flag's id and its values.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Setting {
    id: String,
    values: Vec<String>,
}

/// Each key of `text` as a checked setting of `cli`'s `serve` subcommand.
fn settings(path: &Path, text: &str, cli: &Command) -> Result<Vec<Setting>, Error> {
    let at = |span: Option<std::ops::Range<usize>>| {
        let line = span.map_or(1, |s| text[..s.start].matches('\n').count() + 1);
        format!("{}:{line}", path.display())
    };
    let doc = Document::parse(text)
        .map_err(|e| Error::config(format!("{}: {}", at(e.span()), e.message())))?;
    let serve = cli
        .find_subcommand("serve")
        .expect("the serve subcommand exists");
    let mut out = Vec::new();
    for (key, item) in doc.as_table().iter() {
        let span = doc.as_table().key(key).and_then(toml_edit::Key::span);
        let here = || at(span.clone());
        if key == GROUPS {
            let Some(table) = item.as_table() else {
                return Err(Error::config(format!(
                    "{}: `groups` must be a table of NAME = \"SOURCE\"",
                    here()
                )));
            };
            out.push(groups(table, serve, &at)?);
            continue;
        }
        let arg = serve
            .get_arguments()
            .find(|a| a.get_long() == Some(key) && key != "config" && key != GROUP_FLAG)
            .ok_or_else(|| {
                Error::config(format!(
                    "{}: unknown setting `{key}` (keys are the long names of serve's flags, \
                     as in cache-bytes = \"64MiB\"; groups go in a [groups] table)",
                    here()
                ))
            })?;
        let values = values(item).ok_or_else(|| {
            Error::config(format!(
                "{}: `{key}` must be a string, a number, a boolean or an array of them",
                here()
            ))
        })?;
        for v in &values {
            check(serve, arg, v).map_err(|e| Error::config(format!("{}: `{key}`: {e}", here())))?;
        }
        out.push(Setting {
            id: arg.get_id().to_string(),
            values,
        });
    }
    Ok(out)
}

/// The `[groups]` table as `--group NAME=SOURCE` values.
fn groups(
    table: &Table,
    serve: &Command,
    at: &dyn Fn(Option<std::ops::Range<usize>>) -> String,
) -> Result<Setting, Error> {
    let arg = serve
        .get_arguments()
        .find(|a| a.get_long() == Some(GROUP_FLAG))
        .expect("serve has --group");
    let mut values = Vec::new();
    for (name, item) in table.iter() {
        let here = || at(table.key(name).and_then(toml_edit::Key::span));
        let Some(source) = item.as_str() else {
            return Err(Error::config(format!(
                "{}: group `{name}`: the source must be a string, as in {name} = \"dir:/srv/{name}\"",
                here()
            )));
        };
        let value = format!("{name}={source}");
        check(serve, arg, &value)
            .map_err(|e| Error::config(format!("{}: group `{name}`: {e}", here())))?;
        values.push(value);
    }
    Ok(Setting {
        id: arg.get_id().to_string(),
        values,
    })
}

/// An item's values as the flag would take them.
fn values(item: &Item) -> Option<Vec<String>> {
    fn one(v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.value().clone()),
            Value::Integer(n) => Some(n.value().to_string()),
            Value::Float(f) => Some(f.value().to_string()),
            Value::Boolean(b) => Some(b.value().to_string()),
            _ => None,
        }
    }
    match item.as_value()? {
        Value::Array(a) => a.iter().map(one).collect(),
        v => one(v).map(|s| vec![s]),
    }
}

/// `value` through the flag's own parser (as the default of a copy of the
/// flag, alone, without its environment variable): the message of its
/// error.
fn check(serve: &Command, arg: &clap::Arg, value: &str) -> Result<(), String> {
    let alone = arg
        .clone()
        .env(None)
        .required(false)
        .default_value(value.to_owned());
    Command::new(serve.get_name().to_owned())
        .no_binary_name(true)
        .arg(alone)
        .try_get_matches_from(Vec::<OsString>::new())
        .map(drop)
        .map_err(|e| {
            let text = e.to_string();
            let text = text.strip_prefix("error: ").unwrap_or(&text);
            text.lines().next().unwrap_or_default().to_owned()
        })
}

/// `serve` with the file's settings as its flags' defaults.
fn apply(mut serve: Command, settings: Vec<Setting>) -> Command {
    for Setting { id, values } in settings {
        serve = serve.mut_arg(id, |arg| arg.required(false).default_values(values));
    }
    serve
}

#[cfg(test)]
mod tests;
