#!/usr/bin/env python3
"""Write the README's results section from a `compare` CSV, so that every
number in the README comes out of a measurement, not a keyboard.

    python3 scripts/readme-results.py [results/full.csv]

Replaces everything between `<!-- results:begin -->` and
`<!-- results:end -->` in README.md with pivot tables of the CSV, the
machine file it names, and links to the SVG plots beside it.
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


def cell(row):
    """req/s and p99 of one cell; errors shown when there were any."""
    if row is None:
        return "not run"
    rate = f"{float(row['req_per_s']):,.0f} req/s"
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
    duration = float(row["duration_s"])
    if duration <= 0:
        return "no measured window"
    share = lambda key: 100 * float(row[key]) / duration
    return f"server {share('server_cpu_s'):.1f}%, load {share('client_cpu_s'):.1f}%"


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


def main():
    csv_path = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "results/full.csv").resolve()
    readme = ROOT / "README.md"
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        sys.exit(f"README.md lacks the {BEGIN} / {END} markers")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(head + BEGIN + "\n" + section(csv_path) + END + tail)
    print(f"README.md results section rewritten from {csv_path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
