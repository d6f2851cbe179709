#!/usr/bin/env python3
"""Write the results from `compare` CSVs, so that every number in the
README and in docs/RESULTS.md comes out of a measurement, not a keyboard.

    python3 scripts/readme-results.py          # rewrite both
    python3 scripts/readme-results.py --check  # exit 1 if either is stale

Replaces everything between `<!-- results:begin -->` and
`<!-- results:end -->` in README.md with a summary of what the runs found
(one line per claim, each with its figure and a link to its table), and
between the same markers in docs/RESULTS.md with the full tables:

1. the verdicts of `results/verdicts.*` (and of `results/offload.*` and
   `results/loops.*`, the same method on blocking work and on two loops) (server-bound cells, paired rounds,
   each engine's median ratio to the baseline with its 95% interval), and
   whether the same command run again (`results/verdicts-2.*`) gave the
   same verdicts;
2. the cost per request of each engine in that run (CPU, system calls,
   context switches, server and load generator);
3. single-run tables of `results/full.*` where one run teaches something
   (the iterative engine's timeouts, simulated work), labelled as such;
4. the scenarios of `results/c10k.*` and `results/c100k.*`: connections held
   and memory per connection (user and kernel) per model;
5. the idle-connections curve of `results/idle.*` (`compare --scenario
   idle`): each server's CPU per request beside 0, 1,000 and 10,000 idle
   connections and its growth from 0, also written between
   `<!-- idle:begin -->` and `<!-- idle:end -->` in docs/LECTURE.md ("Why
   epoll exists"). Until that run is committed, those places say so;
6. Stevens' server-design table of `results/unp.*` (`compare --scenario
   unp`): the designs' CPU per connection and the book's claims checked,
   as `compare` wrote them in `results/unp.table.txt` (the table is made
   once, in src/compare/unp.rs), between `<!-- unp:begin -->` and
   `<!-- unp:end -->` in docs/LECTURE.md, with one line of it in the
   README. Until that run is committed, those places say so;
7. the servers people run (`scripts/real-servers-compare.sh`): nginx and
   Apache's MPMs against sockbench's engines by the verdict method
   (`results/servers-http.*`), Redis and memcached (`results/servers-redis.*`,
   `results/servers-memcached.*`) and the c10k scenario over the Apache MPMs
   (`results/c10k-apache.*`), written between `<!-- servers:begin -->` and
   `<!-- servers:end -->` in README.md ("Your own server"). Until those runs
   are committed, it says so.

Every table names the file and the machine file it came from.
"""

import csv
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
# The section titles of docs/RESULTS.md, which the README's summary links to.
VERDICTS = "Verdicts"
URING = "Completion against readiness: uring"
OFFLOAD = "Blocking work: the offload pool"
LOOPS = "Two event loops on two shared cores"
SINGLE_RUNS = "Single runs"
SCENARIOS = "Connections held and memory per connection"
IDLE = "Idle connections: why epoll exists"
IDLE_BEGIN, IDLE_END = "<!-- idle:begin -->", "<!-- idle:end -->"
UNP_BEGIN, UNP_END = "<!-- unp:begin -->", "<!-- unp:end -->"
# The heading compare writes above the UNP tables (src/compare/mod.rs).
UNP_HEADING = "UNP chapter 30, a connection per request"
SERVERS_BEGIN, SERVERS_END = "<!-- servers:begin -->", "<!-- servers:end -->"
SERVERS_SCRIPT = "./scripts/real-servers-compare.sh"
# As `compare` computes intervals (CONFIDENCE in src/compare/verdict.rs).
CONFIDENCE = 0.95
ENGINE_ORDER = ["iterative", "threaded", "pool", "select", "poll", "reactor", "uring", "offload", "reactor-x2", "prefork-x2", "tokio", "epoll-raw",
                "nginx", "apache-event", "apache-worker", "apache-prefork", "redis", "memcached"]


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
    # Side by side, two load runs share the generator's core: the whole
    # generator process's CPU (load_core_cpu_s) is what fills it.
    share = core_share(row, "load_core_cpu_s" if row.get("load_core_cpu_s") else "client_cpu_s")
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


def rel(path):
    return path.relative_to(ROOT).as_posix()


def machine_block(csv_path):
    machine = csv_path.with_name(csv_path.stem + ".machine.txt")
    return f"`{rel(machine)}`:\n\n```text\n" + machine.read_text().strip() + "\n```\n"


