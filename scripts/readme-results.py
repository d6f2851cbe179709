#!/usr/bin/env python3
"""Write the README's results section from `compare` CSVs, so that every
number in the README comes out of a measurement, not a keyboard.

    python3 scripts/readme-results.py [results/full.csv [results/bars.csv]]

Replaces everything between `<!-- results:begin -->` and
`<!-- results:end -->` in README.md with pivot tables of the full run, the
machine file it names, links to the SVG plots beside it, and, when the
second CSV exists, a table of its repeated runs (`--repeat`): each cell's
median run with the lowest and highest req/s of all its runs.
"""

import csv
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
ENGINE_ORDER = ["iterative", "threaded", "pool", "reactor", "tokio", "epoll-raw"]


def load(csv_path):
    with open(csv_path, newline="") as f:
        return list(csv.DictReader(f))


def pick(rows, **want):
    return [r for r in rows if all(r[k] == v for k, v in want.items())]


# As `compare` marks them (GENERATOR_SATURATED_PERCENT in src/compare/table.rs):
# a pinned generator that used this share of its core may be what a cell measured.
GENERATOR_SATURATED_PERCENT = 95.0
GENERATOR_MARK = "†"


def core_share(row, key):
    """CPU seconds in column `key` over the measured window, as a percentage
    of one core; None without a measured window."""
    duration = float(row["duration_s"])
    return 100 * float(row[key]) / duration if duration > 0 else None


def core_share_text(row, key):
    share = core_share(row, key)
    return "-" if share is None else f"{share:.1f}%"


def generator_saturated(row):
    share = core_share(row, "client_cpu_s")
    return row.get("pinned") == "true" and share is not None and share >= GENERATOR_SATURATED_PERCENT


def cell(row):
    """req/s and p99 of one cell; errors shown when there were any, and a
    mark when the req/s may be the load generator's limit."""
    if row is None:
        return "not run"
    rate = f"{float(row['req_per_s']):,.0f} req/s"
    if generator_saturated(row):
        rate += GENERATOR_MARK
    p99 = row["p99_us"]
    text = f"{rate}, p99 {int(p99):,} µs" if p99 else f"{rate}, no answers"
    errors = int(row["errors"])
    if errors > 0:
        text += f", **{errors:,} error{'s' if errors != 1 else ''}**"
    return text


def cpu_cell(row):
    """Server and load generator CPU over the measured window, as shares of one core."""
    if row is None:
        return "not run"
    return f"server {core_share_text(row, 'server_cpu_s')}, load {core_share_text(row, 'client_cpu_s')}"


