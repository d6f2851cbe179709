//! `sockbench plot` and `sockbench verdict`: the charts and the verdicts
//! of a CSV that `sockbench compare` wrote, made again from its rows.

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::compare::{self, plot, record, verdict};

/// Options of `sockbench plot`.
#[derive(Debug, Args)]
#[command(after_help = "Example:
  sockbench plot results/compare.csv     # writes results/compare-throughput.svg, -p99.svg, -latency.svg")]
pub struct PlotArgs {
    /// A CSV written by `sockbench compare`.
    pub csv: PathBuf,

    /// Connections of the latency-percentile chart [default: 100].
    #[arg(long)]
    pub latency_connections: Option<u64>,
}

/// Options of `sockbench verdict`.
#[derive(Debug, Args)]
#[command(after_help = "Example:
  sockbench verdict results/verdicts.csv --baseline tokio   # the reactor and the rest against tokio

Reads every round's row of a CSV written by `compare --rounds N` and
prints each other server's median req/s ratio to the baseline, its 95%
interval and the verdict, exactly as `compare --baseline` does
(docs/METHOD.md).")]
pub struct VerdictArgs {
    /// A CSV written by `sockbench compare --rounds N`.
    pub csv: PathBuf,

    /// The server every other one is compared with (any engine name of
    /// the CSV, a --server's NAME too).
    #[arg(long, value_name = "ENGINE")]
    pub baseline: String,

    /// Also write the verdicts as CSV to this file.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Run `sockbench verdict`.
pub fn run_verdict(args: VerdictArgs) -> io::Result<ExitCode> {
    let records = record::read_csv(&args.csv)?;
    if !records
        .iter()
        .any(|r| r.engine == args.baseline && r.round > 0)
    {
        return Err(io::Error::other(format!(
            "{} has no measured rows of {}: pick a baseline among its engines",
            args.csv.display(),
            args.baseline
        )));
    }
    let comparisons = verdict::compare_to_baseline(&records, &args.baseline);
    print!("{}", verdict::render(&comparisons));
    if let Some(path) = &args.out {
        verdict::write_csv(path, &comparisons)?;
        let how = format!(
            "`sockbench verdict {} --baseline {}`, from the rounds of that run",
            args.csv.display(),
            args.baseline
        );
        let machine =
            compare::machine::write_derived(path, &args.csv.with_extension("machine.txt"), &how)?;
        println!("wrote {}", path.display());
        println!("wrote {}", machine.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Run `sockbench plot`.
pub fn run_plot(args: PlotArgs) -> io::Result<ExitCode> {
    for path in plot::plot_csv(&args.csv, args.latency_connections)? {
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
