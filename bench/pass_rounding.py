#!/usr/bin/env python3
"""Regenerate the table of docs/graph-passes.md: how far each graph pass
moves Inception-ResNet-v2's results between graph and eager mode.

One job per row (every pass off but the named one; `all` is the default),
each with the checks fixed_weights, random_inference and random_training,
run by `equivd validate`. Prints the markdown table; the figures are the
reports' max_abs_diff, ulp_distance and atol_needed.

    bench/pass_rounding.py [--equivd ./equivd] [--threads N]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

PASSES = ["constant_folding", "arithmetic", "fold_batch_norm",
          "fuse_bias_activation", "prune", "buffer_reuse"]
CHECKS = ["fixed_weights", "random_inference", "random_training"]


def job(row):
    j = {"name": "pass_rounding_" + row, "model": {"zoo": "inception_resnet_v2"},
         "seed_policy": "constant", "checks": CHECKS}
    if row != "all":
        j["graph_options"] = {p: p == row for p in PASSES}
    return j


def cell(details):
    logits = details["outputs"][0]
    eps = details.get("endpoints") or []
    if logits["max_abs_diff"] == 0 and all(e["max_abs_diff"] == 0 for e in eps):
        return "bit-identical"
    if logits["max_abs_diff"] == 0:
        text = "logits identical"
    else:
        text = "logits %.2g (%d ULP)" % (logits["max_abs_diff"],
                                          logits["worst"]["ulp_distance"])
    if eps:
        worst = max(eps, key=lambda e: e["max_abs_diff"])
        text += "; endpoints %.2g (%s, rel %.2g)" % (
            worst["max_abs_diff"], worst["name"], worst["max_rel_diff"])
        need = max([logits["atol_needed"]] + [e["atol_needed"] for e in eps])
        if need > 1e-8:
            text += "; atol needed %.2g" % need
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--equivd", default="./equivd")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    rows = ["none"] + PASSES + ["all"]
    print("| passes on | " + " | ".join(CHECKS) + " |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for row in rows:
            path = os.path.join(tmp, row + ".json")
            with open(path, "w") as f:
                json.dump(job(row), f)
            rep = os.path.join(tmp, row + ".report.json")
            cmd = [args.equivd, "validate", path, "--quiet", "--report", rep]
            if args.threads:
                cmd += ["--threads", str(args.threads)]
            print("running " + row, file=sys.stderr)
            rc = subprocess.call(cmd)
            if rc not in (0, 1):
                sys.exit("equivd validate failed (%d) on the %s job" % (rc, row))
            with open(rep) as f:
                report = json.load(f)
            byname = {c["name"]: c for c in report["checks"]}
            label = "all (the default)" if row == "all" else \
                "none" if row == "none" else "`%s`" % row
            print("| %s | %s |" % (label, " | ".join(
                cell(byname[c]["details"]) for c in CHECKS)))


if __name__ == "__main__":
    main()
