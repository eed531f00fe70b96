"""Ship the diffusion ladder from a device run (``scripts/device_diffusion.py``):
``release_diffusion.py RUN_DIR`` reads ``RUN_DIR/gaussian_weights.safetensors`` and the
quality tables ``RUN_DIR/quality*.json`` (rows measured from the same float16 weights),
and writes each model's weights and manifest into the package. Models without a
measured table are not shipped."""

import json
import re
import sys
from pathlib import Path

from edgezoo.zoo.release_diffusion import load_packed, release_diffusion
from edgezoo.zoo.variants.diffusion import SHIPPED

LINE = re.compile(r"\] (\S+) @ (\d+) steps: FD ([\d.]+) \(sel ([\d.]+)\), P ([\d.]+) R ([\d.]+), copies (\d+)")


def rows_from_logs(run: Path, floor: float, samples: int) -> dict[str, dict]:
    """Rows a run printed but did not get to write to its JSON (the run hit its time
    limit mid-model): the same measurement, read back from its log lines."""
    tables: dict[str, dict] = {}
    for path in sorted(run.glob("*.log")):
        text = path.read_text()
        # a device run first smoke-tests every phase on a 2-second model into /tmp/smoke-out:
        # only what follows its first real pack is measurement
        real = text.find("packed into /root/out")
        for m in LINE.finditer(text[real:] if real >= 0 else text):
            name, steps, fd, sel, precision, recall, copies = m.groups()
            tables.setdefault(name, {})[steps] = {
                "samples": samples, "fd_fmnist": float(fd), "fd_fmnist_selection": float(sel),
                "fd_fmnist_floor": floor, "precision": float(precision), "recall": float(recall), "copies": int(copies)}
    return tables


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: release_diffusion.py RUN_DIR")
    run = Path(sys.argv[1])
    tables: dict[str, dict] = {}
    devices: dict[str, str] = {}
    first = json.loads(sorted(run.glob("quality*.json"))[0].read_text())
    for name, rows in rows_from_logs(run, first["fd_floor_test"], first["samples"]).items():
        tables[name] = rows
        devices[name] = first["device"]
    for path in sorted(run.glob("quality*.json")):
        data = json.loads(path.read_text())
        for name, rows in data["models"].items():
            tables.setdefault(name, {}).update(rows)
            devices[name] = data["device"]
    ladder = {"device": devices, "fd_floor_test": first["fd_floor_test"], "samples": first["samples"],
              "command": "scripts/device_diffusion.py (train, pack, distill, evaluate), then "
                         "scripts/release_diffusion.py RUN_DIR", "models": {}}
    for name, rows in sorted(tables.items()):
        family = "soft" if name.startswith("soft-") else "gaussian"
        state, record = load_packed(run / f"{family}_weights.safetensors", name)
        shipped = family == "gaussian" and (name.endswith("-distill4") or name.rsplit("-", 1)[-1] in SHIPPED)
        ladder["models"][name] = {"shipped": shipped, "training": record,
                                  "quality": {s: rows[s] for s in sorted(rows, key=int)}}
        if not shipped:
            continue  # measured, not shipped: see the README's diffusion section
        note = (f"measured on {devices[name]} from the float16 weights that ship (fp32 compute"
                f"{', TF32 matmuls' if 'H200' in devices[name] else ''})")
        manifest = release_diffusion(name, state, rows, record, note)
        print(name, {s: r["fd_fmnist"] for s, r in rows.items()})
    out = Path(__file__).resolve().parent.parent / "benchmarks" / "results" / "diffusion_ladder.json"
    out.write_text(json.dumps(ladder, indent=1) + "\n")
    print("wrote", out)
