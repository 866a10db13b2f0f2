//! `serve`'s trace export flags ([`TraceArgs`]), and starting the export.
//!
//! Trace context is read and passed across the peer hop in every build
//! (`cache_grpc::trace_context`); exporting spans needs the `otlp` cargo
//! feature (`src/cli/tracing_otlp.rs` holds the exporter).
//! Without the feature:
//!
//! - `--otlp-endpoint` (or `GROUPCACHE_OTLP_ENDPOINT`) is refused at start,
//!   exit 2, with a message naming the feature: asking for export from a
//!   build that cannot export is a configuration error, not something to
//!   ignore;
//! - `OTEL_EXPORTER_OTLP_ENDPOINT` alone is only warned about: it is often
//!   set for every process of a host or pod at once, and must not stop a
//!   node that was never asked to export.
//!
//! With the feature, the flag wins over `OTEL_EXPORTER_OTLP_ENDPOINT`, and
//! export is off when neither is set.

use clap::Args;
use tracing_subscriber::{Layer, Registry};

use crate::Error;
use crate::cli::parse::clap_parsers;

/// The standard variable naming the collector, honoured when the flag is
/// not given.
pub const OTEL_ENDPOINT_VAR: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// The standard variable naming the service, honoured when the flag is not
/// given.
pub const OTEL_SERVICE_VAR: &str = "OTEL_SERVICE_NAME";

/// The service name of exported spans when nothing else names it.
pub const DEFAULT_SERVICE_NAME: &str = "groupcache";

/// A layer for the process's subscriber, next to the log lines' own.
pub type BoxLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// The `serve` flags on exporting spans.
#[derive(Debug, Clone, Args)]
pub struct TraceArgs {
    /// Export the get path's spans over OTLP/gRPC to this collector, e.g.
    /// http://127.0.0.1:4317. Default: OTEL_EXPORTER_OTLP_ENDPOINT if set,
    /// else no export. Needs a build with the otlp feature (cargo build
    /// --release --features otlp); other builds refuse the flag.
    #[arg(long, env = "GROUPCACHE_OTLP_ENDPOINT", value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// The service.name of exported spans. Default: OTEL_SERVICE_NAME if
    /// set, else groupcache.
    #[arg(long, env = "GROUPCACHE_OTLP_SERVICE_NAME", value_name = "NAME")]
    pub otlp_service_name: Option<String>,
    /// Share of new traces exported (a trace this node starts). A request
    /// that carries a traceparent follows its caller's sampled flag.
    #[arg(long, env = "GROUPCACHE_OTLP_SAMPLE_RATIO", default_value = "1", value_name = "RATIO", value_parser = clap_parsers::ratio)]
    pub otlp_sample_ratio: f64,
}

/// Where the spans go, resolved from the flags and the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpSettings {
    /// The collector's URL.
    pub endpoint: String,
    /// The `service.name` resource attribute.
    pub service_name: String,
    /// Share of new traces kept, in [0, 1].
    pub sample_ratio: f64,
}

impl TraceArgs {
    /// The export settings, the standard variables (read through `var`)
    /// filling in for missing flags; `None` when no endpoint is set.
    pub fn settings(&self, var: impl Fn(&str) -> Option<String>) -> Option<OtlpSettings> {
        let set = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
        let endpoint = set(self.otlp_endpoint.clone()).or_else(|| set(var(OTEL_ENDPOINT_VAR)))?;
        let service_name = set(self.otlp_service_name.clone())
            .or_else(|| set(var(OTEL_SERVICE_VAR)))
            .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned());
        Some(OtlpSettings {
            endpoint,
            service_name,
            sample_ratio: self.otlp_sample_ratio,
        })
    }
}

/// A running export; [`Export::shutdown`] sends what is left.
#[derive(Debug)]
pub struct Export {
    #[cfg(feature = "otlp")]
    inner: super::tracing_otlp::Exporter,
}

impl Export {
    /// Exports the spans still queued and stops (bounded in time).
    pub async fn shutdown(self) {
        #[cfg(feature = "otlp")]
        self.inner.shutdown().await;
    }
}

