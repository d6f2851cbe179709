//! The `sockbench` binary: parse the command line, hand it to the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    sockbench::cli::run(sockbench::cli::Cli::parse())
}