def single_run_section(csv_path):
    """The single-run tables that teach something: the iterative engine's
    timeouts, and simulated work. Read only the rows of round 1 (files from
    before rounds have no round column: every row is round 1)."""
    rows = [r for r in load(csv_path) if r.get("round", "1") == "1"]
    parts = [
        f"## {SINGLE_RUNS}\n\n`{rel(csv_path)}`, {len(rows)} cells, one run each. One run of a cell "
        "moves by 20% or more on this machine, so these tables are not verdicts between fast "
        "servers (the verdicts above are); they show what is many times larger than that noise: "
        "an iterative server timing out all but one client, blocking work stalling an event loop. "
        f"{GENERATOR_MARK} marks a cell whose pinned load generator used "
        f"{GENERATOR_SATURATED_PERCENT:.0f}% or more of its core. Measured as "
        + machine_block(csv_path),
    ]
    tables = [
        ("64-byte echo, one request at a time per connection (single run)", dict(size="64", pipeline="1", work="none")),
        ("64-byte echo, each request sleeps 1 ms in the server (`--work sleep:1ms`, single run)", dict(size="64", pipeline="1", work="sleep:1ms")),
        ("64-byte echo, each request spins the CPU 100 µs (`--work cpu:100us`, single run)", dict(size="64", pipeline="1", work="cpu:100us")),
    ]
    for title, want in tables:
        chosen = pick(rows, service="echo", **want)
        if chosen:
            parts.append(pivot(chosen, title))
    stem = csv_path.with_suffix("")
    plots = sorted(p.name for p in stem.parent.glob(stem.name + "-*.svg") if p.name.count("-") <= 2)
    for name in plots:
        parts.append(f"![{name}]({rel(stem.parent / name)})")
    return "\n".join(parts) + "\n"


def per_request(row, column):
    """`column` divided by the row's requests; None when either is missing."""
    if row is None or not row.get(column) or int(row["requests"]) == 0:
        return None
    return float(row[column]) / int(row["requests"])


def fmt(value, spec):
    return "n/a" if value is None else format(value, spec)