/// Starts exporting as `args` and the environment (`var`) say: the export
/// to shut down before exit, and the layer that feeds it. Must run inside
/// the tokio runtime the node will run on (the exporter's gRPC channel
/// lives there). `Ok(None)`: nothing to export.
pub fn start(
    args: &TraceArgs,
    var: impl Fn(&str) -> Option<String>,
) -> Result<Option<(Export, BoxLayer)>, Error> {
    #[cfg(feature = "otlp")]
    {
        let Some(settings) = args.settings(var) else {
            return Ok(None);
        };
        let (inner, layer) = super::tracing_otlp::start(&settings)?;
        Ok(Some((Export { inner }, layer)))
    }
    #[cfg(not(feature = "otlp"))]
    {
        let _ = var;
        match &args.otlp_endpoint {
            Some(url) if !url.trim().is_empty() => Err(Error::config(format!(
                "--otlp-endpoint {url}: this build has no OTLP export; \
                 build it with `cargo build --release --features otlp`"
            ))),
            _ => Ok(None),
        }
    }
}

/// The warning to log when `OTEL_EXPORTER_OTLP_ENDPOINT` asks for export
/// that this build cannot do (always `None` with the `otlp` feature).
pub fn unexported_warning(var: impl Fn(&str) -> Option<String>) -> Option<String> {
    if cfg!(feature = "otlp") {
        return None;
    }
    let endpoint = var(OTEL_ENDPOINT_VAR).filter(|v| !v.trim().is_empty())?;
    Some(format!(
        "{OTEL_ENDPOINT_VAR}={endpoint} is set, but this build has no OTLP export \
         (feature otlp): no spans are exported; trace context is still passed on"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        traces: TraceArgs,
    }

    fn args(argv: &[&str]) -> TraceArgs {
        Cli::try_parse_from(std::iter::once("x").chain(argv.iter().copied()))
            .unwrap()
            .traces
    }

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    /// The flag wins over the standard variable; the service name falls
    /// back to OTEL_SERVICE_NAME, then to groupcache; nothing set: no
    /// export.
    #[test]
    fn flags_then_standard_variables() {
        let none = args(&[]);
        assert_eq!(none.settings(env(&[])), None);
        let from_env = none
            .settings(env(&[
                (OTEL_ENDPOINT_VAR, "http://collector:4317"),
                (OTEL_SERVICE_VAR, "cache-eu"),
            ]))
            .unwrap();
        assert_eq!(from_env.endpoint, "http://collector:4317");
        assert_eq!(from_env.service_name, "cache-eu");
        assert_eq!(from_env.sample_ratio, 1.0);
        let flagged = args(&[
            "--otlp-endpoint",
            "http://127.0.0.1:4317",
            "--otlp-sample-ratio",
            "0.25",
        ])
        .settings(env(&[(OTEL_ENDPOINT_VAR, "http://collector:4317")]))
        .unwrap();
        assert_eq!(flagged.endpoint, "http://127.0.0.1:4317");
        assert_eq!(flagged.service_name, DEFAULT_SERVICE_NAME);
        assert_eq!(flagged.sample_ratio, 0.25);
        let bad = Cli::try_parse_from(["x", "--otlp-sample-ratio", "1.5"]);
        assert!(bad.is_err());
    }

    /// Without the feature, the flag is a configuration error naming the
    /// feature, and the standard variable alone only a warning.
    #[cfg(not(feature = "otlp"))]
    #[test]
    fn without_the_feature_the_flag_is_refused() {
        let err = start(
            &args(&["--otlp-endpoint", "http://127.0.0.1:4317"]),
            env(&[]),
        )
        .err()
        .expect("refused");
        assert!(matches!(err, Error::Config(_)));
        assert!(err.to_string().contains("--features otlp"), "{err}");
        let var_only = [(OTEL_ENDPOINT_VAR, "http://collector:4317")];
        assert!(start(&args(&[]), env(&var_only)).unwrap().is_none());
        assert!(
            unexported_warning(env(&var_only))
                .unwrap()
                .contains("no OTLP export")
        );
        assert_eq!(unexported_warning(env(&[])), None);
    }
}
