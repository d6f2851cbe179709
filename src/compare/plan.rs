//! The plan of a comparison: which runs, in which order. Pure: no
//! processes, no clock, no files, so every rule of the order is tested
//! here.
//!
//! The matrix's cells are split into *groups* (one set of server processes
//! each: same transport, service and work), and each group into *rounds*;
//! in each round every cell's *shape* is run by every contender, the order
//! rotated from one shape to the next. A counting round (round 0, system
//! calls counted, each run at most [`COUNTING_RUN`]) may come first; with
//! `--side-by-side`, every other contender's run is paired with the
//! baseline's at the same moment.

use std::time::Duration;

use super::matrix::{Cell, Contender};

/// One run of the plan: a cell in a round, alone or beside the baseline's.
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    /// The round recorded in the CSV: 0 for the counting round, then 1 to N.
    pub round: u64,
    /// The cell, as the matrix lists it.
    pub cell: &'a Cell,
    /// (`--side-by-side`) The baseline's same cell, run at the same moment.
    pub beside: Option<&'a Cell>,
}

/// The longest run of a cell in the counting round: system calls per
/// request settle within a second.
pub const COUNTING_RUN: Duration = Duration::from_secs(1);

impl Step<'_> {
    /// The cells this step runs, the step's own first and then the one
    /// beside it, each as long as its round allows.
    pub fn runs(&self) -> Vec<Cell> {
        let mut runs = vec![run_in_round(self.cell, self.round)];
        runs.extend(self.beside.map(|cell| run_in_round(cell, self.round)));
        runs
    }
}

/// `cell` as it runs in `round`: the counting round's runs last at most
/// [`COUNTING_RUN`].
fn run_in_round(cell: &Cell, round: u64) -> Cell {
    let mut cell = cell.clone();
    if round == 0 {
        cell.duration = cell.duration.min(COUNTING_RUN);
    }
    cell
}

