"""The PNG charts (matplotlib, Agg backend)."""

import os
import sys

from .launch import ALGORITHMS, REPLICA_COUNTS


SYSTEM_PYTHON = "/usr/bin/python3"


def import_matplotlib():
    try:
        import matplotlib
    except ImportError:
        # Debian installs python3-matplotlib for the system interpreter only.
        if os.path.realpath(sys.executable) != os.path.realpath(SYSTEM_PYTHON) and \
                os.path.exists(SYSTEM_PYTHON):
            os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON, os.path.abspath(sys.argv[0])] + sys.argv[1:])
        sys.exit("analysis: matplotlib is missing: run scripts/install-deps")
    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as pyplot
    import matplotlib.ticker as ticks_module
    return pyplot, ticks_module


plt, ticker = import_matplotlib()


def chart_a1(a1, path):
    names = list(a1["counts"])
    values = [a1["counts"][name] for name in names]
    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    bars = axes.bar(names, values, color="#4C72B0")
    axes.axhline(a1["mean"], color="#C44E52", linestyle="--", label=f"mean {a1['mean']:.0f}")
    axes.bar_label(bars, padding=2)
    axes.set_ylabel("requests")
    axes.set_title(f"A-1: {a1['requests']:,} requests on N = 3 ({a1['algorithm']}), "
                   f"max/mean {a1['max_over_mean']:.3f}")
    axes.set_ylim(0, max(values) * 1.15)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def chart_a2(a2, ideal, path):
    ns = sorted(a2)
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    means = [a2[n]["mean"] for n in ns]
    left.plot(ns, means, marker="o", label="average (R / N)")
    left.plot(ns, [a2[n]["max"] for n in ns], marker="^", linestyle="--", label="busiest server")
    left.plot(ns, [a2[n]["min"] for n in ns], marker="v", linestyle="--", label="idlest server")
    left.set_xlabel("replicas N")
    left.set_ylabel("requests per server")
    left.set_xticks(ns)
    left.legend()
    left.set_title("average load per server")
    right.plot(ns, [a2[n]["max_over_mean"] for n in ns], marker="o", color="#C44E52")
    right.plot(ns, [ideal[n] for n in ns], color="grey", linestyle=":",
               label="ideal uniform hash (noise floor)")
    right.axhline(1.05, color="black", linestyle="--", linewidth=0.8, label="target 1.05")
    right.set_xlabel("replicas N")
    right.set_ylabel("max / mean")
    right.set_xticks(ns)
    right.set_ylim(0.98, max(1.1, max(a2[n]["max_over_mean"] for n in ns) + 0.02))
    right.legend()
    right.set_title("imbalance (max / mean)")
    figure.suptitle(f"A-2: {a2[ns[0]]['requests']:,} requests per N ({a2[ns[0]]['algorithm']})")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def chart_a3(a3, path):
    bucket_s = a3["timeline"]["bucket_ms"] / 1000
    ok = a3["timeline"]["ok"]
    errors = a3["timeline"]["errors"]
    times = [i * bucket_s for i in range(len(ok))]
    figure, axes = plt.subplots(figsize=(10, 4.2))
    axes.bar(times, [v / bucket_s for v in ok], width=bucket_s * 0.9, align="edge",
             color="#4C72B0", label="OK requests/s")
    axes.bar(times, [v / bucket_s for v in errors], width=bucket_s * 0.9, align="edge",
             bottom=[v / bucket_s for v in ok], color="#C44E52", label="errors/s")
    marks = [("kill_offset_ms", f"SIGKILL {a3['victim']}", "black"),
             ("respawned_offset_ms", "respawned", "#DD8452"),
             ("up_offset_ms", "back in the ring", "#55A868")]
    for key, text, color in marks:
        if a3.get(key) is not None:
            axes.axvline(a3[key] / 1000, color=color, linestyle="--", label=text)
    axes.set_xlabel("seconds since the load started")
    axes.set_ylabel("per second (100 ms buckets)")
    recovery = a3["recovery_ms"]
    axes.set_title(f"A-3: replica killed under load: recovery "
                   f"{'n/a' if recovery is None else f'{recovery:.0f} ms'}, "
                   f"failed requests {a3['failed']} of {a3['requests']:,}")
    # Below the axes: the bars fill the plot's height.
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=5, fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def chart_a4(a4, path):
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
    servers = ["Server1", "Server2", "Server3"]
    width = 0.8 / len(ALGORITHMS)
    for index, algorithm in enumerate(ALGORITHMS):
        counts = a4["a1"][algorithm]["counts"]
        positions = [s + (index - (len(ALGORITHMS) - 1) / 2) * width for s in range(len(servers))]
        left.bar(positions, [counts.get(name, 0) for name in servers], width=width,
                 label=f"{algorithm} ({a4['a1'][algorithm]['max_over_mean']:.2f})")
    left.set_xticks(range(len(servers)))
    left.set_xticklabels(servers)
    left.set_ylabel("requests")
    left.set_title("A-1 per algorithm: requests per server, N = 3 (max/mean)")
    left.legend(fontsize="small")
    for algorithm in ALGORITHMS:
        rows = a4["a2"][algorithm]
        ns = sorted(rows)
        right.plot(ns, [rows[n]["max_over_mean"] for n in ns], marker="o", label=algorithm)
    ideal = a4["ideal"]
    right.plot(sorted(ideal), [ideal[n] for n in sorted(ideal)], color="grey", linestyle=":",
               label="ideal uniform hash (noise floor)")
    right.set_yscale("log")
    # Plain ticks: a log axis from 1 to 5 otherwise prints 10^0 and 4x10^0.
    ticks = [1.0, 1.1, 1.25, 1.5, 2, 3, 4, 5, 7]
    top = max(max(r["max_over_mean"] for r in a4["a2"][a].values()) for a in ALGORITHMS)
    right.set_ylim(0.98, top * 1.1)
    right.yaxis.set_major_locator(ticker.FixedLocator([t for t in ticks if t <= top * 1.1]))
    right.yaxis.set_major_formatter(ticker.FormatStrFormatter("%.2f"))
    right.yaxis.set_minor_formatter(ticker.NullFormatter())
    right.set_xlabel("replicas N")
    right.set_ylabel("max / mean (log scale)")
    right.set_xticks(REPLICA_COUNTS)
    right.set_title("A-2 per algorithm: imbalance by N")
    right.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