def median_round(rows):
    """The row with the median req/s (the lower middle one for an even count),
    as `compare` picks it."""
    ordered = sorted(rows, key=lambda r: float(r["req_per_s"]))
    return ordered[(len(ordered) - 1) // 2] if ordered else None


def bound(row):
    """The side that used up its share, as `compare`'s bound column says
    (src/compare/table.rs, bottleneck)."""
    server = core_share(row, "server_cpu_s")
    quota = float(row["server_cpu_quota"]) if row.get("server_cpu_quota") else None
    server_full = quota is not None and server is not None and server >= GENERATOR_SATURATED_PERCENT * quota
    load_full = generator_saturated(row)
    return {(True, True): "both", (True, False): "server", (False, True): "load"}.get(
        (server_full, load_full), "neither")


def verdict_agreement(stem, again_stem):
    """(same, total, how the others differ) between the verdicts of two runs
    of one command; None when the second run is not committed."""
    again = ROOT / f"results/{again_stem}.verdicts.csv"
    if not again.exists():
        return None
    verdicts = load(ROOT / f"results/{stem}.verdicts.csv")
    second = {(v["engine"], v["connections"]): v for v in load(again)}
    differ = [
        f"{v['engine']} at {v['connections']} connections ({v['verdict']}, then {second[(v['engine'], v['connections'])]['verdict']})"
        for v in verdicts
        if (v["engine"], v["connections"]) in second
        and second[(v["engine"], v["connections"])]["verdict"] != v["verdict"]
    ]
    return len(verdicts) - len(differ), len(verdicts), differ


def verdicts_section(stem, again_stem=None, title=VERDICTS, costs=True):
    csv_path = ROOT / f"results/{stem}.csv"
    rows = load(csv_path)
    verdicts = load(ROOT / f"results/{stem}.verdicts.csv")
    baseline = verdicts[0]["baseline"]
    measured = [r for r in rows if r["round"] != "0"]
    rounds = max(int(r["round"]) for r in measured)
    quota = measured[0].get("server_cpu_quota")
    work = measured[0]["work"]
    held = (f"every server held to the same CPU quota ({quota} of a core) so that it, not the load "
            "generator, is the bottleneck" if quota else
            "no CPU quota (the servers use what the machine gives them)")
    pairing = ("each cell at the same moment as the baseline (side by side: both servers on one core "
               "under equal quotas, a load run for each; the servers' order rotated from one cell to the next)"
               if any(r.get("beside") for r in measured) else
               "each cell back to back (order rotated from one cell to the next)")
    fresh = ("fresh server processes in each round, so that what one process happens to get (its "
             "memory layout) is sampled like any other noise; "
             if "fresh process in each round" in (ROOT / f"results/{stem}.machine.txt").read_text() else "")
    out = [
        f"## {title}\n\n`{rel(csv_path)}` and `results/{stem}.verdicts.csv` (64-byte echo, "
        f"work `{work}`): {held}; {rounds} paired rounds, in each of which every server runs "
        f"{pairing}; {fresh}per cell, the median of "
        f"the rounds' req/s ratios to `{baseline}`, a distribution-free 95% interval for that "
        "median, and the verdict: *faster* or *slower* when the whole interval is on one side "
        "of 1.0, *no difference* when it contains 1.0. `docs/METHOD.md` says why and what the "
        "interval does not say. Measured as " + machine_block(csv_path),
        f"| engine | conns | req/s ÷ {baseline}, median | 95% interval | verdict | req/s, median round | p99 µs | bound |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for v in sorted(verdicts, key=lambda v: (ENGINE_ORDER.index(v["engine"]) if v["engine"] in ENGINE_ORDER else 99, int(v["connections"]))):
        cell_rows = [r for r in measured if r["engine"] == v["engine"] and r["connections"] == v["connections"]]
        m = median_round(cell_rows)
        interval = "-"
        if v["ratio_low"] and v["ratio_high"]:
            low, high = float(v["ratio_low"]), float(v["ratio_high"])
            interval = f"{low:.3f} to {high:.3f} ({(low - 1) * 100:+.1f}% to {(high - 1) * 100:+.1f}%)"
        left_out = f" ({v['rounds_left_out']} rounds left out)" if v["rounds_left_out"] != "0" else ""
        ratio = fmt(float(v["median_ratio"]) if v["median_ratio"] else None, ".3f")
        p99 = f"{int(m['p99_us']):,}" if m and m["p99_us"] else "-"
        out.append(
            f"| {v['engine']} | {v['connections']} | {ratio} | {interval} | {v['verdict']}{left_out} "
            f"| {float(m['req_per_s']):,.0f} | {p99} | {bound(m)} |"
        )
    base_rows = [r for r in measured if r["engine"] == baseline]
    for conns in sorted({r["connections"] for r in base_rows}, key=int):
        m = median_round([r for r in base_rows if r["connections"] == conns])
        out.append(f"| {baseline} (baseline) | {conns} | 1 | | | {float(m['req_per_s']):,.0f} | {int(m['p99_us']):,} | {bound(m)} |")
    agreement = verdict_agreement(stem, again_stem) if again_stem else None
    if agreement is not None:
        same, total, differ = agreement
        out += ["", f"The same command run again (`results/{again_stem}.*`, its own machine file) gave the "
                f"same verdict in {same} of {total} cells"
                + (": " + "; ".join(differ) + "." if differ else ".")]
    for path in sorted(ROOT.glob(f"results/{stem}-vs-*.verdicts.csv")):
        other = load(path)
        through = ""
        if any(r.get("beside") for r in measured):
            through = (f"; side by side, the servers never ran beside `{other[0]['baseline']}`, so each round's "
                       f"ratio is the two pairs' ratios to `{baseline}` of that round, divided")
        out += ["", f"The same rows against `{other[0]['baseline']}` (`{rel(path)}`, written by "
                f"`sockbench verdict results/{stem}.csv --baseline {other[0]['baseline']} --out {rel(path)}`{through}):", "",
                f"| engine | conns | req/s ÷ {other[0]['baseline']}, median | 95% interval | verdict |", "|---|---|---|---|---|"]
        for v in other:
            if v["engine"] not in ("reactor", "epoll-raw"):
                continue
            low, high = float(v["ratio_low"]), float(v["ratio_high"])
            out.append(f"| {v['engine']} | {v['connections']} | {float(v['median_ratio']):.3f} | "
                       f"{low:.3f} to {high:.3f} ({(low - 1) * 100:+.1f}% to {(high - 1) * 100:+.1f}%) | {v['verdict']} |")
    if not costs:
        return "\n".join(out) + "\n"
    out += [
        "",
        "**Cost per request** (same run): CPU time and context switches from each cell's median "
        "round, system calls from the counting round (a run of at most 1 s per cell with the "
        "`raw_syscalls:sys_enter` tracepoint counted, left out of the throughput figures because "
        "counting slows every system call). Server: all its threads; load: the generator.",
        "",
        "| engine | conns | server CPU µs | server syscalls | server switches, voluntary | involuntary | load CPU µs | load syscalls | load switches, voluntary |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    engines = [e for e in ENGINE_ORDER if any(r["engine"] == e for r in rows)]
    engines += sorted({r["engine"] for r in rows} - set(engines))
    for engine in engines:
        for conns in sorted({r["connections"] for r in rows if r["engine"] == engine}, key=int):
            m = median_round([r for r in measured if r["engine"] == engine and r["connections"] == conns])
            counting = next((r for r in rows if r["round"] == "0" and r["engine"] == engine and r["connections"] == conns), None)
            cpu = lambda key: float(m[key]) * 1e6 / int(m["requests"]) if int(m["requests"]) else None
            out.append(
                f"| {engine} | {conns} | {fmt(cpu('server_cpu_s'), '.2f')} | {fmt(per_request(counting, 'server_syscalls'), '.2f')} "
                f"| {fmt(per_request(m, 'server_vcsw'), '.3f')} | {fmt(per_request(m, 'server_ivcsw'), '.3f')} "
                f"| {fmt(cpu('client_cpu_s'), '.2f')} | {fmt(per_request(counting, 'client_syscalls'), '.2f')} "
                f"| {fmt(per_request(m, 'client_vcsw'), '.3f')} |"
            )
    return "\n".join(out) + "\n"


def others(row):
    """Cores the rest of the machine used in a scenario row's window."""
    return row.get("other_cores") or "-"


def scenario_section(stems):
    """Connections held and memory per connection, one row per server of
    each scenario run (`compare --scenario`), each run with its machine file."""
    paths = [ROOT / f"results/{stem}.csv" for stem in stems if (ROOT / f"results/{stem}.csv").exists()]
    if not paths:
        return None
    out = [
        f"## {SCENARIOS}\n\n"
        "How many connections each model holds, and what each costs "
        "(`compare --scenario`: open loop, 64-byte echo, each server a process of its own, "
        "measured once every connection is up). *Held*: connections the server held through "
        "the whole measured window (its sockets, sampled). *User*: the server's resident "
        "memory growth per connection held (all its processes). *Kernel*: the machine's growth "
        "in TCP buffer pages (`/proc/net/sockstat` `TCP: mem`) and in slab caches "
        "(`/proc/meminfo` `Slab`, where the socket structures live) per connection held, both "
        "ends of each loopback connection; machine-wide, so other work on the machine shows "
        "in it; divided by the connections the generator had up, since the kernel holds both ends "
        "of each, accepted or queued. *Others*: cores the rest of the machine used in the window "
        "(its busy time less the server's and the load's). Latency from each request's intended "
        "send time.",
        "",
        "| scenario | engine | held / asked | req/s (asked) | p99 | errors | threads | server RSS | user per conn | kernel per conn: TCP buffers | slab | others |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    kib = lambda v: f"{float(v):.1f} KiB" if v else "-"
    for path in paths:
        for r in load(path):
            held = f"{int(r['server_connections']):,}" if r["server_connections"] else "-"
            p99 = r["p99_us"]
            p99 = "-" if not p99 else (f"{int(p99):,} µs" if int(p99) < 10_000 else f"{int(p99) / 1000:,.1f} ms")
            errors = int(r["errors"])
            errors = "0" if errors == 0 else f"**{errors:,}** ({r['errors_by_kind'].replace(';', ', ')})"
            rss = f"{int(r['server_rss_kb']) / 1024:,.1f} MiB" if r["server_rss_kb"] else "-"
            out.append(
                f"| {r['scenario']} | {r['engine']} | {held} / {int(r['connections']):,} "
                f"| {float(r['req_per_s']):,.0f} ({float(r['rate_per_s']):,.0f}) | {p99} | {errors} "
                f"| {r['server_threads'] or '-'} | {rss} | {kib(r['rss_per_connection_kib'])} "
                f"| {kib(r['tcp_buffers_per_connection_kib'])} | {kib(r['slab_per_connection_kib'])} "
                f"| {others(r)} |"
            )
    out.append("")
    for path in paths:
        out.append(f"`{rel(path)}`, where each server fell short in `{rel(path.with_suffix('.table.txt'))}`, measured as " + machine_block(path))
    return "\n".join(out) + "\n"


def binomial_half_cdf(n, j):
    """P(B <= j) for B ~ Binomial(n, 1/2)."""
    from math import comb
    return sum(comb(n, i) for i in range(0, min(j, n) + 1)) / 2 ** n


def median_interval(values):
    """(median, low, high, coverage): the median of `values` and the
    distribution-free interval around it, as src/compare/verdict.rs
    (median_interval) computes it; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    n = len(ordered)
    median = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
    tail = lambda k: binomial_half_cdf(n, k - 1)
    k = 1
    while k < (n + 1) // 2 and tail(k + 1) <= (1 - CONFIDENCE) / 2:
        k += 1
    return median, ordered[k - 1], ordered[n - k], 1 - 2 * tail(k)


def cpu_us_per_request(row):
    """The server's CPU per request in µs, where the run finished and answered
    (src/compare/curve.rs, cpu_us_per_request)."""
    if row is None or row["outcome"] != "finished" or int(row["requests"]) == 0:
        return None
    return float(row["server_cpu_s"]) * 1e6 / int(row["requests"])


def idle_key(row):
    """What makes rows the same cell, idle count included."""
    return tuple(row[k] for k in ("engine", "transport", "service", "work", "connections", "pipeline", "size", "idle"))


def idle_growths(rows):
    """{(engine, idle): (median, low, high, coverage)}: each server's CPU per
    request at each idle count over its own at 0 in the same round (the same
    server process), median over the rounds and its interval, as
    src/compare/curve.rs (growth_factors) computes it."""
    measured = [r for r in rows if r["round"] != "0"]
    growths = {}
    for key in dict.fromkeys(idle_key(r) for r in measured if r["idle"] != "0"):
        zero_key = key[:-1] + ("0",)
        ratios = []
        for at in (r for r in measured if idle_key(r) == key):
            zero = next((r for r in measured if idle_key(r) == zero_key and r["round"] == at["round"]), None)
            base, cost = cpu_us_per_request(zero), cpu_us_per_request(at)
            if base and cost is not None:
                ratios.append(cost / base)
        if ratios:
            growths[(key[0], int(key[-1]))] = median_interval(ratios)
    return growths


def growth_text(growth):
    if growth is None:
        return "-"
    median, low, high, coverage = growth
    return f"{median:.2f}×" + (f" [{low:.2f}, {high:.2f}]" if coverage >= CONFIDENCE else "")


def idle_table(stem="idle"):
    """The idle-connections table of `results/STEM.*`, one row per server and
    idle count (its median round), then the cells not run (from the table
    file: `select` above `FD_SETSIZE`, a server short of descriptors); None
    before that run is committed."""
    path = ROOT / f"results/{stem}.csv"
    if not path.exists():
        return None
    rows = load(path)
    growths = idle_growths(rows)
    cells = {}
    for r in rows:
        if r["round"] != "0":
            cells.setdefault(idle_key(r), []).append(r)
    order = lambda key: (ENGINE_ORDER.index(key[0]) if key[0] in ENGINE_ORDER else len(ENGINE_ORDER), int(key[-1]))
    rounds = max((len(runs) for runs in cells.values()), default=0)
    out = [
        f"`{rel(path)}`: {rounds} rounds; {next(iter(cells))[4]} active connections (closed loop, "
        f"{next(iter(cells))[6]}-byte echo) beside the idle ones, every server under the same CPU quota. "
        "*CPU/req*: the server's CPU time per request of the active connections (median round). "
        "*Syscalls/req*: in the counting round. *Sockets*: what the server held at the window's end "
        "(its own count, `/proc`). *Growth*: CPU/req over the same server's at 0 idle, round by round, "
        "median of the rounds" + (" [95% interval]" if rounds >= 6 else "") + ".",
        "",
        "| engine | idle | req/s | CPU/req | syscalls/req | sockets | growth from 0 idle |",
        "|---|---|---|---|---|---|---|",
    ]
    for key in sorted(cells, key=order):
        r = median_round(cells[key])
        counting = next((c for c in rows if c["round"] == "0" and idle_key(c) == key), None)
        growth = "1.00×" if key[-1] == "0" else growth_text(growths.get((key[0], int(key[-1]))))
        cpu = cpu_us_per_request(r)
        out.append(
            f"| {key[0]} | {int(key[-1]):,} | {float(r['req_per_s']):,.0f} | {fmt(cpu, '.2f')} µs "
            f"| {fmt(per_request(counting, 'server_syscalls'), '.2f')} | {r.get('server_sockets') or 'n/a'} | {growth} |"
        )
    table = path.with_suffix(".table.txt")
    not_run = [line for line in table.read_text().splitlines() if line.startswith("not run: ")] if table.exists() else []
    if not_run:
        out.append("")
        out.extend(f"- {line}" for line in not_run)
    out.append("")
    out.append("Measured as " + machine_block(path))
    return "\n".join(out) + "\n"


def idle_summary(stem="idle"):
    """The README's line on the idle curve: each server's growth at the most
    idle connections it ran; None before that run is committed."""
    path = ROOT / f"results/{stem}.csv"
    if not path.exists():
        return None
    rows = load(path)
    growths = idle_growths(rows)
    active = rows[0]["connections"]
    most_idle = max(int(r["idle"]) for r in rows)
    most = {}
    for (engine, idle), growth in growths.items():
        if idle > most.get(engine, (0, None))[0]:
            most[engine] = (idle, growth)
    listed = ", ".join(f"{e} {growth_text(g)} at {i:,}" for e in ENGINE_ORDER + sorted(most) if e in most
                       for i, g in [most.pop(e)])
    return (f"- **Idle connections** ({active} active beside up to {most_idle:,} idle): the server's CPU per request "
            f"as a multiple of its own with none: {listed} ([idle]({anchor(IDLE)})).")


def anchor(title):
    """The link to a `## title` section of docs/RESULTS.md (GitHub's anchor:
    lowercase, punctuation dropped, spaces as hyphens)."""
    slug = "".join(c for c in title.lower() if c.isalnum() or c in " -").replace(" ", "-")
    return f"docs/RESULTS.md#{slug}"


class Run:
    """One committed `compare` run (`results/STEM.csv`) and its verdicts."""

    def __init__(self, stem):
        self.rows = load(ROOT / f"results/{stem}.csv")
        path = ROOT / f"results/{stem}.verdicts.csv"
        self.verdicts = {(v["engine"], v["connections"]): v for v in load(path)} if path.exists() else {}

    def ratio(self, engine, conns):
        """The median ratio to the baseline and the verdict, as the table shows them."""
        v = self.verdicts[(engine, str(conns))]
        return f"{float(v['median_ratio']):.2f}", v["verdict"]

    def median(self, engine, conns):
        """The cell's median round, as the tables pick it."""
        return median_round([r for r in self.rows if r["round"] != "0" and r["engine"] == engine
                             and r["connections"] == str(conns)])

    def counting(self, engine, conns):
        """The cell's system-call counting round."""
        return next(r for r in self.rows if r["round"] == "0" and r["engine"] == engine
                    and r["connections"] == str(conns))


def summary():
    """What the committed runs found, one claim a line, each with its figures
    and a link to the table in docs/RESULTS.md that holds them."""
    machine = dict(line.split(": ", 1) for line in (ROOT / "results/verdicts.machine.txt").read_text().splitlines()
                   if ": " in line)
    lines = [f"On the machine of the committed runs ({machine['nproc']} cores, {machine['cpu']}, Linux "
             f"{machine['kernel']}; each run's own machine file is beside it in `results/`):", ""]
    verdicts = Run("verdicts")
    ratios = lambda run, conns, engines: ", ".join(
        f"{e} {run.ratio(e, conns)[0]}" + ("" if run.ratio(e, conns)[1] == "slower" else f" ({run.ratio(e, conns)[1]})")
        for e in engines)
    baseline = next(iter(verdicts.verdicts.values()))["baseline"]
    engines = [e for e in ENGINE_ORDER if (e, "100") in verdicts.verdicts]
    lines.append(f"- **Under the same CPU quota, 100 connections**: req/s as a share of `{baseline}`'s (the "
                 f"leanest epoll loop), median of paired rounds: {ratios(verdicts, 100, engines)} "
                 f"([verdicts]({anchor(VERDICTS)})).")
    lines.append(f"- **The same at 1000 connections**: {ratios(verdicts, 1000, engines)} "
                 f"([verdicts]({anchor(VERDICTS)})).")
    same, total, _ = verdict_agreement("verdicts", "verdicts-2")
    lines.append(f"- **Run again**, the same command gave the same verdict in {same} of {total} cells "
                 f"([verdicts]({anchor(VERDICTS)})).")
    cost = lambda e: float(verdicts.median(e, 100)["server_cpu_s"]) * 1e6 / int(verdicts.median(e, 100)["requests"])
    switches = lambda e: per_request(verdicts.median(e, 100), "server_vcsw")
    lines.append(f"- **What a request costs the server** at 100 connections: threaded {cost('threaded'):.1f} µs of CPU "
                 f"and {switches('threaded'):.2f} voluntary context switches, reactor {cost('reactor'):.1f} µs and "
                 f"{switches('reactor'):.3f} ([cost per request]({anchor(VERDICTS)})).")
    full = [r for r in load(ROOT / "results/full.csv") if r.get("round", "1") == "1"
            and r["service"] == "echo" and r["work"] == "none" and r["size"] == "64"
            and r["pipeline"] == "1" and r["connections"] == "100"]
    errors = ", ".join(f"{r['engine']} {int(r['errors']):,}" for e in ENGINE_ORDER for r in full if r["engine"] == e)
    lines.append(f"- **A blocking server serves as many clients as it has threads**: errors (timeouts) with "
                 f"100 connections, one run: {errors} "
                 f"([single runs]({anchor(SINGLE_RUNS)})).")
    uring = Run("uring-verdicts")
    syscalls = lambda e: per_request(uring.counting(e, 100), "server_syscalls")
    ratio, verdict = uring.ratio("uring", 100)
    lines.append(f"- **Completions instead of readiness**: uring {ratio}× `{baseline}`'s req/s at 100 "
                 f"connections ({verdict}), with {syscalls('uring'):.2f} system calls per request against the "
                 f"reactor's {syscalls('reactor'):.2f} ([uring]({anchor(URING)})).")
    offload = Run("offload")
    work = offload.rows[0]["work"]
    base = next(iter(offload.verdicts.values()))["baseline"]
    lines.append(f"- **Blocking work** (`{work}` per request, 100 connections), req/s as a share of "
                 f"`{base}`'s: {ratios(offload, 100, ['reactor', 'pool', 'offload'])} "
                 f"([offload]({anchor(OFFLOAD)})).")
    loops = Run("loops")
    ratio, verdict = loops.ratio("reactor-x2", 100)
    lines.append(f"- **A second event loop on 2 shared cores**: reactor-x2 {ratio}× one reactor's req/s at 100 "
                 f"connections ({verdict}) ([loops]({anchor(LOOPS)})).")
    for stem in ["c10k", "c100k"]:
        rows = load(ROOT / f"results/{stem}.csv")
        held = "; ".join(
            f"{r['engine']} {int(r['server_connections'] or 0):,}"
            + (f" ({float(r['rss_per_connection_kib']):.1f} KiB user, {float(r['slab_per_connection_kib']):.1f} KiB "
               "kernel slab each)" if r["rss_per_connection_kib"] and r["slab_per_connection_kib"] else "")
            for r in rows if r["engine"] in ("threaded", "reactor", "prefork-x8"))
        lines.append(f"- **{stem}**: connections held of {int(rows[0]['connections']):,}: {held} "
                     f"(descriptor limit {int(rows[0]['descriptor_limit']):,} per process) "
                     f"([scenarios]({anchor(SCENARIOS)})).")
    idle = idle_summary()
    if idle:
        lines.append(idle)
    unp = unp_summary()
    if unp:
        lines.append(unp)
    return "\n".join(lines) + "\n"


def results_page():
    """The full tables of docs/RESULTS.md."""
    parts = []
    if (ROOT / "results/verdicts.verdicts.csv").exists():
        parts.append(verdicts_section("verdicts", "verdicts-2"))
    for stem, title, costs in [
        ("uring-verdicts", URING, True),
        ("offload", OFFLOAD, False),
        ("loops", LOOPS, False),
    ]:
        if (ROOT / f"results/{stem}.verdicts.csv").exists():
            parts.append(verdicts_section(stem, title=title, costs=costs))
    parts.append(single_run_section(ROOT / "results/full.csv"))
    scenarios = scenario_section(["c10k", "c100k"])
    if scenarios:
        parts.append(scenarios)
    idle = idle_table()
    if idle:
        parts.append(f"## {IDLE}\n\n" + idle)
    return "\n".join(parts)


def unp_tables(stem="unp"):
    """The UNP section of `results/STEM.table.txt` (the design table, the
    claims, what the columns mean) as compare wrote it; None before that
    run is committed."""
    table = ROOT / f"results/{stem}.table.txt"
    if not table.exists():
        return None
    lines = table.read_text().splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(UNP_HEADING)), None)
    if start is None:
        sys.exit(f"{rel(table)} has no '{UNP_HEADING}' section: is it a `compare --scenario unp` run?")
    # The section runs to the table's end, or to the next of compare's parts.
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith(("Against ", "wrote "))), len(lines))
    section = "\n".join(lines[start + 1:end]).strip("\n")
    return (f"`{rel(table)}`, as `compare --scenario unp` wrote it:\n\n```text\n{section}\n```\n\n"
            "Measured as " + machine_block(ROOT / f"results/{stem}.csv"))


