//! `groupcache get-many --addr ADDR GROUP KEY...`: many keys of a group in
//! one `GetMany` call, a line (or a JSON object) per key.
//!
//! Text output, one line per key in the order given:
//! `KEY<TAB>OK<TAB>VALUE` or `KEY<TAB>CODE<TAB>MESSAGE` (`CODE` as
//! `NOT_FOUND`, `UNAVAILABLE`, ...). Keys and values are printed with
//! backslash escapes (`\\`, `\t`, `\n`, `\r`, `\xNN` for any other byte
//! outside printable ASCII), so each answer stays on its line; use
//! `groupcache get` for a value's raw bytes. With `--json`: an array of
//! `{"key", "code", "value" | "value_base64", "ttl_ms"}` for values (text
//! when the value is UTF-8, base64 otherwise) and `{"key", "code",
//! "message"}` for failures.
//!
//! Exit code: 0 when every key has a value; 3 when the only failures are
//! `NOT_FOUND`; 1 when another key failed or the call itself failed (an
//! unknown group, more keys than the node's --max-batch-keys: the node's
//! status on stderr).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cache_grpc::pb::{GetManyRequest, KeyResult};
use clap::Args;
use serde_json::{Value, json};

use crate::Error;
use crate::cli::client::{ClientArgs, bounded};
use crate::cli::parse::clap_parsers;
use crate::error::code_name;

/// Flags of `groupcache get-many`.
#[derive(Debug, Clone, Args)]
pub struct GetManyArgs {
    /// Node address and timeout.
    #[command(flatten)]
    pub client: ClientArgs,
    /// Print a JSON array instead of lines.
    #[arg(long, env = "GROUPCACHE_JSON", value_parser = clap_parsers::switch)]
    pub json: bool,
    /// The group.
    pub group: String,
    /// The keys (at most the node's --max-batch-keys, 1000 by default).
    #[arg(required = true, num_args = 1..)]
    pub keys: Vec<String>,
}

/// Gets the keys in one call and prints a result per key; see the [module
/// docs](self) for the output and the exit code.
pub async fn run(args: GetManyArgs) -> Result<(), Error> {
    let mut client = args.client.connect().await?;
    let mut request = tonic::Request::new(GetManyRequest {
        group: args.group,
        keys: args.keys,
    });
    request.set_timeout(args.client.timeout);
    args.client.authorize(&mut request)?;
    let response = bounded(args.client.timeout, client.get_many(request)).await?;
    let results = response.results;
    let out = if args.json {
        let mut text =
            serde_json::to_string_pretty(&to_json(&results)).expect("a JSON value prints");
        text.push('\n');
        text.into_bytes()
    } else {
        to_lines(&results)
    };
    crate::cli::write_stdout(&out)?;
    outcome(&results)
}

/// The exit status of a batch: `Ok` when every key has a value, else
/// [`Error::KeysFailed`].
fn outcome(results: &[KeyResult]) -> Result<(), Error> {
    let failed: Vec<&KeyResult> = results.iter().filter(|r| r.code != 0).collect();
    if failed.is_empty() {
        return Ok(());
    }
    let not_found = tonic::Code::NotFound as u32;
    Err(Error::KeysFailed {
        failed: failed.len(),
        total: results.len(),
        only_not_found: failed.iter().all(|r| r.code == not_found),
    })
}

/// The status name of a result's code (`OK`, `NOT_FOUND`, ...).
fn code(r: &KeyResult) -> &'static str {
    code_name(tonic::Code::from_i32(
        i32::try_from(r.code).unwrap_or(i32::MAX),
    ))
}

/// The text output: a line per result.
fn to_lines(results: &[KeyResult]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in results {
        escape(r.key.as_bytes(), &mut out);
        out.push(b'\t');
        out.extend_from_slice(code(r).as_bytes());
        out.push(b'\t');
        if r.code == 0 {
            escape(&r.value, &mut out);
        } else {
            escape(r.message.as_bytes(), &mut out);
        }
        out.push(b'\n');
    }
    out
}

/// Appends `bytes` to `out` with backslash escapes for `\`, tab, newline,
/// carriage return and every byte outside printable ASCII.
fn escape(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
}

/// The `--json` output.
fn to_json(results: &[KeyResult]) -> Value {
    let items = results
        .iter()
        .map(|r| {
            if r.code != 0 {
                return json!({"key": r.key, "code": code(r), "message": r.message});
            }
            match std::str::from_utf8(&r.value) {
                Ok(text) => json!({"key": r.key, "code": "OK", "value": text, "ttl_ms": r.ttl_ms}),
                Err(_) => json!({
                    "key": r.key,
                    "code": "OK",
                    "value_base64": B64.encode(&r.value),
                    "ttl_ms": r.ttl_ms,
                }),
            }
        })
        .collect();
    Value::Array(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(key: &str, value: &[u8]) -> KeyResult {
        KeyResult {
            key: key.into(),
            value: bytes::Bytes::copy_from_slice(value),
            ..KeyResult::default()
        }
    }

    fn failed(key: &str, code: tonic::Code, message: &str) -> KeyResult {
        KeyResult {
            key: key.into(),
            code: code as u32,
            message: message.into(),
            ..KeyResult::default()
        }
    }

    /// A line per key; escapes keep each answer on its line.
    #[test]
    fn lines_escape_what_would_break_them() {
        let results = [
            value("a", b"plain text"),
            value("b\tc", b"two\nlines\\\xff"),
            failed("d", tonic::Code::NotFound, "key not found"),
        ];
        let text = String::from_utf8(to_lines(&results)).unwrap();
        assert_eq!(
            text,
            "a\tOK\tplain text\nb\\tc\tOK\ttwo\\nlines\\\\\\xff\nd\tNOT_FOUND\tkey not found\n"
        );
    }

    /// UTF-8 values are text in JSON, others base64; failures carry their
    /// code name and message.
    #[test]
    fn json_tells_text_from_bytes() {
        let results = [
            value("a", b"text"),
            value("b", b"\xff\x00"),
            failed(
                "c",
                tonic::Code::Unavailable,
                "the source failed to load the key",
            ),
        ];
        let v = to_json(&results);
        assert_eq!(
            v[0],
            json!({"key": "a", "code": "OK", "value": "text", "ttl_ms": 0})
        );
        assert_eq!(v[1]["value_base64"], "/wA=");
        assert_eq!(v[2]["code"], "UNAVAILABLE");
    }

    /// 0 when all keys have values, 3 when only NOT_FOUND failed, 1 else.
    #[test]
    fn exit_codes_follow_the_worst_key() {
        let ok = value("a", b"v");
        let missing = failed("b", tonic::Code::NotFound, "key not found");
        let broken = failed("c", tonic::Code::Unavailable, "x");
        assert!(outcome(std::slice::from_ref(&ok)).is_ok());
        let code = |r: &[KeyResult]| outcome(r).unwrap_err().exit_code();
        assert_eq!(code(&[ok.clone(), missing.clone()]), 3);
        assert_eq!(code(&[ok, missing, broken]), 1);
    }
}
