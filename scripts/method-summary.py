#!/usr/bin/env python3
"""Write the measured part of docs/METHOD.md from the CSVs that
scripts/method.sh leaves in results/, between `<!-- method:begin -->` and
`<!-- method:end -->`, so every figure there comes out of a run."""

import csv
import pathlib
import statistics

ROOT = pathlib.Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- method:begin -->", "<!-- method:end -->"


def load(name):
    with open(ROOT / f"results/{name}.csv", newline="") as f:
        return list(csv.DictReader(f))


def machine(name):
    return (ROOT / f"results/{name}.machine.txt").read_text().strip()


def measured(rows, engine):
    return [r for r in rows if r["engine"] == engine and r["round"] != "0"]


def ratios(rows):
    """Per round: reactor req/s over epoll-raw req/s."""
    by_round = {}
    for r in rows:
        if r["round"] != "0":
            by_round.setdefault(r["round"], {})[r["engine"]] = float(r["req_per_s"])
    return [v["reactor"] / v["epoll-raw"] for _, v in sorted(by_round.items(), key=lambda kv: int(kv[0]))]


def spread(values):
    """Lowest to highest, as a percentage around the median."""
    m = statistics.median(values)
    return f"{min(values):,.0f} to {max(values):,.0f} ({(min(values) / m - 1) * 100:+.1f}% to {(max(values) / m - 1) * 100:+.1f}% of the median)"


def verdict_line(name):
    with open(ROOT / f"results/{name}.verdicts.csv", newline="") as f:
        v = next(csv.DictReader(f))
    return (f"median ratio {float(v['median_ratio']):.3f}, interval {float(v['ratio_low']):.3f} to "
            f"{float(v['ratio_high']):.3f} ({v['rounds_used']} rounds), verdict *{v['verdict']}*")


def fresh_servers_section():
    """The README's command run twice with one server process per engine
    for all rounds (`kept-servers-*`, from before compare restarted them),
    and twice with fresh server processes in every round (the README's
    `verdicts`, `verdicts-2`): how far apart the two runs of each pair are."""
    runs = [("one process for all rounds", "kept-servers-1"), ("one process for all rounds, again", "kept-servers-2"),
            ("fresh processes every round", "verdicts"), ("fresh processes every round, again", "verdicts-2")]
    cells = [("reactor", "100"), ("reactor", "1000"), ("tokio", "100"), ("tokio", "1000")]
    out = ["### Fresh server processes every round\n",
           "The README's command, run twice while compare kept one process per server for all ten rounds "
           "(`results/kept-servers-1.*` and `-2.*`: the files of `--name verdicts` and `--name verdicts-2` at the "
           "revision in their machine files, renamed), then twice with a fresh process for every server in every "
           "round (the README's `results/verdicts.*` and `results/verdicts-2.*`). Each cell: the median ratio to "
           "epoll-raw, its 95% interval, and the verdict.\n",
           "| runs | " + " | ".join(f"{e}, {c}" for e, c in cells) + " | same verdict as the run before, of all 10 cells |",
           "|---|" + "---|" * (len(cells) + 1)]
    previous = None
    for label, name in runs:
        with open(ROOT / f"results/{name}.verdicts.csv", newline="") as f:
            verdicts = {(v["engine"], v["connections"]): v for v in csv.DictReader(f)}
        row = []
        for key in cells:
            v = verdicts[key]
            row.append(f"{float(v['median_ratio']):.3f} ({float(v['ratio_low']):.3f} to {float(v['ratio_high']):.3f}) {v['verdict']}")
        same = ""
        if previous is not None and label.endswith("again"):
            agree = sum(previous[k]["verdict"] == v["verdict"] for k, v in verdicts.items() if k in previous)
            same = f"{agree} of {len(verdicts)}"
        out.append(f"| {label} (`{name}`) | " + " | ".join(row) + f" | {same} |")
        previous = verdicts
    out.append("")
    return out