def unp_summary(stem="unp"):
    """The README's line on the UNP table: how many of the book's claims
    hold here; None before that run is committed."""
    text = unp_tables(stem)
    if text is None:
        return None
    claims = [line for line in text.splitlines() if line.startswith("(") and ")" in line[:4]]
    verdicts = [next((c.strip() for c in line.split("  ")[1:] if c.strip()), "") for line in claims]
    holding = verdicts.count("holds")
    checked = holding + verdicts.count("does not hold")
    unchecked = f", {len(claims) - checked} not checked (designs not run)" if checked < len(claims) else ""
    return (f"- **Stevens' server designs (UNP ch. 30)**: {holding} of the {checked} claims of the book checked hold "
            f"on this machine{unchecked} ([the table](docs/LECTURE.md#stevens-server-design-table-on-todays-linux-unp-chapter-30)).")


def lecture_unp():
    """The UNP tables for docs/LECTURE.md, or what to do before they exist."""
    return unp_tables() or (
        "*(Not measured yet: no committed run. `./scripts/compare.sh --scenario unp --name unp` writes "
        "`results/unp.*`, then `python3 scripts/readme-results.py` puts its tables here.)*\n")


def lecture_curve():
    """The idle curve for docs/LECTURE.md, or what to do before it exists."""
    return idle_table() or (
        "*(No committed run yet: `compare --scenario idle --name idle` writes `results/idle.*`, "
        "then `python3 scripts/readme-results.py` puts its table here.)*\n")


