#!/usr/bin/env python3
"""Plots run_e2e.sh's JSON lines: tokens/s by model, threads, engine and weight type, and
prints them as a markdown table (with the accuracy rows) on stdout.

    python3 bench/e2e/plot_e2e.py e2e.jsonl docs/e2e.png
(Debian's python3-matplotlib; never needed by the build.)
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def rows(path):
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        r = json.loads(line)
        if r.get("test", "").startswith("accuracy"):
            continue
        if r.get("peer") == "llama.cpp":
            test = "pp%d" % r["n_prompt"] if r["n_prompt"] > 0 else "tg%d" % r["n_gen"]
            yield dict(model=r["model_dir"], engine="llama.cpp " + r["weights"], test=test,
                       threads=r["n_threads"], tps=r["avg_ts"])
        else:
            # A checkpoint stored in another dtype (<model>-bf16/) is the same model; weights
            # read where they lie in the file (binding "in_place") are their own engine.
            model = r["model"]
            for suffix in ("-bf16", "-f16"):
                if model.endswith(suffix):
                    model = model[: -len(suffix)]
            engine = "ctt " + r["weights"]
            if r.get("binding") == "in_place":
                engine += " in place"
            yield dict(model=model, engine=engine, test=r["test"], threads=r["threads"],
                       tps=r["tokens_per_second"])


def table(data, path):
    print("| model | threads | test | " + " | ".join(ENGINES) + " |")
    print("|---" * (3 + len(ENGINES)) + "|")
    keys = sorted({(d["model"], d["threads"], d["test"]) for d in data},
                  key=lambda k: (k[0], k[1], k[2]))
    for model, threads, test in keys:
        cells = []
        for e in ENGINES:
            v = [d["tps"] for d in data if (d["model"], d["threads"], d["test"], d["engine"]) ==
                 (model, threads, test, e)]
            cells.append("%.1f" % v[0] if v else "")
        print(f"| {model} | {threads} | {test} | " + " | ".join(cells) + " |")
    acc = [json.loads(l) for l in open(path) if '"accuracy' in l]
    if acc:
        print()
        print("| model | weights | positions | max abs dlogit | mean KL | top-1 |")
        print("|---|---|---|---|---|---|")
        for r in acc:
            print("| %s | %s | %s | %.3g | %.3g | %.4f |" % (
                r["model"], r["weights"], r["test"][len("accuracy"):], r["max_abs_logit_diff"],
                r["mean_kl"], r["top1"]))


ENGINES = ["ctt f32", "ctt bf16", "ctt f16", "ctt int8", "ctt f32 in place",
           "ctt bf16 in place", "ctt f16 in place", "llama.cpp f32", "llama.cpp f16"]


def main():
    data = list(rows(sys.argv[1]))
    table(data, sys.argv[1])
    engines = sorted({d["engine"] for d in data}, key=lambda e: (not e.startswith("ctt"), e))
    tests = sorted({d["test"] for d in data})
    groups = sorted({(d["model"], d["threads"]) for d in data})
    fig, axes = plt.subplots(1, len(tests), figsize=(6 * len(tests), 4))
    for ax, test in zip(axes if len(tests) > 1 else [axes], tests):
        width = 0.8 / len(engines)
        for i, engine in enumerate(engines):
            values = []
            for g in groups:
                v = [d["tps"] for d in data if (d["model"], d["threads"]) == g and
                     d["engine"] == engine and d["test"] == test]
                values.append(v[0] if v else 0.0)
            ax.bar([x + i * width for x in range(len(groups))], values, width, label=engine)
        ax.set_xticks([x + 0.4 - width / 2 for x in range(len(groups))])
        ax.set_xticklabels([f"{m}\n{t} thr" for m, t in groups])
        ax.set_ylabel("tokens/s")
        ax.set_yscale("log")
        ax.set_title(test)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)


if __name__ == "__main__":
    main()
