//! `sockbench demo NAME`: run one lecture demonstration; `--list` names them.

use std::io;
use std::process::ExitCode;

use clap::Args;

use crate::demo;

/// Options of `sockbench demo`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sockbench demo --list
  sockbench demo iterative-vs-concurrent
  sockbench demo select-loop

Each demo starts its own servers and clients on 127.0.0.1, prints what it
measured, and ends by itself (under 30 s).")]
pub struct DemoArgs {
    /// The demo to run (see --list).
    #[arg(required_unless_present = "list")]
    pub name: Option<String>,

    /// Print one line per demo.
    #[arg(long)]
    pub list: bool,
}

/// Run `sockbench demo`.
pub fn run(args: DemoArgs) -> io::Result<ExitCode> {
    let mut stdout = io::stdout();
    if args.list {
        demo::write_list(&mut stdout)?;
        return Ok(ExitCode::SUCCESS);
    }
    let name = args.name.unwrap_or_default();
    demo::run(&name, &mut stdout)?;
    Ok(ExitCode::SUCCESS)
}
