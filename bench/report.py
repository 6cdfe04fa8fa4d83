#!/usr/bin/env python3
"""Prints bench/datapath.sh's results as markdown tables (medians, min-max, ratios, targets).

  report.py RESULTS STARTED LOAD_BEFORE LOAD_AFTER REPS WINDOW NPROC KERNEL
"""
import statistics
import sys
from collections import defaultdict


def med(values):
    return statistics.median(values) if values else float("nan")


def rng(values, fmt="{:,.0f}"):
    return f"{fmt.format(min(values))}–{fmt.format(max(values))}" if values else "–"


def verdict(ok):
    return "**met**" if ok else "**not met**"


def main():
    path, started, load_before, load_after, reps, window, nproc, kernel = sys.argv[1:9]
    fast = defaultdict(list)  # (dir, cfg) -> [(rep, pps, cpu0%, cpu1%, ns/pkt, translated share)]
    slow = defaultdict(list)
    ike = defaultdict(list)
    rss = []
    restarts = []
    queued_after = []
    elements_after = []
    bpf_pins = {}  # map name -> loader's key=value output
    bpf_test_runs = {}
    bpf_counters = {}  # map name -> last (cumulative) counters of the measured SAs
    for line in open(path):
        f = line.split()
        if not f:
            continue
        if f[0] == "fast":
            d, cfg, rep = f[1], f[2], int(f[3])
            sent, secs, delivered, translated = int(f[4]), float(f[5]), int(f[6]), int(f[7])
            b = list(map(int, f[8:15]))
            a = list(map(int, f[15:22]))
            busy0 = (a[0] - b[0]) / max(1, a[1] - b[1])
            busy1 = (a[3] - b[3]) / max(1, a[4] - b[4])
            # CPU1 softirq ticks: the router's work. Tick accounting counts a tick as softirq
            # whenever a softirq is being served, in ksoftirqd/1 too (that thread's time, also
            # recorded, would count it twice); other tasks on CPU1 do not count.
            soft1 = (a[5] - b[5]) / max(1, a[4] - b[4])
            pps = delivered / secs
            # Shares of the window: busy share x window = busy seconds.
            ns = busy1 * secs * 1e9 / max(1, delivered)
            ns_soft = soft1 * secs * 1e9 / max(1, delivered)
            share = translated / max(1, delivered) if cfg != "A" else None
            fast[(d, cfg)].append((rep, pps, 100 * busy0, 100 * busy1, ns, share, sent, 100 * soft1, ns_soft, delivered))
        elif f[0] == "slow":
            kind, rep, sent, secs, verdicts, lost, overruns, sessions, ticks, tck, nftfail, child = f[1], int(f[2]), int(f[3]), float(f[4]), int(f[5]), int(f[6]), int(f[7]), int(f[8]), int(f[9]), int(f[10]), int(f[11]), int(f[12])
            slow[kind].append((verdicts / secs, ticks / tck * 1e6 / max(1, verdicts), lost, overruns, sessions / secs, sent, verdicts, nftfail, child / max(1, ticks)))
        elif f[0] == "ike":
            kv = dict(x.split("=") for x in f[3:])
            ike[f[1]].append({k: float(v) for k, v in kv.items()})
        elif f[0] == "rss":
            kv = dict(x.split("=") for x in f[2:])
            rss.append((f[1], kv))
        elif f[0] == "restart":
            kv = dict(x.split("=") for x in f[2:])
            restarts.append((f[1], int(kv["ms"]), int(kv["sessions"])))
        elif f[0] == "queued_after_fast":
            queued_after.append(f[2].rstrip(","))
        elif f[0] == "elements_after_fast":
            elements_after.append(f[2].rstrip(","))
        elif f[0] == "bpf_pin":
            bpf_pins[f[1]] = dict(x.split("=", 1) for x in f[2:])
        elif f[0] == "bpf_test_run":
            bpf_test_runs[f[1]] = dict(x.split("=", 1) for x in f[2:])
        elif f[0] == "bpf_counters":
            bpf_counters[f[1]] = {k: int(v) for k, v in (x.split("=", 1) for x in f[3:])}

    print(f"## Datapath figures (bench/datapath.sh, {started})\n")
    print(f"Machine: {nproc} CPUs, kernel {kernel}; load average before {load_before}, after {load_after} "
          f"(other work on the host shares these CPUs). {reps} repetitions × {window} s windows, "
          f"configurations alternated within each repetition; 100-byte IP packets.\n")
    print("### Fast path (ESP packets/s delivered through the router)\n")
    print("| dir | config | pps median | min–max | CPU1 busy % (router %) | CPU0 busy % | CPU1 ns/pkt | CPU1 router ns/pkt | translated |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (d, cfg), rows in fast.items():
        pps = [r[1] for r in rows]
        tr = "–" if rows[0][5] is None else f"{100 * min(r[5] for r in rows):.0f} %"
        print(f"| {d} | {cfg} | {med(pps):,.0f} | {rng(pps)} | {med([r[3] for r in rows]):.0f} ({med([r[7] for r in rows]):.0f}) | "
              f"{med([r[2] for r in rows]):.0f} | {med([r[4] for r in rows]):,.0f} | {med([r[8] for r in rows]):,.0f} | {tr} |")
    print()
    print("Ratios: of pps medians, the min–max of the per-repetition paired ratios, and the same ratio from the router's CPU1 cost per packet (router = CPU1 softirq time; denominator's ns/pkt over numerator's; less sensitive to other load on the host).\n")
    print("| dir | ratio | pps | paired range | router-ns/pkt based | target |")
    print("|---|---|---|---|---|---|")
    targets = {("ALG1", "B"): 1.0, ("ALG1", "A"): 0.75, ("ALG64k", "B"): 1.0, ("ALG64k", "A"): 0.75,
               ("ALG1-noxt", "B"): 1.0, ("ALG1-noxt", "A"): 0.75}
    # The tc fast path's targets are about cost per packet, so they are checked on the
    # router-ns/pkt ratio (the pps ratio understates a configuration cheap enough for the
    # generator to become the limit). "Flat" is read as within 5 %.
    cost_targets = {("out", "BPF1", "B"): 1.1, ("in", "BPF1", "B"): 1.1, ("out", "BPF64k", "B"): 1.1,
                    ("in", "BPF64k", "B"): 1.1, ("out", "BPF1", "A"): 0.85, ("in", "BPF1", "A"): 0.85,
                    ("out", "BPF64k", "A"): 0.85, ("in", "BPF64k", "A"): 0.85,
                    ("out", "BPF64k", "BPF1"): 0.95, ("in", "BPF64k", "BPF1"): 0.95,
                    ("udp", "BPF1", "B"): 0.98, ("udp", "BPFX1", "B"): 0.98}
    checks = []
    for d in ("out", "in", "udp"):
        for num, den in (("ALG1", "B"), ("ALG1", "A"), ("ALG1-noxt", "B"), ("ALG1-noxt", "A"), ("ALG1", "ALG1-noxt"), ("ALG10k", "B"), ("ALG64k", "B"), ("ALG64k", "A"), ("ALG64k", "ALG1"), ("B", "A"),
                         ("BPF1", "B"), ("BPF1", "A"), ("BPF64k", "B"), ("BPF64k", "A"), ("BPF64k", "BPF1"), ("BPF1", "ALG1"), ("TC0", "ALG1"), ("BPF1", "TC0"), ("TC0", "B"),
                         ("BPFX1", "B"), ("BPFX1", "A"), ("BPFX1", "BPF1"), ("BPFX1", "ALG1"), ("TCX0", "ALG1"), ("TCX0", "TC0"), ("BPFX1", "TCX0")):
            if (d, num) not in fast or (d, den) not in fast:
                continue
            n, m = fast[(d, num)], fast[(d, den)]
            r = med([x[1] for x in n]) / med([x[1] for x in m])
            by_rep = {x[0]: x[1] for x in m}
            paired = [x[1] / by_rep[x[0]] for x in n if x[0] in by_rep]
            cost = med([x[8] for x in m]) / med([x[8] for x in n])
            t = targets.get((num, den))
            tcol = f"≥ {t:.2f}: {verdict(r >= t)}" if t else ""
            if t:
                checks.append((f"fast {d} {num}/{den} ≥ {t:.2f}", r >= t, f"{r:.2f}"))
            ct = cost_targets.get((d, num, den))
            if ct:
                tcol = f"≥ {ct:.2f} (router ns/pkt): {verdict(cost >= ct)}"
                checks.append((f"fast {d} {num}/{den} ≥ {ct:.2f} by router ns/pkt", cost >= ct, f"{cost:.2f}"))
            print(f"| {d} | {num}/{den} | {r:.2f} | {rng(paired, '{:.2f}')} | {cost:.2f} | {tcol} |")
    standard = {"A", "B", "ALG1", "ALG1-noxt", "ALG10k", "ALG64k", "BPF1", "BPF64k", "TC0", "BPFX1", "TCX0"}
    variants = sorted({cfg for (_, cfg) in fast} - standard)
    if variants:
        print("\nRuleset variants (bench/variants/*.nft on top of stock NAT), router cost per packet against B's in the same repetitions:\n")
        print("| variant | out | in | udp |")
        print("|---|---|---|---|")
        for v in variants:
            cells = []
            for d in ("out", "in", "udp"):
                if (d, v) in fast and (d, "B") in fast:
                    cells.append(f"{med([x[8] for x in fast[(d, 'B')]]) / med([x[8] for x in fast[(d, v)]]):.2f}")
                else:
                    cells.append("–")
            print(f"| {v} | {' | '.join(cells)} |")
    if queued_after:
        print(f"\nALG's kernel counters `queued_esp_out,queued_esp_in` after each repetition's fast-path windows: "
              f"{'; '.join(queued_after)} (0 = the learned sessions never reached the queue).", end="")
        if elements_after:
            print(f" Elements in `esp_out,esp_in,esp_out_keys` at ALG64k: {'; '.join(elements_after)} "
                  "(every per-SA map and set holds at most the engine's session limit, 65,536).", end="")
        print()

    if bpf_pins or bpf_test_runs:
        print("\n### tc fast path (bpf/esp_fastpath.c)\n")
        print("BPF1/BPF64k = ALG1 + the program at clsact ingress of both router devices (BPFX1: BPF1 through tcx); maps as loaded by "
              "examples/bpf_bench_loader.rs:\n")
        print("| map | SAs (measured + fillers) | max_entries | kernel memlock of the map | packets the program took, out / in | ESP delivered in its windows, out / in |")
        print("|---|---|---|---|---|---|")
        # The map "one" serves BPF1 and BPFX1 (the same program through tcx): its counters
        # are both configurations' packets.
        for name, cfg, windows in (("one", "BPF1", ("BPF1", "BPFX1")), ("full", "BPF64k", ("BPF64k",))):
            pin = bpf_pins.get(name, {})
            c = bpf_counters.get(name, {})
            sums = [sum(x[9] for w in windows for x in fast.get((d, w), [])) for d in ("out", "in")]
            mem = pin.get("map_memlock_bytes", "?")
            mem = f"{int(mem) / 2**20:.1f} MiB" if mem.isdigit() else mem
            print(f"| {cfg} | {pin.get('sas_listed', '?')} ({pin.get('measured_sas', '?')} + {pin.get('filler_sas', '?')}) | "
                  f"{pin.get('max_entries', '?')} | {mem} | {c.get('out_packets', 0):,} / {c.get('in_packets', 0):,} | "
                  f"{sums[0]:,} / {sums[1]:,} |")
        if bpf_test_runs:
            print("\nBPF_PROG_TEST_RUN in the router's namespace (mean ns per run of the program alone; "
                  "a hit includes the FIB lookup, both checksum updates and the redirect's return):\n")
            print("| map | hit ns (runs; hits counted) | ESP miss ns (unknown SPI) | UDP ns (not ESP) |")
            print("|---|---|---|---|")
            for name, cfg in (("one", "BPF1"), ("full", "BPF64k")):
                t = bpf_test_runs.get(name)
                if t:
                    print(f"| {cfg} ({t.get('sas')} SAs) | {t.get('hit_ns')} ({int(t.get('hit_runs', 0)):,}; {int(t.get('hits_counted', 0)):,}) | "
                          f"{t.get('miss_esp_ns')} | {t.get('miss_udp_ns')} |")

    if slow:  # the phase ran
        print("\n### Slow path (the daemon's verdicts per second, daemon on CPU0)\n")
        print("| stream | verdicts/s median | min–max | daemon CPU µs/verdict (incl. nft children) | = verdicts per CPU-second | share in nft children | sessions created/s | fail-open passes (lost) | target (achieved rate) |")
        print("|---|---|---|---|---|---|---|---|---|")
    for kind, rows in slow.items():
        v = [r[0] for r in rows]
        ok = med(v) >= 100_000
        checks.append((f"slow {kind} ≥ 100k/s", ok, f"{med(v):,.0f}/s"))
        print(f"| {kind} | {med(v):,.0f} | {rng(v)} | {med([r[1] for r in rows]):.1f} | {1e6 / med([r[1] for r in rows]):,.0f} | {100 * med([r[8] for r in rows]):.0f} % | {med([r[4] for r in rows]):,.0f} | "
              f"{sum(r[2] for r in rows):,} of {sum(r[5] for r in rows):,} sent | ≥ 100,000: {verdict(ok)} |")

    if ike:  # the phase ran
        print("\n### Queued IKE request/response latency (µs, round trip c→s→c, both messages queued with the daemon)\n")
        print("| router | p50 | p90 | p99 | max | lost | packets queued |")
        print("|---|---|---|---|---|---|---|")
    for mode, rows in ike.items():
        print(f"| {mode} | {med([r['p50_us'] for r in rows]):.0f} | {med([r['p90_us'] for r in rows]):.0f} | "
              f"{med([r['p99_us'] for r in rows]):.0f} | {max(r['max_us'] for r in rows):.0f} | {sum(int(r['lost']) for r in rows)} | "
              f"{sum(int(r.get('queued', 0)) for r in rows):,} |")
    if "alg" in ike and "stock" in ike:
        a50 = med([r["p50_us"] for r in ike["alg"]]) - med([r["p50_us"] for r in ike["stock"]])
        a99 = med([r["p99_us"] for r in ike["alg"]]) - med([r["p99_us"] for r in ike["stock"]])
        print(f"\nAdded by the daemon: p50 {a50:+.0f} µs, p99 {a99:+.0f} µs per round trip "
              f"(two queued packets: ≈ {a50 / 2:+.0f} µs p50 per queued IKE packet).")

    if rss:  # the phase ran
        print("\n### Daemon memory (kB, from /proc/PID/status)\n")
        print("| binary, state | VmRSS | (anon + file) | VmHWM | sessions | target |")
        print("|---|---|---|---|---|---|")
    for label, kv in rss:
        limit = 2048 if label.endswith("idle") else 8192
        r = int(kv.get("VmRSS", 0))
        checks.append((f"RSS {label} ≤ {limit // 1024} MB", r <= limit, f"{r} kB"))
        print(f"| {label} | {r:,} | {int(kv.get('RssAnon', 0)):,} + {int(kv.get('RssFile', 0)):,} | {int(kv.get('VmHWM', 0)):,} | {kv.get('sessions')} | ≤ {limit:,}: {verdict(r <= limit)} |")

    if restarts:
        print("\n### Restart after kill -9 with 10,000 sessions (until the new daemon answers with all of them)\n")
        print("| binary | ms | sessions | target |")
        print("|---|---|---|---|")
        for label, ms, n in restarts:
            ok = ms < 1000 and n >= 10000
            checks.append((f"restart {label} < 1 s with every session", ok, f"{ms} ms, {n} sessions"))
            print(f"| {label} | {ms:,} | {n:,} | < 1,000 ms: {verdict(ok)} |")

    print("\n### Targets\n")
    for name, ok, value in checks:
        print(f"- {name}: {value} — {'met' if ok else 'NOT met'}")


main()