def main():
    out = []
    out.append("### Noise, with and without a quota\n")
    out.append("`./scripts/method.sh`: reactor and epoll-raw, 64-byte echo, 100 connections, 3 s cells, "
               "pinned, 6 paired rounds; first without a quota, then with `--server-cpu 0.5`.\n")
    out.append("| | epoll-raw req/s over the rounds | reactor ÷ epoll-raw, per round | verdict |")
    out.append("|---|---|---|---|")
    for label, name in [("no quota", "method-no-quota"), ("quota 0.5 core", "method-quota")]:
        rows = load(name)
        base = [float(r["req_per_s"]) for r in measured(rows, "epoll-raw")]
        out.append(f"| {label} | {spread(base)} | {', '.join(f'{x:.3f}' for x in ratios(rows))} | {verdict_line(name)} |")
    out.append("")
    out.append("### The quota's period\n")
    out.append("Same cell, `--server-cpu 0.5`, 3 rounds for each `--quota-period`:\n")
    out.append("| period | server CPU used, share of a core (quota 0.5), lowest to highest | epoll-raw req/s, median round | p50 µs | p99 µs | max µs | reactor ÷ epoll-raw, per round |")
    out.append("|---|---|---|---|---|---|---|")
    for period in ["1ms", "5ms", "10ms", "100ms"]:
        rows = load(f"method-period-{period}")
        base = sorted(measured(rows, "epoll-raw"), key=lambda r: float(r["req_per_s"]))
        m = base[(len(base) - 1) // 2]
        shares = [float(r["server_cpu_s"]) / float(r["duration_s"]) for r in rows if r["round"] != "0"]
        out.append(f"| {period} | {min(shares):.3f} to {max(shares):.3f} | {float(m['req_per_s']):,.0f} | {int(m['p50_us']):,} | {int(m['p99_us']):,} | {int(m['max_us']):,} "
                   f"| {', '.join(f'{x:.3f}' for x in ratios(rows))} |")
    out.append("")
    out.append("### What counting system calls costs\n")
    rows = load("method-quota")
    lines = []
    for engine in ["epoll-raw", "reactor"]:
        counting = [r for r in rows if r["engine"] == engine and r["round"] == "0"]
        if not counting:
            continue
        rate = statistics.median(float(r["req_per_s"]) for r in measured(rows, engine))
        c = counting[0]
        lines.append(f"- {engine}: {float(c['req_per_s']):,.0f} req/s in the counting round, against a median of "
                     f"{rate:,.0f} in the measured rounds ({(float(c['req_per_s']) / rate - 1) * 100:+.1f}%), "
                     f"with {int(c['server_syscalls']) / int(c['requests']):.2f} server system calls per request.")
    out += lines or ["(no counting round in results/method-quota.csv: tracefs was not available)"]
    out.append("")
    verdicts = ROOT / "results/verdicts.csv"
    if verdicts.exists():
        out.append("### What side by side cancels\n")
        out.append("From the README's run (`results/verdicts.csv`, side by side, quota 0.4, 10 rounds of 2 s): "
                   "epoll-raw's req/s moves by tens of percent over its runs (with the machine's moments, and "
                   "with the server beside it: every engine's pairs are counted here), but within a pair "
                   "both sides move alike, so reactor's ratio hardly moves.\n")
        out.append("| cell | epoll-raw CPU used, share of a core | epoll-raw req/s over its runs | reactor ÷ epoll-raw, per round, lowest to highest | 95% interval of the median |")
        out.append("|---|---|---|---|---|")
        rows = [r for r in load("verdicts") if r["round"] != "0"]
        with open(ROOT / "results/verdicts.verdicts.csv", newline="") as f:
            intervals = {(v["engine"], v["connections"]): v for v in csv.DictReader(f)}
        for conns in ["100", "1000"]:
            cell = [r for r in rows if r["connections"] == conns]
            base = [r for r in cell if r["engine"] == "epoll-raw"]
            shares = [float(r["server_cpu_s"]) / float(r["duration_s"]) for r in base if float(r["duration_s"]) > 0]
            per_round = []
            for r in cell:
                if r["engine"] != "reactor":
                    continue
                partner = [b for b in base if b["round"] == r["round"] and b.get("beside", "") == ("reactor" if r.get("beside") else "")]
                if partner:
                    per_round.append(float(r["req_per_s"]) / float(partner[0]["req_per_s"]))
            v = intervals[("reactor", conns)]
            out.append(f"| {conns} connections | {min(shares):.3f} to {max(shares):.3f} "
                       f"| {spread([float(r['req_per_s']) for r in base])} "
                       f"| {min(per_round):.3f} to {max(per_round):.3f} "
                       f"| {float(v['ratio_low']):.3f} to {float(v['ratio_high']):.3f} |")
        out.append("")
    if (ROOT / "results/kept-servers-1.verdicts.csv").exists() and (ROOT / "results/verdicts-2.verdicts.csv").exists():
        out += fresh_servers_section()
    if (ROOT / "results/method-side-by-side-as-is.csv").exists():
        out.append("### Turns against side by side\n")
        out.append("`./scripts/method.sh`: reactor against epoll-raw, 64-byte echo, 2 s cells, pinned, "
                   "`--server-cpu 0.4`, 10 rounds; once taking turns (back to back), once side by side "
                   "(`--side-by-side`); first on the machine as it was, then with `scripts/burner.py` "
                   "spinning on both cores in random bursts of 50 to 500 ms. *At quota*: the share of "
                   "measured runs in which the server used 95% or more of its quota.\n")
        out.append("| machine | pairing | connections | reactor ÷ epoll-raw, median | 95% interval | width | verdict | at quota |")
        out.append("|---|---|---|---|---|---|---|---|")
        for state, label in [("as-is", "as it was"), ("busy", "busy (burner)")]:
            for pairing, name in [("turns", f"method-turns-{state}"), ("side by side", f"method-side-by-side-{state}")]:
                if not (ROOT / f"results/{name}.csv").exists():
                    continue
                rows = [r for r in load(name) if r["round"] != "0"]
                with open(ROOT / f"results/{name}.verdicts.csv", newline="") as f:
                    verdicts = {v["connections"]: v for v in csv.DictReader(f) if v["engine"] == "reactor"}
                for conns, v in sorted(verdicts.items(), key=lambda kv: int(kv[0])):
                    cell = [r for r in rows if r["connections"] == conns]
                    at_quota = sum(float(r["server_cpu_s"]) >= 0.95 * float(r["server_cpu_quota"]) * float(r["duration_s"])
                                   for r in cell if float(r["duration_s"]) > 0)
                    low, high = float(v["ratio_low"]), float(v["ratio_high"])
                    out.append(f"| {label} | {pairing} | {conns} | {float(v['median_ratio']):.3f} | {low:.3f} to {high:.3f} "
                               f"| ±{(high - low) / 2 * 100:.1f}% | {v['verdict']} | {at_quota} of {len(cell)} |")
        out.append("")
        out.append("Machines (`results/method-side-by-side-as-is.machine.txt`, `results/method-side-by-side-busy.machine.txt`):\n")
        for name in ["method-side-by-side-as-is", "method-side-by-side-busy"]:
            if (ROOT / f"results/{name}.machine.txt").exists():
                out.append("```text\n" + machine(name) + "\n```\n")
    out.append("Machine (`results/method-quota.machine.txt`):\n")
    out.append("```text\n" + machine("method-quota") + "\n```\n")
    doc = ROOT / "docs/METHOD.md"
    text = doc.read_text()
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    doc.write_text(head + BEGIN + "\n" + "\n".join(out) + END + tail)
    print("docs/METHOD.md measured section rewritten from results/method-*.csv")


if __name__ == "__main__":
    main()
