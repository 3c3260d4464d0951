"""Turn bench/out/results.json into a markdown report and PNG plots.

    python bench/report.py [--results out/results.json] [--out out/] [--write-results-md]

Writes OUT/report.md, OUT/latency_vs_load.png, OUT/throughput.png, OUT/memory.png and
OUT/join.png. With --write-results-md it also writes bench/RESULTS.md (the same report, plots
copied to bench/results/),
but only when the run included the collab hub and was not a --quick run.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
HUB = "collab"
PLOTS = [
    ("latency_vs_load.png", "latency against load"),
    ("throughput.png", "throughput"),
    ("memory.png", "memory"),
    ("join.png", "join time"),
]


def get(d, *path, default=None):
    for p in path:
        if d is None:
            return default
        if isinstance(p, int):
            d = d[p] if isinstance(d, list) and len(d) > p else None
        else:
            d = d.get(p) if isinstance(d, dict) else None
    return default if d is None else d


def fmt(x, digits=3):
    if x is None:
        return "–"
    if isinstance(x, str):
        return x
    if isinstance(x, bool):
        return "yes" if x else "no"
    if x == 0:
        return "0"
    a = abs(x)
    if a >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{max(0, digits - 1 - int(math.floor(math.log10(a))))}f}" if a < 100 else f"{x:.0f}"


def cpu_us(w, per):
    """Server CPU microseconds per update sent in (``per="update"``) or per delivery out, over the
    measured step: the gap between servers as one number at the same fixed load."""
    r = get(w, "result")
    cpu, wall, sent = get(r, "server_cpu_pct"), get(r, "wall_s"), get(r, "sent")
    if cpu is None or not wall or not sent:
        return None
    n = sent if per == "update" else (get(r, "deliveries_per_s") or 0) * wall
    return 1e6 * cpu / 100 * wall / n if n else None


# (label, workload, extractor, unit, lower_is_better)
def metrics():
    def rate(field):
        return lambda w: get(w, "result", "latency_ms", field)

    def join(n_index):
        return lambda w: get(w, "result", n_index, "join_ms_median")

    def join_label(results, idx, fallback):
        for s in results["servers"].values():
            n = get(s, "workloads", "d", "result", idx, "history_updates")
            if n:
                return f"d: join, {n:,} updates of history, median"
        return fallback

    return [
        ("a: latency p50", "a", rate("p50"), "ms", True),
        ("a: latency p99", "a", rate("p99"), "ms", True),
        ("a: latency max", "a", rate("max"), "ms", True),
        ("a: lost deliveries", "a", lambda w: get(w, "result", "lost"), "", True),
        ("a: echoes to the sender", "a", lambda w: get(w, "result", "echoes"), "", None),
        ("a: server CPU", "a", lambda w: get(w, "result", "server_cpu_pct"), "%", True),
        ("a: server CPU per update in", "a", lambda w: cpu_us(w, "update"), "µs", True),
        ("a: server CPU per delivery out", "a", lambda w: cpu_us(w, "delivery"), "µs", True),
        ("a: server RSS max", "a", lambda w: get(w, "result", "server_rss_max_mb"), "MB", True),
        ("b: latency p50", "b", rate("p50"), "ms", True),
        ("b: latency p99", "b", rate("p99"), "ms", True),
        ("b: lost deliveries", "b", lambda w: get(w, "result", "lost"), "", True),
        ("b: connect 500 clients", "b", lambda w: get(w, "connect", "connect_s"), "s", True),
        ("b: server CPU", "b", lambda w: get(w, "result", "server_cpu_pct"), "%", True),
        ("b: server CPU per update in", "b", lambda w: cpu_us(w, "update"), "µs", True),
        ("b: server CPU per delivery out", "b", lambda w: cpu_us(w, "delivery"), "µs", True),
        ("b: server RSS max", "b", lambda w: get(w, "result", "server_rss_max_mb"), "MB", True),
        ("c: max sustained updates/s", "c", lambda w: get(w, "result", "max_sustained_updates_per_s"), "/s", False),
        ("c: deliveries/s at that rate", "c", lambda w: get(w, "result", "max_sustained_deliveries_per_s"), "/s", False),
        ("c: p99 at that rate", "c", lambda w: get(w, "result", "p99_ms"), "ms", True),
        ("c: server CPU at that rate", "c", lambda w: get(w, "result", "server_cpu_pct"), "%", None),
        ("c: load generator CPU at that rate", "c", lambda w: get(w, "result", "loadgen_cpu_pct"), "%", None),
        ("c: stopped by", "c", lambda w: get(w, "result", "stopped_by"), "", None),
        ("c: what ran out at the first failing step", "c", lambda w: get(w, "result", "bottleneck"), "", None),
        ("d: join (small history), median", "d", join(0), "ms", True),
        ("d: join (large history), median", "d", join(1), "ms", True),
        # the joining client's own Y.applyUpdate of what it was sent (part of the join above): no
        # server can make a join shorter than this
        ("d: of that, the joining client's own applyUpdate", "d", lambda w: get(w, "result", 1, "client_apply_ms_median"), "ms", True),
        ("d: history ingest (small)", "d", lambda w: get(w, "result", 0, "ingest_updates_per_s"), "/s", False),
        ("d: history ingest (large)", "d", lambda w: get(w, "result", 1, "ingest_updates_per_s"), "/s", False),
        ("e: RSS per idle connection", "e-conn", lambda w: get(w, "result", "kb_per_conn"), "kB", True),
        ("e: RSS per idle room (with its one connection)", "e-room", lambda w: get(w, "result", "kb_per_room_with_one_conn"), "kB", True),
        ("e: RSS per idle room, net of its connection", "e-room", None, "kB", True),
        ("race: clients hung joining a room being created", "race", lambda w: f"{get(w, 'result', 'hung')}/{get(w, 'result', 'clients')}" if get(w, "result") else None, "", None),
        ("a with permessage-deflate offered: negotiated", "a-deflate", lambda w: get(w, "permessage_deflate", "negotiated"), "", None),
        ("a with permessage-deflate offered: p50", "a-deflate", rate("p50"), "ms", True),
        ("a with permessage-deflate offered: p99", "a-deflate", rate("p99"), "ms", True),
    ], join_label


NOISY = 25  # % of a core used by other processes during a step: figures disturbed


def cell(value, hub_value, unit):
    if value is None:
        return "–"
    s = fmt(value)
    if unit and unit not in ("", "/s"):
        s += f" {unit}"
    elif unit == "/s":
        s += "/s"
    if isinstance(value, (int, float)) and not isinstance(value, bool) and isinstance(hub_value, (int, float)) and not isinstance(hub_value, bool):
        if hub_value:
            s += f" ({value / hub_value:.2f}×)"
    return s


def workload_error(w):
    if w is None:
        return None
    if w.get("error"):
        return w["error"].strip().splitlines()[0][:160]
    return None


def markdown(results: dict, img: str = "") -> str:
    servers = list(results["servers"].keys())
    ran = [s for s in servers if not results["servers"][s].get("skipped")]
    hub = HUB if HUB in ran else None
    m = results["machine"]
    out = []
    out.append("# Benchmark: collab hub against peer y-websocket servers\n")
    out.append(f"- Run: {results['started']}{' (quick mode: a few seconds per workload, a smoke check, not figures to quote)' if results.get('quick') else ''}")
    out.append(f"- Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('mem_gb')} GB RAM, {m.get('os')}; Node {m.get('node')}, {m.get('python')}")
    out.append(f"- Command: `{results.get('command')}` ({results.get('total_s', '?')} s in all)")
    out.append("- Load generator and servers share the machine, on loopback. Each workload runs against a fresh server process.")
    if hub:
        out.append("- Ratios in brackets are server ÷ collab hub (for latencies, memory and times lower is better; for rates higher is better).")
    out.append("")
    out.append("| server | version | how it runs |")
    out.append("| --- | --- | --- |")
    for s in servers:
        e = results["servers"][s]
        how = f"skipped: {e['skipped']}" if e.get("skipped") else f"{e.get('describe', '')}; `{e.get('command', '')}`"
        out.append(f"| {s} | {e.get('version') or '–'} | {how} |")
    out.append("")

    rows, join_label = metrics()
    out.append("## Summary\n")
    out.append("| metric | " + " | ".join(ran) + " |")
    out.append("| --- | " + " | ".join("---" for _ in ran) + " |")
    for label, wl, fn, unit, _lower in rows:
        if wl not in results.get("workloads", []):
            continue
        if label.startswith("d: join (small"):
            label = join_label(results, 0, label)
        elif label.startswith("d: join (large"):
            label = join_label(results, 1, label)
        if fn is None:  # derived: per room minus per connection

            def net(server):
                room = get(results, "servers", server, "workloads", "e-room", "result", "kb_per_room_with_one_conn")
                conn = get(results, "servers", server, "workloads", "e-conn", "result", "kb_per_conn")
                return round(room - conn, 1) if room is not None and conn is not None else None

            hub_v = net(hub) if hub else None
            out.append(f"| {label} | " + " | ".join(cell(net(s), hub_v if s != hub else None, unit) for s in ran) + " |")
            continue
        hub_w = get(results, "servers", hub, "workloads", wl) if hub else None
        hub_v = fn(hub_w) if hub_w and not hub_w.get("error") else None
        cells = []
        for s in ran:
            w = get(results, "servers", s, "workloads", wl)
            err = workload_error(w)
            if err:
                cells.append(f"error: {err}")
                continue
            v = fn(w) if w else None
            cells.append(cell(v, hub_v if s != hub else None, unit))
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    out.append("")

    # saturation ladder detail
    if "c" in results.get("workloads", []):
        out.append("## Saturation ladder (workload c)\n")
        for s in ran:
            steps = get(results, "servers", s, "workloads", "c", "steps") or []
            if not steps:
                continue
            out.append(f"**{s}**\n")
            out.append("| offered/s | sent/s | delivered updates/s | p50 ms | p99 ms | max ms | late | lost | server CPU % | loadgen CPU % | other CPU % | pass |")
            out.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
            for st in steps:
                lat = st.get("latency_ms", {})
                ok = "warm-up" if st.get("warmup") else ("yes" if st.get("ok") else f"no ({st.get('why')})")
                out.append(
                    f"| {fmt(st.get('offered_updates_per_s'))} | {fmt(st.get('sent_updates_per_s'))} | {fmt(st.get('delivered_updates_per_s'))} "
                    f"| {fmt(lat.get('p50'))} | {fmt(lat.get('p99'))} | {fmt(lat.get('max'))} | {st.get('late')} | {st.get('lost')} "
                    f"| {fmt(st.get('server_cpu_pct'))} | {fmt(st.get('loadgen_cpu_pct'))} | {fmt(st.get('other_cpu_pct'))} | {ok} |"
                )
            out.append("")

    out.extend(section_redis(results, ran))
    out.extend(section_e2ee(results, ran))

    errors = []
    for s in ran:
        for wl, w in (get(results, "servers", s, "workloads") or {}).items():
            if w.get("error"):
                errors.append(f"- {s} / {wl}: {w['error'].strip()[:400]}")
            if w.get("server_crashed"):
                errors.append(f"- {s} / {wl}: the server exited during the run: {w['server_crashed'][-300:]}")
            for e in get(w, "loadgen", "errors") or []:
                errors.append(f"- {s} / {wl}: {e}")
            ver = get(w, "verify")
            if ver and ver.get("mismatched"):
                errors.append(f"- {s} / {wl}: fast reader and Y.Doc disagree on {ver['mismatched']} client(s): {ver}")
    for s in ran:
        for wl, w in (get(results, "servers", s, "workloads") or {}).items():
            other = w.get("other_cpu_pct_max")
            if other is not None and other >= NOISY:
                errors.append(f"- {s} / {wl}: other processes used up to {other:.0f}% of a core during the measurement: figures disturbed")
    if errors:
        out.append("## Errors and warnings\n")
        out.extend(errors[:60])
        out.append("")

    out.append("## Plots\n")
    for name, alt in PLOTS:
        out.append(f"![{alt}]({img}{name})")
    out.append("")
    out.append("Workload definitions and method: bench/README.md.")
    return "\n".join(out) + "\n"


def ratio_cell(value, base, unit=""):
    """value (value ÷ base×) for the (f)/(g) comparison tables."""
    if value is None:
        return "–"
    s = fmt(value) + (f" {unit}" if unit else "")
    if isinstance(value, (int, float)) and isinstance(base, (int, float)) and base:
        s += f" ({value / base:.2f}×)"
    return s


def section_redis(results: dict, ran: list[str]) -> list[str]:
    """(f) the hub as two processes on one Redis against one process, plus cross-hub latency."""
    two = "collab-redis-2"
    if two not in ran:
        return []
    out = ["## (f) Two hubs on Redis against one hub\n"]
    out.append("Each room's clients alternate between the two hubs (writers too), so about half of every "
               "fan-out crosses Redis. CPU and RSS of `collab-redis-2` are its two hubs and redis-server "
               "together. Ratios are collab-redis-2 ÷ collab.\n")
    rows = [
        ("a: latency p50", "a", ("result", "latency_ms", "p50"), "ms"),
        ("a: latency p99", "a", ("result", "latency_ms", "p99"), "ms"),
        ("a: lost deliveries", "a", ("result", "lost"), ""),
        ("a: server CPU (all processes)", "a", ("result", "server_cpu_pct"), "%"),
        ("a: server RSS max", "a", ("result", "server_rss_max_mb"), "MB"),
        ("c: max sustained updates/s", "c", ("result", "max_sustained_updates_per_s"), "/s"),
        ("c: p99 at that rate", "c", ("result", "p99_ms"), "ms"),
        ("c: server CPU at that rate", "c", ("result", "server_cpu_pct"), "%"),
        ("c: stopped by", "c", ("result", "stopped_by"), ""),
    ]
    have_one = HUB in ran
    out.append(f"| metric | {HUB} | {two} |")
    out.append("| --- | --- | --- |")
    for label, wl, path, unit in rows:
        if wl not in results.get("workloads", []):
            continue
        one = get(results, "servers", HUB, "workloads", wl, *path) if have_one else None
        v = get(results, "servers", two, "workloads", wl, *path)
        u = "" if unit == "/s" else unit
        out.append(f"| {label} | {ratio_cell(one, None, u)} | {ratio_cell(v, one, u)} |")
    cross = get(results, "servers", two, "workloads", "crosshub")
    if cross:
        out.append("")
        if cross.get("error"):
            out.append(f"Cross-hub latency: error: {workload_error(cross)}")
        else:
            n = get(cross, "params", "updates")
            out.append(f"**Same hub against cross hub** (`bench/crosshub.py`: one writer and one reader on hub A, one reader "
                       f"on hub B, one redis-server; {n} single-character updates typed one at a time, each waited for):\n")
            out.append("| Redis appendfsync | same hub p50 | same hub p99 | cross hub p50 | cross hub p99 |")
            out.append("| --- | --- | --- | --- | --- |")
            for r in cross.get("result") or []:
                out.append(f"| {r.get('appendfsync')} | {fmt(r.get('same_hub_p50_ms'))} ms | {fmt(r.get('same_hub_p99_ms'))} ms "
                           f"| {fmt(r.get('cross_hub_p50_ms'))} ms | {fmt(r.get('cross_hub_p99_ms'))} ms |")
            out.append("")
            for r in cross.get("result") or []:
                out.append(f"    {r.get('line')}")
    out.append("")
    return out


def section_e2ee(results: dict, ran: list[str]) -> list[str]:
    """(g) encrypted against plaintext rooms on the hub, same Python generator for both."""
    g = get(results, "servers", HUB, "workloads", "g")
    if HUB not in ran or not g:
        return []
    out = ["## (g) Encrypted against plaintext rooms on the hub\n"]
    if g.get("error") and not get(g, "result", "a"):
        return out + [f"error: {workload_error(g)}", ""]
    out.append("One Python generator (`loadgen/e2ee_gen.py`) for both kinds of room, every update pre-encoded "
               "(and, for the encrypted room, pre-sealed with collab's crypto) before timing starts; receivers "
               "attribute ENTRY frames by the envelope header's (author id, author seq) without decrypting. "
               "So the difference is the hub's: parsing each envelope (its Ed25519 signature verified once per author and connection), "
               "and relaying each update as its own frame. Ratios are encrypted ÷ plaintext.\n")
    a = get(g, "result", "a") or {}
    pa, ea = a.get("plaintext"), a.get("encrypted")
    if pa or ea:
        out.append("**Workload a** (1 room, 50 clients, 10 writers × 20 updates/s):\n")
        out.append("| metric | plaintext | encrypted |")
        out.append("| --- | --- | --- |")
        for label, path, unit in [
            ("latency p50", ("latency_ms", "p50"), "ms"),
            ("latency p99", ("latency_ms", "p99"), "ms"),
            ("latency max", ("latency_ms", "max"), "ms"),
            ("lost deliveries", ("lost",), ""),
            ("late deliveries", ("late",), ""),
            ("hub CPU", ("server_cpu_pct",), "%"),
            ("hub RSS", ("server_rss_mb",), "MB"),
            ("load generator CPU", ("loadgen_cpu_pct",), "%"),
            ("sent updates/s", ("sent_updates_per_s",), ""),
        ]:
            p, e = get(pa, *path), get(ea, *path)
            out.append(f"| {label} | {ratio_cell(p, None, unit)} | {ratio_cell(e, p, unit)} |")
        out.append("")
    lad = get(g, "result", "ladder") or {}
    pl, el = lad.get("plaintext"), lad.get("encrypted")
    if pl or el:
        params = get(g, "params", "ladder") or {}
        out.append(f"**Saturation ladder** (1 room, {params.get('clients', 4)} clients, all writing; rates "
                   f"{', '.join(str(r) for r in params.get('rates', []))} updates/s; a step fails on p99 > 100 ms or a "
                   "missing delivery):\n")
        out.append("| metric | plaintext | encrypted |")
        out.append("| --- | --- | --- |")
        for label, key, unit in [
            ("max sustained updates/s", "max_sustained_updates_per_s", ""),
            ("p50 at that rate", "p50_ms", "ms"),
            ("p99 at that rate", "p99_ms", "ms"),
            ("hub CPU at that rate", "server_cpu_pct", "%"),
            ("load generator CPU at that rate", "loadgen_cpu_pct", "%"),
            ("stopped by", "stopped_by", ""),
            ("what ran out at the first failing step", "bottleneck", ""),
        ]:
            p, e = get(pl, key), get(el, key)
            out.append(f"| {label} | {ratio_cell(p, None, unit)} | {ratio_cell(e, p, unit)} |")
        out.append("")
        for kind, r in (("plaintext", pl), ("encrypted", el)):
            if not r:
                continue
            out.append(f"*{kind}* steps: " + "; ".join(
                f"{fmt(st.get('offered_updates_per_s'))}/s → p99 {fmt(get(st, 'latency_ms', 'p99'))} ms, lost {st.get('lost')}, "
                f"hub {fmt(st.get('server_cpu_pct'))}%, gen {fmt(st.get('loadgen_cpu_pct'))}%"
                + ("" if st.get("warmup") or st.get("ok") else " ✗")
                for st in r.get("steps", []) if not st.get("warmup")))
            out.append("")
    return out


def plots(results: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ran = [s for s, e in results["servers"].items() if not e.get("skipped")]
    colors = {s: c for s, c in zip(ran, ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"])}

    # latency against load (ladder c, plus the single points of a)
    fig, ax = plt.subplots(figsize=(8, 5))
    for s in ran:
        by_rate = {}
        for st in get(results, "servers", s, "workloads", "c", "steps") or []:
            if not st.get("warmup") and st.get("latency_ms", {}).get("count"):
                by_rate[st["offered_updates_per_s"]] = st  # the last try at a rate decides it
        steps = sorted(by_rate.values(), key=lambda st: st["offered_updates_per_s"])
        if not steps:
            continue
        x = [st["sent_updates_per_s"] for st in steps]
        for q, style in (("p50", "-"), ("p99", "--")):
            y = [st["latency_ms"][q] for st in steps]
            ax.plot(x, y, style, color=colors[s], label=f"{s} {q}")
            ax.scatter([a for a, st in zip(x, steps) if st.get("ok")], [b for b, st in zip(y, steps) if st.get("ok")], s=12, marker="o", color=colors[s])
            ax.scatter([a for a, st in zip(x, steps) if not st.get("ok")], [b for b, st in zip(y, steps) if not st.get("ok")], s=30, marker="x", color=colors[s])
    ax.axhline(100, color="grey", lw=0.8, ls=":")
    ax.set_xscale("log"); ax.set_yscale("log")
    ax.set_xlabel("updates/s sent into one room of 20 clients (each delivered to 19)")
    ax.set_ylabel("delivery latency (ms)")
    ax.set_title("Latency against load (workload c; x = rate failed)")
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout(); fig.savefig(out / "latency_vs_load.png", dpi=110); plt.close(fig)

    # throughput
    fig, ax = plt.subplots(figsize=(7, 4))
    vals = [get(results, "servers", s, "workloads", "c", "result", "max_sustained_updates_per_s") or 0 for s in ran]
    bars = ax.bar(ran, vals, color=[colors[s] for s in ran])
    for b, v in zip(bars, vals):
        ax.annotate(f"{v:,.0f}", (b.get_x() + b.get_width() / 2, v), ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("max sustained updates/s (p99 ≤ 100 ms, nothing lost)")
    ax.set_title("Throughput (workload c: 1 room, 20 clients, 20 writers)")
    fig.tight_layout(); fig.savefig(out / "throughput.png", dpi=110); plt.close(fig)

    # memory
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    panels = [
        ("kB per idle connection", lambda s: get(results, "servers", s, "workloads", "e-conn", "result", "kb_per_conn")),
        ("kB per idle room (1 connection)", lambda s: get(results, "servers", s, "workloads", "e-room", "result", "kb_per_room_with_one_conn")),
        ("peak RSS in workload a / b / c (MB)", None),
    ]
    for ax, (title, fn) in zip(axes, panels):
        if fn:
            vals = [fn(s) or 0 for s in ran]
            ax.bar(ran, vals, color=[colors[s] for s in ran])
        else:
            width = 0.25
            for i, wl in enumerate(("a", "b", "c")):
                vals = []
                for s in ran:
                    w = get(results, "servers", s, "workloads", wl) or {}
                    vals.append(max([st.get("server_rss_max_mb") or 0 for st in w.get("steps", [])] or [0]))
                ax.bar([k + (i - 1) * width for k in range(len(ran))], vals, width, label=wl)
            ax.set_xticks(range(len(ran)), ran)
            ax.legend(fontsize=7)
        ax.set_title(title, fontsize=9)
        ax.tick_params(axis="x", labelsize=7, rotation=20)
    fig.suptitle("Memory (server RSS)")
    fig.tight_layout(); fig.savefig(out / "memory.png", dpi=110); plt.close(fig)

    # join time
    fig, ax = plt.subplots(figsize=(7, 4))
    sizes = []
    for s in ran:
        for r in get(results, "servers", s, "workloads", "d", "result") or []:
            if r["history_updates"] not in sizes:
                sizes.append(r["history_updates"])
    width = 0.8 / max(1, len(sizes))
    for i, n in enumerate(sizes):
        vals = []
        for s in ran:
            rs = [r for r in (get(results, "servers", s, "workloads", "d", "result") or []) if r["history_updates"] == n]
            vals.append(rs[0]["join_ms_median"] if rs else 0)
        ax.bar([k + (i - (len(sizes) - 1) / 2) * width for k in range(len(ran))], vals, width, label=f"{n:,} updates")
    ax.set_xticks(range(len(ran)), ran)
    ax.set_ylabel("join time, median (ms)")
    ax.set_title("Join time into a room with history (workload d)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout(); fig.savefig(out / "join.png", dpi=110); plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default=str(BENCH / "out" / "results.json"))
    ap.add_argument("--out", default=str(BENCH / "out"))
    ap.add_argument("--write-results-md", action="store_true")
    ap.add_argument("--no-plots", action="store_true")
    a = ap.parse_args(argv)
    results = json.loads(Path(a.results).read_text())
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    md = markdown(results)
    (out / "report.md").write_text(md)
    print(f"wrote {out / 'report.md'}")
    if not a.no_plots:
        plots(results, out)
        print(f"wrote {out}/latency_vs_load.png throughput.png memory.png join.png")
    if a.write_results_md:
        hub = results["servers"].get(HUB, {})
        if results.get("quick"):
            print("not writing bench/RESULTS.md: this was a --quick run")
        elif not hub or hub.get("skipped"):
            print("not writing bench/RESULTS.md: the collab hub was not part of this run")
        else:
            figs = BENCH / "results"
            figs.mkdir(exist_ok=True)
            if not a.no_plots:
                for name, _ in PLOTS:
                    shutil.copyfile(out / name, figs / name)
            (BENCH / "RESULTS.md").write_text(markdown(results, img="results/"))
            print(f"wrote {BENCH / 'RESULTS.md'} and bench/results/*.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