/// How long each step of `groups` is planned to take, in run order: what
/// the ETA is made of before the first run is done.
pub fn planned_durations(groups: &[Vec<Step<'_>>]) -> Vec<Duration> {
    groups
        .iter()
        .flatten()
        .map(|step| run_in_round(step.cell, step.round).duration)
        .collect()
}

/// The order of every run, group by group: in each group (the cells one
/// server per contender serves, started afresh in every round, see
/// [`run_rounds`](super::runner::run_rounds)), round after round, each cell's shape
/// run by every contender back to back, the contenders' order rotated
/// from one shape (and round) to the next. With `counting`, a counting
/// round (round 0) comes first. With `side_by_side` (the baseline), every
/// other contender's run of a measured round is paired with a run of the
/// baseline at the same moment; the counting round still runs one server
/// at a time, since its counters are per process.
pub fn plan(
    cells: &[Cell],
    rounds: usize,
    counting: bool,
    side_by_side: Option<Contender>,
) -> Vec<Vec<Step<'_>>> {
    let mut groups: Vec<Vec<&Cell>> = Vec::new();
    for cell in cells {
        match groups
            .iter_mut()
            .find(|group| group.iter().any(|other| other.same_group(cell)))
        {
            Some(group) => group.push(cell),
            None => groups.push(vec![cell]),
        }
    }
    let first_round = if counting { 0 } else { 1 };
    groups
        .into_iter()
        .map(|group| {
            let mut contenders: Vec<Contender> = Vec::new();
            let mut shapes: Vec<&Cell> = Vec::new();
            for cell in &group {
                if !contenders.contains(&cell.contender) {
                    contenders.push(cell.contender);
                }
                if !shapes.iter().any(|shape| shape.same_shape(cell)) {
                    shapes.push(cell);
                }
            }
            let mut steps = Vec::new();
            let mut turn = 0;
            for round in first_round..=rounds as u64 {
                for shape in &shapes {
                    // Rotated by one from one cell to the next (ABC, BCA,
                    // CAB, ...): every contender takes every place in
                    // turn, and none ever runs right after itself, which
                    // would give one side of a pair conditions the other
                    // lacks. Two contenders simply alternate (AB, AB, ...):
                    // for them any change of order runs one twice in a row.
                    let find = |contender: Contender| {
                        group
                            .iter()
                            .find(|c| c.contender == contender && c.same_shape(shape))
                            .copied()
                    };
                    let baseline = side_by_side.filter(|_| round > 0);
                    let beside = baseline.and_then(find);
                    let runners: Vec<Contender> = contenders
                        .iter()
                        .copied()
                        .filter(|c| beside.is_none() || Some(*c) != baseline)
                        .collect();
                    let n = runners.len();
                    let shift = if n > 2 { turn % n } else { 0 };
                    turn += 1;
                    for contender in runners.iter().cycle().skip(shift).take(n) {
                        if let Some(cell) = find(*contender) {
                            steps.push(Step {
                                round,
                                cell,
                                beside,
                            });
                        }
                    }
                }
            }
            steps
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::matrix::MatrixSpec;

    /// Each round runs every contender once per cell, back to back, the
    /// order rotated from one cell to the next so that no contender runs
    /// twice in a row (two contenders simply alternate); groups (here: two
    /// kinds of work) are run one after the other.
    #[test]
    fn plan_interleaves_contenders_and_alternates_their_order() {
        let spec = MatrixSpec {
            contenders: vec![
                Contender::Engine(crate::engine::EngineKind::Pool),
                Contender::Engine(crate::engine::EngineKind::Reactor),
                Contender::Engine(crate::engine::EngineKind::Threaded),
            ],
            connections: vec![1, 10],
            works: vec![crate::engine::Work::None, "sleep:1ms".parse().unwrap()],
            ..MatrixSpec::default_run()
        };
        let cells = spec.cells().cells;
        let groups = plan(&cells, 2, false, None);
        assert_eq!(groups.len(), 2, "one group per kind of work");
        let order: Vec<String> = groups[0]
            .iter()
            .map(|step| {
                format!(
                    "{}:{}:{}",
                    step.round - 1,
                    step.cell.connections,
                    &step.cell.contender.name()[..1]
                )
            })
            .collect();
        assert_eq!(
            order.join(" "),
            "0:1:p 0:1:r 0:1:t 0:10:r 0:10:t 0:10:p 1:1:t 1:1:p 1:1:r 1:10:p 1:10:r 1:10:t"
        );
        let runs: Vec<Contender> = groups[0].iter().map(|step| step.cell.contender).collect();
        assert!(
            runs.windows(2).all(|pair| pair[0] != pair[1]),
            "no contender runs twice in a row"
        );
        let two = MatrixSpec {
            contenders: spec.contenders[..2].to_vec(),
            ..spec.clone()
        };
        let two_cells = two.cells().cells;
        let alternating: Vec<&str> = plan(&two_cells, 2, false, None)[0]
            .iter()
            .map(|step| step.cell.contender.name())
            .collect();
        assert_eq!(alternating, ["pool", "reactor"].repeat(4));
        assert!(groups[1]
            .iter()
            .all(|step| step.cell.work != crate::engine::Work::None));
    }

    /// Side by side, every other contender's measured run is paired with
    /// the baseline's same cell, in rotated order; the counting round
    /// still runs each server alone.
    #[test]
    fn side_by_side_pairs_every_run_with_the_baselines() {
        let baseline = Contender::EpollRaw;
        let spec = MatrixSpec {
            contenders: vec![
                Contender::Engine(crate::engine::EngineKind::Pool),
                Contender::Engine(crate::engine::EngineKind::Reactor),
                Contender::Engine(crate::engine::EngineKind::Threaded),
                baseline,
            ],
            connections: vec![1, 10],
            ..MatrixSpec::default_run()
        };
        let cells = spec.cells().cells;
        let groups = plan(&cells, 2, true, Some(baseline));
        assert_eq!(groups.len(), 1);
        let order: Vec<String> = groups[0]
            .iter()
            .map(|step| {
                let name = |cell: &Cell| cell.contender.name()[..1].to_string();
                format!(
                    "{}:{}:{}{}",
                    step.round,
                    step.cell.connections,
                    name(step.cell),
                    step.beside
                        .map_or(String::new(), |b| format!("+{}", name(b)))
                )
            })
            .collect();
        assert_eq!(
            order.join(" "),
            "0:1:p 0:1:r 0:1:t 0:1:e 0:10:r 0:10:t 0:10:e 0:10:p \
             1:1:t+e 1:1:p+e 1:1:r+e 1:10:p+e 1:10:r+e 1:10:t+e \
             2:1:r+e 2:1:t+e 2:1:p+e 2:10:t+e 2:10:p+e 2:10:r+e"
        );
        for step in groups[0].iter().filter(|step| step.round > 0) {
            let beside = step.beside.expect("paired");
            assert!(beside.same_shape(step.cell), "paired with the same cell");
        }
    }

    /// The counting round's runs are cut to a second, the measured
    /// rounds' are not, and the plan's durations say so.
    #[test]
    fn counting_round_runs_are_cut_to_a_second() {
        let spec = MatrixSpec {
            contenders: vec![Contender::EpollRaw],
            connections: vec![1],
            cell_duration: Duration::from_secs(3),
            ..MatrixSpec::default_run()
        };
        let cells = spec.cells().cells;
        let groups = plan(&cells, 1, true, None);
        assert_eq!(
            planned_durations(&groups),
            [COUNTING_RUN, Duration::from_secs(3)]
        );
        assert_eq!(groups[0][0].runs()[0].duration, COUNTING_RUN);
        assert_eq!(groups[0][1].runs()[0].duration, Duration::from_secs(3));
    }
}
