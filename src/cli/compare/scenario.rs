//! `sockbench compare --scenario c10k|c100k`: the flags a scenario sets
//! itself (refused beside it), its scale and servers, and its run.

use std::io;
use std::process::ExitCode;

use super::{programs, shell_words, stop_on_signals, CompareArgs};
use crate::compare::scenario::{self, Scenario, ScenarioConfig};

/// The flags a scenario sets itself, and whether each was given.
fn flags_a_scenario_sets(args: &CompareArgs) -> [(&'static str, bool); 24] {
    [
        ("--verdicts", args.verdicts),
        ("--server", !args.servers.is_empty()),
        ("--target", !args.targets.is_empty()),
        ("--ready-timeout", args.ready_timeout.is_some()),
        ("--grace", args.grace.is_some()),
        ("--connections", args.connections.is_some()),
        ("--idle", args.idle.is_some()),
        ("--duration", args.duration.is_some()),
        ("--transports", args.transports.is_some()),
        ("--sizes", args.sizes.is_some()),
        ("--services", args.services.is_some()),
        ("--path", args.path.is_some()),
        (
            "a request flag (--method, --header, --body, --expect-*, --command, --keys)",
            args.request.has_http() || args.request.has_keyed(),
        ),
        ("--work", args.work.is_some()),
        ("--pipeline", args.pipeline.is_some()),
        ("--full", args.full),
        ("--smoke", args.smoke),
        ("--pin", args.pin),
        ("--load-threads", args.load_threads.is_some()),
        ("--latency-connections", args.latency_connections.is_some()),
        ("--rounds", args.rounds.is_some()),
        ("--baseline", args.baseline.is_some()),
        ("--server-cpu", args.server_cpu.is_some()),
        ("--quota-period", args.quota_period.is_some()),
    ]
}

/// Run `sockbench compare --scenario`.
pub(super) fn run_scenario(scenario: Scenario, args: CompareArgs) -> io::Result<ExitCode> {
    if let Some((flag, _)) = flags_a_scenario_sets(&args)
        .iter()
        .find(|(_, given)| *given)
    {
        return Err(io::Error::other(format!(
            "--scenario {scenario} sets the load and the servers itself, so {flag} cannot go with it: drop {flag} (--engines picks among its servers, --scale shrinks it)"
        )));
    }
    let scale = args.scale.unwrap_or(1.0);
    if !(scale > 0.0 && scale <= 1.0) {
        return Err(io::Error::other(format!(
            "--scale {scale}: give a fraction above 0 and at most 1, e.g. 0.01"
        )));
    }
    let mut plan = scenario.plan(scale);
    if let Some(engines) = &args.engines {
        plan.select(engines).map_err(io::Error::other)?;
    }
    let (sockbench_exe, examples_dir) = programs(args.examples_dir)?;
    let config = ScenarioConfig {
        plan,
        name: args.name.unwrap_or_else(|| scenario.name().to_string()),
        out_dir: args.out_dir,
        sockbench_exe,
        examples_dir,
        command_line: shell_words(std::env::args()),
        stop: stop_on_signals()?,
    };
    scenario::run(&config, &mut io::stdout().lock(), &mut io::stderr().lock())?;
    Ok(if config.stop.load(std::sync::atomic::Ordering::Relaxed) {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}
