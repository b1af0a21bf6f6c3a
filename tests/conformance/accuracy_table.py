#!/usr/bin/env python3
"""The accuracy table of docs/benchmarks.md from the reduced-precision conformance runs:

    ctest --test-dir build -L reduced -V | python3 tests/conformance/accuracy_table.py

Per case and weight type: the largest error relative to max(1, max|ref|) over the case's
outputs, the logits' max |delta|, mean KL divergence and top-1 agreement, and greedy decoding
(whether the ids match; teacher-forced steps whose f32 margin excludes a flip, and flips).
"""
import re
import sys
from collections import defaultdict

cases = defaultdict(dict)
for line in sys.stdin:
    m = re.search(r"accuracy (\S+) (\S+) (.*)$", line)
    if not m:
        continue
    case, weights, rest = m.groups()
    row = cases[(case, weights)]
    parts = rest.split()
    output = parts[0]
    if "max_abs" in parts:
        rel = float(parts[parts.index("rel") + 1])
        row["rel"] = max(row.get("rel", 0.0), rel)
        if "kl" in parts:
            row["logits"] = "%s %s / %s / %s" % (output, parts[parts.index("max_abs") + 1],
                                                parts[parts.index("kl") + 1],
                                                parts[parts.index("top1") + 1])
    elif parts[1] == "ids":
        row["ids"] = parts[2]
    elif output == "greedy_margins":
        n = re.search(r"(\d+) steps, (\d+) with .*, (\d+) other picks, (\d+) of them", rest)
        row["margins"] = "%s of %s decisive; %s flips, %s decisive" % (n.group(2), n.group(1),
                                                                      n.group(3), n.group(4))

print("| case | weights | max rel. error | logits: max abs / mean KL / top-1 | greedy ids | "
      "teacher-forced steps |")
print("|---|---|---|---|---|---|")
for (case, weights), row in sorted(cases.items()):
    print("| %s | %s | %.3g | %s | %s | %s |" % (case, weights, row.get("rel", 0.0),
                                              row.get("logits", ""), row.get("ids", ""),
                                              row.get("margins", "")))
