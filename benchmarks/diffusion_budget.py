"""FD-fmnist against sampling cost for the diffusion ladder, and what the planner picks
at each budget.

    python benchmarks/diffusion_budget.py [--store DIR] [--budgets 5,10,20,...]

Reads the shipped generators' manifests (FD-fmnist per step count, measured on 5,000
samples: ``benchmarks/results/diffusion_ladder.json`` says where) and the per-step
latency ``edgezoo bench generate`` recorded for their exported step graphs under this
host's device profile (``--store``: the artifact store the exports went to). For each
budget it asks the runtime's planner for a plan among every (model, artifact, backend,
step count) and compares its FD with the best FD among the options that fit (the
issue's target: within 5%). Soft Diffusion rows (measured, not shipped) are costed at
the same-width Gaussian step graph's latency: the network is the same. Prints tables,
writes ``results/diffusion_budget.json`` and ``results/diffusion_fd_vs_cost.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LADDER = ("ddpm-unet-fmnist-xs", "ddpm-unet-fmnist-s", "ddpm-unet-fmnist-m", "ddpm-unet-fmnist-l",
          "ddpm-unet-fmnist-s-distill4")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, required=True, help="Artifact store holding the ladder's exports.")
    parser.add_argument("--budgets", default="3,5,10,20,40,80,160,320")
    parser.add_argument("--backend", default=None, help="Plan over this backend only (default: all here).")
    parser.add_argument("--json-out", type=Path, default=ROOT / "benchmarks" / "results" / "diffusion_budget.json")
    parser.add_argument("--plot", type=Path, default=ROOT / "benchmarks" / "results" / "diffusion_fd_vs_cost.png")
    args = parser.parse_args(argv)

    from edgezoo.errors import BudgetUnreachableError
    from edgezoo.manifests import packaged_manifest
    from edgezoo.runtimes import plan
    from edgezoo.runtimes.profile import device_profile
    from edgezoo.runtimes.store import list_exports

    profile = device_profile()
    exports = [e for e in list_exports([str(args.store)]) if e.name in LADDER]
    if not exports:
        sys.exit(f"no exports of {', '.join(LADDER)} in {args.store}: export them and run `edgezoo bench generate`")
    ladder = json.loads((ROOT / "benchmarks" / "results" / "diffusion_ladder.json").read_text())

    # one row per (model, steps): FD and cost, the step latency from the fastest measured fp32 artifact here
    rows, per_step = [], {}
    for e in exports:
        m = e.manifest
        latest = {}  # the planner reads each (artifact, backend, device)'s latest measurement here
        for a in m.artifacts:
            if a.precision == "fp32":
                for lat in a.latency:
                    if lat.device_profile == profile.id:
                        latest[(a.file, lat.backend, lat.device)] = (lat.p90_ms, lat.p50_ms, a.format, lat.backend)
        measured = list(latest.values())
        if not measured:
            continue
        p90, p50, fmt, backend = min(measured)
        gflop_step = (m.gflops_per_mpix or packaged_manifest(m.name).gflops_per_mpix) * 32 * 32 / 1e6
        per_step[m.name] = {"p50_ms": p50, "p90_ms": p90, "artifact": fmt, "backend": backend, "gflop": gflop_step,
                            "params": m.params}
        for q in m.quality:
            steps = int(q.metrics["steps"])
            rows.append({"model": m.name, "family": "gaussian", "params": m.params, "steps": steps,
                         "fd_fmnist": q.metrics["fd_fmnist"], "precision": q.metrics["precision"],
                         "recall": q.metrics["recall"], "ms_p90": round(p90 * steps, 3),
                         "gflop": round(gflop_step * steps, 4), "latency_from": f"{fmt} on {backend}"})
    for name, data in ladder["models"].items():
        if data["shipped"]:
            continue
        twin = name.replace("soft-", "ddpm-")
        if twin not in per_step:
            continue
        for steps, q in data["quality"].items():
            rows.append({"model": name, "family": "soft", "params": per_step[twin]["params"], "steps": int(steps),
                         "fd_fmnist": q["fd_fmnist"], "precision": q["precision"], "recall": q["recall"],
                         "ms_p90": round(per_step[twin]["p90_ms"] * int(steps), 3),
                         "gflop": round(per_step[twin]["gflop"] * int(steps), 4),
                         "latency_from": f"{twin}'s step graph (same network)"})

    budgets = []
    for budget in (float(b) for b in args.budgets.split(",")):
        fits = [r for r in rows if r["family"] == "gaussian" and r["ms_p90"] <= budget]
        entry = {"budget_ms": budget, "fitting_options": len(fits)}
        try:
            chosen = plan(exports, budget, backend=args.backend, image_size=(32, 32)).chosen
        except BudgetUnreachableError as exc:
            entry["plan"] = f"nothing fits: {exc}"
            budgets.append(entry)
            continue
        best = min(fits, key=lambda r: r["fd_fmnist"]) if fits else None
        entry.update({
            "chosen": f"{chosen.model} x {chosen.steps} steps, {chosen.artifact.key} on {chosen.target.key}",
            "chosen_fd": chosen.quality, "chosen_p90_ms": round(chosen.p90_ms, 3),
            "best_fd_that_fits": best["fd_fmnist"] if best else None,
            "best_option": f"{best['model']} x {best['steps']} steps" if best else None,
        })
        if best and chosen.quality is not None:
            entry["within_5pct"] = chosen.quality <= 1.05 * best["fd_fmnist"]
        budgets.append(entry)

    result = {"device_profile": profile.id, "device": profile.info,
              "per_step": per_step, "rows": rows, "budgets": budgets,
              "fd_floor_test": ladder["fd_floor_test"], "samples": ladder["samples"],
              "command": "python benchmarks/diffusion_budget.py --store STORE"}
    args.json_out.write_text(json.dumps(result, indent=1) + "\n")

    print(f"device profile {profile.id}")
    print(f"{'model':30} {'steps':>5} {'FD':>7} {'P':>6} {'R':>6} {'p90 ms':>9} {'GFLOP':>8}")
    for r in sorted(rows, key=lambda r: (r["family"], r["model"], r["steps"])):
        print(f"{r['model']:30} {r['steps']:5d} {r['fd_fmnist']:7.3f} {r['precision']:6.3f} {r['recall']:6.3f} "
              f"{r['ms_p90']:9.2f} {r['gflop']:8.3f}")
    print()
    for b in budgets:
        print(f"{b['budget_ms']:>6g} ms: {b.get('chosen', b.get('plan'))}  FD {b.get('chosen_fd')} "
              f"(best that fits: {b.get('best_option')}, FD {b.get('best_fd_that_fits')}; "
              f"within 5%: {b.get('within_5pct')})")
    _plot(rows, args.plot, profile.id, ladder["fd_floor_test"])
    print(f"wrote {args.json_out} and {args.plot}")
    return 0


def _plot(rows: list[dict], path: Path, profile_id: str, floor: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 5.4))
    for ax, key, label in ((axes[0], "ms_p90", f"ms per sample (p90, {profile_id})"),
                           (axes[1], "gflop", "GFLOP per sample")):
        for model in sorted({r["model"] for r in rows}):
            pts = sorted((r[key], r["fd_fmnist"], r["steps"]) for r in rows if r["model"] == model)
            style = "--" if model.startswith("soft") else "-"
            marker = "*" if "distill" in model else "o"
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, marker=marker, label=model)
            for x, y, s in pts:
                ax.annotate(str(s), (x, y), fontsize=7, xytext=(2, 2), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("FD-fmnist (5,000 samples; lower is better)")
        ax.grid(True, which="both", linewidth=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=5, fontsize=8)
    fig.suptitle(f"FD-fmnist against sampling cost (point labels: steps; the train-vs-test floor is {floor:.3f})")
    fig.tight_layout(rect=(0, 0.09, 1, 1))
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(path)


if __name__ == "__main__":
    raise SystemExit(main())