def not_measured(what, files):
    return (f"*{what}: not measured yet. `{SERVERS_SCRIPT}` writes {files} on a quiet machine "
            "(about 15 minutes); then `python3 scripts/readme-results.py` puts the table here.*\n")


def measured_as(csv_path):
    machine = csv_path.with_name(csv_path.stem + ".machine.txt")
    return f"`{rel(csv_path)}`, measured as `{rel(machine)}` says"


def cost_cells(m, counting):
    """Server CPU µs, system calls and voluntary switches per request."""
    cpu = cpu_us_per_request(m)
    return (f"{fmt(cpu, '.1f')} | {fmt(per_request(counting, 'server_syscalls'), '.2f')} "
            f"| {fmt(per_request(m, 'server_vcsw'), '.3f')}")


def servers_http_table():
    """nginx and Apache's MPMs against sockbench's engines, by --verdicts."""
    path = ROOT / "results/servers-http.csv"
    verdicts_path = ROOT / "results/servers-http.verdicts.csv"
    if not path.exists() or not verdicts_path.exists():
        return not_measured("HTTP servers", "`results/servers-http.*`")
    rows = load(path)
    verdicts = load(verdicts_path)
    baseline = verdicts[0]["baseline"]
    measured = [r for r in rows if r["round"] != "0"]
    rounds = max(int(r["round"]) for r in measured)
    out = [f"**HTTP** (`--services http --verdicts`, {rounds} rounds side by side with `{baseline}`, each server "
           f"under {measured[0]['server_cpu_quota']} of a core): req/s as a share of `{baseline}`'s, median of the "
           "rounds, its 95% interval and the verdict; cost per request from the median round (system calls: the "
           "counting round). " + measured_as(path) + ".", "",
           f"| server | conns | req/s ÷ {baseline} | 95% interval | verdict | req/s | p99 µs | errors | server CPU µs/req | syscalls/req | voluntary switches/req |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    by_cell = {(v["engine"], v["connections"]): v for v in verdicts}
    engines = [e for e in ENGINE_ORDER if any(r["engine"] == e for r in rows)]
    for engine in engines:
        for conns in sorted({r["connections"] for r in measured if r["engine"] == engine}, key=int):
            m = median_round([r for r in measured if r["engine"] == engine and r["connections"] == conns])
            counting = next((r for r in rows if r["round"] == "0" and r["engine"] == engine and r["connections"] == conns), None)
            v = by_cell.get((engine, conns))
            if engine == baseline:
                ratio, interval, verdict = "1", "", "(baseline)"
            elif v is None:
                ratio, interval, verdict = "-", "-", "-"
            else:
                ratio = fmt(float(v["median_ratio"]) if v["median_ratio"] else None, ".3f")
                interval = (f"{float(v['ratio_low']):.3f} to {float(v['ratio_high']):.3f}"
                            if v["ratio_low"] and v["ratio_high"] else "-")
                verdict = v["verdict"]
            p99 = f"{int(m['p99_us']):,}" if m["p99_us"] else "-"
            out.append(f"| {engine} | {int(conns):,} | {ratio} | {interval} | {verdict} | {float(m['req_per_s']):,.0f} "
                       f"| {p99} | {int(m['errors']):,} | {cost_cells(m, counting)} |")
    return "\n".join(out) + "\n"


def servers_keyed_table():
    """Redis and memcached, each the only server of its protocol: req/s in
    rounds and the cost per request, no ratio."""
    paths = [ROOT / f"results/servers-{name}.csv" for name in ("redis", "memcached")]
    present = [p for p in paths if p.exists()]
    if not present:
        return not_measured("Redis and memcached", "`results/servers-redis.*` and `results/servers-memcached.*`")
    out = ["**Redis and memcached** (`--services redis`, `--services memcached`: PING and a get of one key, each "
           "server alone under the same quota, pinned, in rounds; there is no other server of their protocols to "
           "compare with, so no ratio): " + "; ".join(measured_as(p) for p in present) + ".", "",
           "| server | conns | req/s, median (range) | p99 µs | errors | server CPU µs/req | syscalls/req | voluntary switches/req |",
           "|---|---|---|---|---|---|---|---|"]
    for path in present:
        rows = load(path)
        measured = [r for r in rows if r["round"] != "0"]
        for engine in dict.fromkeys(r["engine"] for r in measured):
            for conns in sorted({r["connections"] for r in measured if r["engine"] == engine}, key=int):
                cell_rows = [r for r in measured if r["engine"] == engine and r["connections"] == conns]
                m = median_round(cell_rows)
                counting = next((r for r in rows if r["round"] == "0" and r["engine"] == engine and r["connections"] == conns), None)
                rates = [float(r["req_per_s"]) for r in cell_rows]
                p99 = f"{int(m['p99_us']):,}" if m["p99_us"] else "-"
                out.append(f"| {engine} | {int(conns):,} | {float(m['req_per_s']):,.0f} ({min(rates):,.0f} to {max(rates):,.0f}) "
                           f"| {p99} | {int(m['errors']):,} | {cost_cells(m, counting)} |")
    for path in paths:
        if not path.exists():
            out += ["", not_measured(path.stem.replace("servers-", "").capitalize(), f"`{rel(path.with_suffix(''))}.*`").strip()]
    return "\n".join(out) + "\n"


def servers_c10k_table():
    """The c10k scenario over Apache's MPMs: connections held, p99, memory."""
    path = ROOT / "results/c10k-apache.csv"
    if not path.exists():
        return not_measured("c10k over the Apache MPMs", "`results/c10k-apache.*`")
    rows = load(path)
    out = ["**c10k over Apache's MPMs** (`--scenario c10k --engines apache-prefork,apache-worker,apache-event`: "
           f"{int(rows[0]['connections']):,} connections, one request a second each, sockbench's http request): *held*, the connections "
           "the server held through the measured window; *user per conn*, its memory growth per connection held. "
           + measured_as(path) + f"; where each fell short in `{rel(path.with_suffix('.table.txt'))}`.", "",
           "| server | held / asked | req/s (asked) | p99 | errors | threads | server RSS | user per conn | outcome |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        held = f"{int(r['server_connections']):,}" if r["server_connections"] else "-"
        p99 = r["p99_us"]
        p99 = "-" if not p99 else (f"{int(p99):,} µs" if int(p99) < 10_000 else f"{int(p99) / 1000:,.1f} ms")
        errors = int(r["errors"])
        errors = "0" if errors == 0 else f"**{errors:,}** ({r['errors_by_kind'].replace(';', ', ')})"
        rss = f"{int(r['server_rss_kb']) / 1024:,.1f} MiB" if r["server_rss_kb"] else "-"
        user = f"{float(r['rss_per_connection_kib']):.1f} KiB" if r["rss_per_connection_kib"] else "-"
        out.append(f"| {r['engine']} | {held} / {int(r['connections']):,} | {float(r['req_per_s']):,.0f} "
                   f"({float(r['rate_per_s']):,.0f}) | {p99} | {errors} | {r['server_threads'] or '-'} | {rss} | {user} | {r['outcome']} |")
    return "\n".join(out) + "\n"


def servers_section():
    """The README's tables of the servers people run."""
    return "\n".join([servers_http_table(), servers_keyed_table(), servers_c10k_table()])


def between_markers(path, generated, begin=BEGIN, end=END):
    """The text of `path` with `generated` between its markers."""
    text = path.read_text()
    if begin not in text or end not in text:
        sys.exit(f"{rel(path)} lacks the {begin} / {end} markers")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return head + begin + "\n" + generated + end + tail


def main():
    check = sys.argv[1:] == ["--check"]
    if sys.argv[1:] and not check:
        sys.exit("usage: python3 scripts/readme-results.py [--check]")
    stale = []
    for path, generated, markers in [
        (ROOT / "README.md", summary(), (BEGIN, END)),
        (ROOT / "README.md", servers_section(), (SERVERS_BEGIN, SERVERS_END)),
        (ROOT / "docs/RESULTS.md", results_page(), (BEGIN, END)),
        (ROOT / "docs/LECTURE.md", lecture_curve(), (IDLE_BEGIN, IDLE_END)),
        (ROOT / "docs/LECTURE.md", lecture_unp(), (UNP_BEGIN, UNP_END)),
    ]:
        text = between_markers(path, generated, *markers)
        if path.read_text() == text:
            continue
        if rel(path) not in stale:
            stale.append(rel(path))
        if not check:
            path.write_text(text)
    if check:
        if stale:
            sys.exit(f"out of date with results/: {', '.join(stale)}: run python3 scripts/readme-results.py")
        print("README.md, docs/RESULTS.md and docs/LECTURE.md match results/")
    else:
        print(f"rewritten from results/: {', '.join(stale) or 'nothing (already up to date)'}")


if __name__ == "__main__":
    main()