def pivot(rows, title, show=cell):
    """Rows: engines; columns: connection counts; each cell as `show` says."""
    conns = sorted({int(r["connections"]) for r in rows})
    engines = [e for e in ENGINE_ORDER if any(r["engine"] == e for r in rows)]
    out = [f"**{title}**", "", "| engine | " + " | ".join(f"{c} conn{'s' if c != 1 else ''}" for c in conns) + " |"]
    out.append("|---" * (len(conns) + 1) + "|")
    for engine in engines:
        cells = []
        for c in conns:
            match = [r for r in rows if r["engine"] == engine and int(r["connections"]) == c]
            cells.append(show(match[0] if match else None))
        out.append(f"| {engine} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def section(csv_path):
    rows = load(csv_path)
    stem = csv_path.with_suffix("")
    machine = stem.with_name(stem.name + ".machine.txt").read_text().strip()
    rel = lambda p: p.relative_to(ROOT).as_posix()
    parts = [
        f"Measured on this project's 2-core test machine; `{rel(csv_path)}` has every cell "
        f"({len(rows)} rows), `{rel(stem.with_name(stem.name + '.machine.txt'))}` says how:",
        "",
        "```text\n" + machine + "\n```",
        "",
        f"{GENERATOR_MARK} The pinned load generator used {GENERATOR_SATURATED_PERCENT:.0f}% or more "
        "of its core in that cell: its req/s may be the generator's limit, so read it as a lower "
        "bound for the server.",
        "",
    ]
    tables = [
        ("64-byte echo, one request at a time per connection", dict(size="64", pipeline="1", work="none")),
        ("64-byte echo, 16 requests pipelined per connection", dict(size="64", pipeline="16", work="none")),
        ("4 KiB echo, one request at a time", dict(size="4096", pipeline="1", work="none")),
        ("64-byte echo, each request sleeps 1 ms in the server (`--work sleep:1ms`)", dict(size="64", pipeline="1", work="sleep:1ms")),
        ("64-byte echo, each request spins the CPU 100 µs (`--work cpu:100us`)", dict(size="64", pipeline="1", work="cpu:100us")),
    ]
    for title, want in tables:
        chosen = pick(rows, service="echo", **want)
        if chosen:
            parts.append(pivot(chosen, title))
    # Which side was the limit: with each pinned to its own core, a load
    # generator near 100% of its core may be what the req/s above measure.
    chosen = pick(rows, service="echo", size="64", pipeline="1", work="none")
    if chosen:
        parts.append(pivot(
            chosen,
            "Server and load generator CPU, 64-byte echo, one request at a time (share of one core each)",
            show=cpu_cell,
        ))
        parts.append(
            "CPU time over each cell's measured window. A load share near 100% means that cell's "
            "req/s may be the generator's limit rather than the server's: against the fastest "
            "servers the two sides are at parity, because on loopback each side's send runs the "
            "other's receive path.\n"
        )
    plots = sorted(p.name for p in stem.parent.glob(stem.name + "-*.svg") if p.name.count("-") <= 2)
    for name in plots:
        parts.append(f"![{name}]({rel(stem.parent / name)})")
    return "\n".join(parts) + "\n"


def repeated_section(csv_path):
    """One line per cell of a `--repeat` run: the median run, and the spread."""
    rows = load(csv_path)
    rel = csv_path.relative_to(ROOT).as_posix()
    machine_path = csv_path.with_name(csv_path.stem + ".machine.txt")
    machine = machine_path.read_text().strip()
    runs = sorted({int(r.get("runs") or 1) for r in rows})
    out = [
        f"**Repeated runs** (`{rel}`, {' or '.join(map(str, runs))} runs per cell, "
        "round after round): each line is the cell's median run by req/s; the range is the "
        "lowest and highest req/s of all its runs. Two servers whose ranges overlap are not "
        "told apart on this machine by one run.",
        "",
        "```text\n" + machine + "\n```",
        "",
        "| engine | conns | req/s, median run | req/s, lowest to highest | p99 µs | server CPU | load CPU |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        low, high = r.get("req_per_s_min"), r.get("req_per_s_max")
        spread = f"{float(low):,.0f} to {float(high):,.0f}" if low and high else "-"
        p99 = f"{int(r['p99_us']):,}" if r["p99_us"] else "-"
        out.append(
            f"| {r['engine']} | {r['connections']} | {float(r['req_per_s']):,.0f} | {spread} | {p99} "
            f"| {core_share_text(r, 'server_cpu_s')} | {core_share_text(r, 'client_cpu_s')} |"
        )
    return "\n".join(out) + "\n"


def main():
    csv_path = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "results/full.csv").resolve()
    bars_path = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else ROOT / "results/bars.csv").resolve()
    readme = ROOT / "README.md"
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        sys.exit(f"README.md lacks the {BEGIN} / {END} markers")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    generated = section(csv_path)
    sources = [csv_path.relative_to(ROOT).as_posix()]
    if bars_path.exists():
        generated += "\n" + repeated_section(bars_path)
        sources.append(bars_path.relative_to(ROOT).as_posix())
    readme.write_text(head + BEGIN + "\n" + generated + END + tail)
    print(f"README.md results section rewritten from {' and '.join(sources)}")


if __name__ == "__main__":
    main()
