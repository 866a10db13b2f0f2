//! `groupcache-bench report`: used by `scripts/bench-suite` to turn raw
//! results into `docs/benchmarks.md` and SVG plots (see [`crate::suite`]),
//! to print one saved report as a table, or to read one field of it.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::suite::{HarnessRun, SuiteInputs, render};
use crate::{Error, Report};

/// Flags of `groupcache-bench report`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Print this saved JSON report (`groupcache-bench --json`) as a table and exit.
    #[arg(long, value_name = "PATH")]
    pub table: Option<PathBuf>,
    /// Print one field of a saved JSON report (dotted path, as in
    /// `stats.source_loads`) and exit; the report is the positional PATH.
    #[arg(long, value_name = "PATH.TO.FIELD")]
    pub field: Option<String>,
    /// The report file for --field.
    #[arg(value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Our runs: JSON lines written by `groupcache-bench --out`.
    #[arg(long, value_name = "PATH")]
    pub ours: Option<PathBuf>,
    /// The Go harness's loadgen JSON lines (repeatable).
    #[arg(long, value_name = "PATH")]
    pub harness: Vec<PathBuf>,
    /// The harness's `summarize` output to quote.
    #[arg(long, value_name = "PATH")]
    pub harness_summary: Option<PathBuf>,
    /// Machine and run information, `key=value` lines.
    #[arg(long, value_name = "PATH")]
    pub env: Option<PathBuf>,
    /// Markdown notes (verdicts) to include.
    #[arg(long, value_name = "PATH")]
    pub notes: Option<PathBuf>,
    /// Markdown list of the exact commands.
    #[arg(long, value_name = "PATH")]
    pub commands: Option<PathBuf>,
    /// Hand-written Markdown appended at the end.
    #[arg(long, value_name = "PATH")]
    pub extra: Option<PathBuf>,
    /// Where to write the SVG plots.
    #[arg(long, value_name = "DIR", default_value = "docs/bench")]
    pub svg_dir: PathBuf,
    /// Where the raw results are (named in the document).
    #[arg(long, value_name = "DIR", default_value = "")]
    pub results_dir: String,
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))
}

fn read_opt(path: &Option<PathBuf>) -> Result<String, Error> {
    match path {
        Some(p) if p.exists() => read(p),
        _ => Ok(String::new()),
    }
}

/// Runs the chosen mode.
pub fn run(args: ReportArgs) -> Result<(), Error> {
    if let Some(path) = &args.table {
        let r: Report = serde_json::from_str(read(path)?.trim())
            .map_err(|e| Error::config(format!("{} is not a bench report: {e}", path.display())))?;
        println!("{}", r.to_table());
        return Ok(());
    }
    if let Some(field) = &args.field {
        let path = args
            .file
            .as_ref()
            .ok_or_else(|| Error::config("--field needs the report file"))?;
        let v: serde_json::Value = serde_json::from_str(read(path)?.trim())
            .map_err(|e| Error::config(format!("{} is not JSON: {e}", path.display())))?;
        let found = field.split('.').try_fold(&v, |v, k| v.get(k));
        match found {
            Some(serde_json::Value::String(s)) => println!("{s}"),
            Some(other) => println!("{other}"),
            None => println!("-"),
        }
        return Ok(());
    }
    let ours_path = args
        .ours
        .as_ref()
        .ok_or_else(|| Error::config("give --ours, --table or --field"))?;
    let mut inp = SuiteInputs::default();
    for (i, line) in read(ours_path)?
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        inp.ours.push(serde_json::from_str(line).map_err(|e| {
            Error::config(format!(
                "{} line {}: not a bench report: {e}",
                ours_path.display(),
                i + 1
            ))
        })?);
    }
    for path in &args.harness {
        for line in read(path)?.lines().filter(|l| !l.trim().is_empty()) {
            // Lines the report can't use (other formats) are skipped.
            if let Ok(run) = serde_json::from_str::<HarnessRun>(line) {
                inp.harness.push(run);
            }
        }
    }
    inp.harness_summary = read_opt(&args.harness_summary)?;
    inp.env = read_opt(&args.env)?;
    inp.notes = read_opt(&args.notes)?;
    inp.commands = read_opt(&args.commands)?;
    inp.extra = read_opt(&args.extra)?;
    inp.results_dir = args.results_dir.clone();
    let (md, svgs) = render(&inp);
    std::fs::create_dir_all(&args.svg_dir)
        .map_err(|e| Error::io(format!("creating {}", args.svg_dir.display()), e))?;
    for (name, content) in svgs {
        let p = args.svg_dir.join(name);
        std::fs::write(&p, content)
            .map_err(|e| Error::io(format!("writing {}", p.display()), e))?;
    }
    print!("{md}");
    Ok(())
}
