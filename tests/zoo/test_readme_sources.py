"""The README's main tables agree with the files they name: the denoiser quality table
with the shipped manifests, the diffusion ladder and the budget tables with
``benchmarks/results/diffusion_{ladder,budget}.json``, the denoise plan table with
``benchmarks/results/bench_plan_denoise.json``, the precision tables with
``bench_precision.json`` and ``maxvit_precision.json``, the MULLER table with ``muller_fmnist.json``. Each table is found by its header row, and a
figure agrees when the source rounds to it (half a unit of its last printed digit)."""

import json
import re
from pathlib import Path

import pytest

from edgezoo.manifests import packaged_manifest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
RESULTS = ROOT / "benchmarks" / "results"


def _table(header_start: str) -> list[list[str]]:
    """The rows (cells stripped) of the README table whose header row starts with ``header_start``."""
    lines = README.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("| " + header_start)]
    assert len(starts) == 1, f"expected one README table headed '{header_start}', found {len(starts)}"
    rows = []
    for line in lines[starts[0] + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    assert rows, f"the README table headed '{header_start}' has no rows"
    return rows


def _number(cell: str) -> float:
    found = re.findall(r"-?\d[\d,]*\.?\d*", cell.replace("**", ""))
    assert found, f"no number in README cell {cell!r}"
    return float(found[0].replace(",", ""))


def _numbers(cell: str) -> list[str]:
    return re.findall(r"-?\d+\.\d+|-?\d[\d,]*", cell.replace("**", ""))


def _agrees(printed: str, source: float) -> bool:
    """Whether ``source`` rounds to the README's ``printed`` figure (either way at a tie)."""
    printed = printed.replace(",", "")
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    return abs(float(printed) - source) <= 0.5 * 10 ** -decimals + 1e-9


def _model(cell: str) -> str:
    return re.search(r"`([^`]+)`", cell).group(1)


def test_the_denoiser_quality_table_is_the_shipped_manifests():
    rows = _table("model | params | GFLOP/Mpix | sigma 15")
    checked = 0
    for row in rows:
        if row[0].startswith("`"):
            manifest = packaged_manifest(_model(row[0]))
            assert _number(row[1]) == manifest.params
            assert _agrees(_numbers(row[2])[0], manifest.gflops_per_mpix), row
            scores = [(q.mean.psnr_db, q.mean.ssim) for q in manifest.quality]
        else:
            who = "cbm3d" if row[0].startswith("CBM3D") else "noisy"
            reference = packaged_manifest("maxim-tiny-denoise")  # the baselines are the same in every manifest
            scores = [(q.baselines[who].psnr_db, q.baselines[who].ssim) for q in reference.quality]
            assert scores == [(q.baselines[who].psnr_db, q.baselines[who].ssim)
                              for q in packaged_manifest("maxim-small-denoise").quality]
        assert [q.degradation for q in packaged_manifest("maxim-tiny-denoise").quality] == [
            "gaussian sigma=15/255", "gaussian sigma=25/255", "gaussian sigma=50/255"]
        for cell, (psnr, ssim) in zip(row[3:6], scores):
            printed_psnr, printed_ssim = _numbers(cell)
            assert _agrees(printed_psnr, psnr) and _agrees(printed_ssim, ssim), (row[0], cell, psnr, ssim)
            checked += 1
    assert checked == 12  # noisy, CBM3D, tiny, small at three sigmas


def test_the_classifier_table_is_the_shipped_manifest():
    (row,) = _table("model | params | GFLOP/Mpix | Fashion-MNIST test top-1")
    manifest = packaged_manifest(_model(row[0]))
    assert _number(row[1]) == manifest.params and _agrees(_numbers(row[2])[0], manifest.gflops_per_mpix)
    assert _agrees(_numbers(row[3])[0], manifest.quality[0].metrics["top1"])
    epoch, selection = re.search(r"epoch (\d+), chosen by its top-1 of ([\d.]+)%", manifest.quality[0].note).groups()
    assert row[4].startswith(f"epoch {epoch} of") and f"{selection}%" in row[4]


def test_the_diffusion_ladder_table_is_diffusion_ladder_json():
    ladder = json.loads((RESULTS / "diffusion_ladder.json").read_text())["models"]
    steps = ["2", "4", "8", "16", "32", "50", "100"]
    rows = _table("FD-fmnist at N DDIM steps")
    assert [_model(r[0]) for r in rows] == ["ddpm-unet-fmnist-xs", "ddpm-unet-fmnist-s", "ddpm-unet-fmnist-m",
                                            "ddpm-unet-fmnist-l", "ddpm-unet-fmnist-s-distill4"]
    checked = 0
    for row in rows:
        quality = ladder[_model(row[0])]["quality"]
        for step, cell in zip(steps, row[1:]):
            printed = _numbers(cell)
            if not printed:  # an empty cell or "(not run)": the source must have no figure either
                assert step not in quality, (row[0], step)
                continue
            assert _agrees(printed[0], quality[step]["fd_fmnist"]), (row[0], step, cell)
            checked += 1
    assert checked == 28


def test_the_diffusion_cost_and_budget_tables_are_diffusion_budget_json():
    budget = json.loads((RESULTS / "diffusion_budget.json").read_text())
    assert budget["device_profile"] in README
    for row in _table("model | params | GFLOP/step | p50 ms/step"):
        step = budget["per_step"][_model(row[0])]
        assert _number(row[1]) == step["params"]
        for printed, source in zip([_numbers(c)[0] for c in row[2:5]], (step["gflop"], step["p50_ms"], step["p90_ms"])):
            assert _agrees(printed, source), (row, source)
        assert row[5] == f"{step['artifact']} on {step['backend']}"
    rows = _table("budget (p90) | the planner's choice")
    assert len(rows) == len(budget["budgets"])
    for row, source in zip(rows, budget["budgets"]):
        assert _number(row[0]) == source["budget_ms"]
        if "chosen" not in source:
            assert row[1].startswith("nothing fits")
            continue
        assert row[1].startswith(source["chosen"]) and _agrees(_numbers(row[1])[-1], source["chosen_p90_ms"]), row
        assert _agrees(_numbers(row[2])[0], source["chosen_fd"]), row
        assert _agrees(_numbers(row[3])[0], source["best_fd_that_fits"]) and source["best_option"] in row[3], row
        assert row[4] == ("yes" if source["within_5pct"] else "no")


def test_the_denoise_plan_table_is_bench_plan_denoise_json():
    bench = json.loads((RESULTS / "bench_plan_denoise.json").read_text())
    assert bench["device_profile"] in README
    rows = {(r["model"], r["artifact"], r["backend"]): r for r in bench["rows"]}
    columns = [("tflite-fp32-static", "litert"), ("openvino-fp32-static", "openvino"),
               ("onnx-fp32-static", "openvino"), ("onnx-fp32-static", "onnxruntime")]
    table = _table("variant | PSNR sigma 25 (artifact)")
    assert [_model(r[0]) for r in table] == ["maxim-tiny-denoise", "maxim-small-denoise"]
    for row in table:
        for cell, key in zip(row[2:], columns):
            source = rows[(_model(row[0]), *key)]
            p90, peak = _numbers(cell)
            assert _agrees(p90, source["p90_ms"]) and _agrees(peak, source["peak_mb"]), (row[0], key, cell)
    fastest = {m: min((r for r in bench["rows"] if r["model"] == m and r["artifact"].endswith("static")),
                      key=lambda r: r["p90_ms"]) for m in ("maxim-tiny-denoise", "maxim-small-denoise")}
    for budget, model in (("150", "maxim-tiny-denoise"), ("500", "maxim-small-denoise")):
        line = re.search(rf"edgezoo plan denoise --budget-ms {budget} +# -> (.*)", README).group(1)
        row = fastest[model]
        assert line.startswith(f"{model} {row['artifact']} on {row['backend']}:{row['device']}")
        assert _agrees(_numbers(line)[-1], row["p90_ms"]), line


def test_the_denoiser_precision_tables_are_bench_precision_json():
    bench = json.loads((RESULTS / "bench_precision.json").read_text())
    assert bench["device_profile"] in README
    export = json.loads((RESULTS / "bench_export_time.json").read_text())
    assert export["device_profile"] in README
    artifacts = export["artifacts"]
    for row in _table("format | fp32 parity | fp16 parity | int8 parity"):
        suffix = {"ONNX": "onnx", "TFLite": "tflite", "OpenVINO": "xml"}.get(row[0])
        if suffix is None:
            assert row[0] == "Core ML" and "not run" in row[1]
            continue
        for cell, precision in zip(row[1:4], ("fp32", "fp16", "int8")):
            artifact = artifacts.get(f"maxim-tiny-denoise-256x256-{precision}.{suffix}")
            if artifact is None:  # int8 that missed its gate on the selection photos: no artifact, the error says so
                assert precision == "int8" and cell == "no artifact" and f"-{precision}.{suffix}: task quality" in export["export_error"]
                assert _agrees(_numbers(row[5])[0], -0.40) and "-0.40 dB" in export["export_error"]
                break
            assert _agrees(_numbers(cell)[0], artifact["parity_db"]), (row[0], precision, cell)
        else:
            assert _agrees(_numbers(row[4])[0], artifact["quality_delta_db"]), row
            assert _agrees(_numbers(row[5])[0], artifact["selection_delta_db"]), row
    for row in _table("backend | fp32 | fp16 | int8 (gated)"):
        backend = {"ONNX Runtime": "onnxruntime", "OpenVINO": "openvino", "LiteRT": "litert"}[row[0]]
        by_precision = {r["precision"]: r for r in bench["rows"] if r["backend"] == backend}
        for cell, precision in zip(row[1:4], ("fp32", "fp16", "int8")):
            figures = _numbers(cell)
            assert _agrees(figures[0], by_precision[precision]["p50_ms"]), (row[0], precision, cell)
            if len(figures) > 1:
                assert _agrees(figures[1], by_precision[precision]["ratio_to_fp32"]), (row[0], precision, cell)


def test_the_classifier_precision_table_is_maxvit_precision_json():
    artifacts = json.loads((RESULTS / "maxvit_precision.json").read_text())["artifacts"]
    by_file = {a["file"]: a for a in artifacts}
    suffix = {"ONNX": "onnx", "TFLite": "tflite", "OpenVINO": "xml"}
    for row in _table("format | fp32 test top-1 (parity)"):
        if row[0] not in suffix:
            assert row[0] == "Core ML" and "not run" in row[1]
            continue
        artifact = {p: by_file[f"maxvit-tiny-fmnist-28x28-{p}.{suffix[row[0]]}"] for p in ("fp32", "fp16", "int8")}
        top1, parity = _numbers(row[1])[:2]
        assert _agrees(top1, artifact["fp32"]["test_top1"]) and _agrees(parity, artifact["fp32"]["parity_db"]), row
        if row[0] != "OpenVINO":  # its fp16 was re-exported after the JSON (the README says so)
            top1, parity = _numbers(row[2])[:2]
            assert _agrees(top1, artifact["fp16"]["test_top1"]) and _agrees(parity, artifact["fp16"]["parity_db"]), row
        loss, error = _numbers(row[3])[:2]
        assert _agrees(loss, artifact["int8"]["selection_delta"]), row
        assert _agrees(error, artifact["int8"]["selection_standard_error"]), row
        top1, delta = _numbers(row[4])[:2]
        assert _agrees(top1, artifact["int8"]["test_top1"]) and _agrees(delta, artifact["int8"]["test_delta"]), row


def test_the_muller_table_is_muller_fmnist_json():
    rows = json.loads((RESULTS / "muller_fmnist.json").read_text())["rows"]
    table = _table("classifier input | bilinear | MULLER")
    assert len(table) == 3
    for row in table:
        side = int(_number(row[0]))
        runs = {m: sorted((r["seed"], r["test_top1"]) for r in rows if r["side"] == side and r["method"] == m)
                for m in ("bilinear", "muller")}
        for cell, method in zip(row[1:3], ("bilinear", "muller")):
            scores = [t for _, t in runs[method]]
            assert _agrees(_numbers(cell)[0], sum(scores) / len(scores)), (row, method)
        gains = [m - b for (_, b), (_, m) in zip(runs["bilinear"], runs["muller"])]
        assert len(_numbers(row[3])) == len(gains)
        assert all(_agrees(printed, gain) for printed, gain in zip(_numbers(row[3]), gains)), row


@pytest.mark.parametrize("name", sorted(p.name for p in RESULTS.glob("*.json")))
def test_every_results_file_is_named_in_the_readme(name):
    assert f"results/{name}" in README or f"results/{name.split('.')[0]}.{{json" in README


def test_the_restoration_task_table_is_the_shipped_manifests():
    rows = _table("model | degradation (per photo) | degraded input | classical baseline | model")
    assert {_model(row[0]) for row in rows} == {"maxim-tiny-deblur", "maxim-tiny-derain", "maxim-tiny-dehaze",
                                                "maxim-tiny-enhance"}
    for row in rows:
        manifest = packaged_manifest(_model(row[0]))
        [result] = manifest.quality
        baselines = {name: score for name, score in result.baselines.items() if name != "degraded"}
        printed = {"degraded": _numbers(row[2]), "model": _numbers(row[4])}
        for psnr, ssim in zip(*[iter(_numbers(row[3]))] * 2):  # each baseline in the cell: PSNR / SSIM
            matches = [name for name, score in baselines.items() if _agrees(psnr, score.psnr_db) and _agrees(ssim, score.ssim)]
            assert matches, (row[0], psnr, ssim, baselines)
        for (psnr, ssim), score in ((printed["degraded"], result.baselines["degraded"]), (printed["model"], result.mean)):
            assert _agrees(psnr, score.psnr_db) and _agrees(ssim, score.ssim), (row[0], psnr, ssim, score)
        assert _number(row[5]) == manifest.weights.steps


def test_the_per_op_profile_figures_are_profile_ops_json():
    profile = json.loads((RESULTS / "profile_ops.json").read_text())
    assert profile["device_profile"] in README
    [maxim] = [m for m in profile["models"] if m["model"] == "maxim-tiny-denoise"]
    rows = maxim["rows"]
    share = re.search(r"convolutions and matmuls are \*\*(\d+)%\*\* of the\s+fp32 call \(([\d.]+) ms\)", README)
    assert share and _agrees(share.group(1), 100 * rows["fp32"]["compute_share"]) and _agrees(share.group(2), rows["fp32"]["p50_ms"])
    bound = re.search(r"at most \*\*([\d.]+)x\*\* faster", README)
    assert bound and _agrees(bound.group(1), maxim["amdahl_bound_if_compute_were_free"])
    slower = re.search(r"Real static QDQ int8 is slower: ([\d.]+) ms \(every op quantized\) and\s+([\d.]+) ms", README)
    assert slower and _agrees(slower.group(1), rows["int8 (every op)"]["p50_ms"])
    assert _agrees(slower.group(2), rows["int8 (conv and linear)"]["p50_ms"])


def test_the_int8_speedup_figures_are_int8_speedup_json():
    result = json.loads((RESULTS / "int8_speedup.json").read_text())
    assert result["device_profile"] in README and "avx512_vnni" in result["cpu"]["cpu_flags"]
    assert result["met_in_both_runs"] and all(r["int8_speedup_p50"] >= result["target_speedup"] for r in result["runs"])
    printed = re.search(r"is \*\*([\d.]+)x\*\* and\s+\*\*([\d.]+)x\*\* faster than the fastest fp32", README)
    assert printed, "the README's int8 speed-up sentence is missing"
    for figure, run in zip(printed.groups(), result["runs"]):
        assert _agrees(figure, run["int8_speedup_p50"])
        assert run["best_int8"]["file"].endswith("-int8.tflite")
    p50 = re.search(r"\(p50 ([\d.]+) ms against LiteRT fp32's ([\d.]+) ms", README)
    first = result["runs"][0]
    assert p50 and _agrees(p50.group(1), first["best_int8"]["p50_ms"]) and _agrees(p50.group(2), first["best_fp32"]["p50_ms"])
    [gate] = [g for g in result["int8_gates"] if g["file"].endswith("-int8.tflite")]
    assert gate["quality_passed"] and f"FD-fmnist {gate['quality_fd_fmnist']}" in README


def test_the_dvsr_table_is_its_shipped_manifest_and_bench_plan_deblur_json():
    manifest = packaged_manifest("dvsr-tiny-deblur")
    bench = json.loads((RESULTS / "bench_plan_deblur.json").read_text())
    assert bench["device_profile"] in README
    p90 = {r["artifact"]: r["p90_ms"] for r in bench["rows"] if r["model"] == "dvsr-tiny-deblur" and r["backend"] == "litert"}
    rows = _table("`dvsr-tiny-deblur`, served as | steps | PSNR")
    assert len(rows) == len(manifest.quality)
    for row, result in zip(rows, manifest.quality):
        steps = int(result.metrics["steps"])
        assert int(row[1]) == steps
        assert _agrees(_numbers(row[2])[0], result.mean.psnr_db) and _agrees(row[3], result.mean.ssim)
        cost = p90["predictor-tflite-fp32-static"] + steps * p90["denoiser-tflite-fp32-static"]
        assert _agrees(_numbers(row[4])[0], cost)
    base = manifest.quality[0].baselines
    for label, key in (("the blurred input", "degraded"), ("kernel", "wiener"), ("Richardson–Lucy", "richardson_lucy")):
        printed = re.search(re.escape(label) + r" ([\d.]+) dB", README)
        assert printed and _agrees(printed.group(1), base[key].psnr_db), label
    deblur = packaged_manifest("maxim-tiny-deblur").quality[0].mean.psnr_db
    assert f"`maxim-tiny-deblur` {deblur:.2f} dB" in README


def test_the_dvsr_domain_table_is_dvsr_deblur_domains_json():
    result = json.loads((RESULTS / "dvsr_deblur_domains.json").read_text())
    assert result["device_profile"] in README
    model = result["models"]["dvsr-tiny-deblur"]
    rows = _table("blur (9 photos, 256 px) | input | Wiener")
    columns = ["degraded", "wiener", "richardson_lucy", "predictor", "sample@2", "mean4@2", "sample@25", "mean4@25"]
    for row, domain in zip(rows, ("blur-gaussian", "blur-motion")):
        figures = model[domain]
        assert len(figures["images"]) == 9
        for cell, column in zip(row[1:9], columns):
            assert _agrees(cell, figures["mean"][column]["psnr_db"]), (domain, column, cell)
        assert _agrees(_numbers(row[9])[0], figures["diversity"]["pairwise_psnr_db@25"])
        assert figures["mean"]["predictor"]["psnr_db"] > max(figures["mean"][c]["psnr_db"] for c in columns[4:])


def test_the_guidance_table_is_dvsr_deblur_domains_json():
    """Structure guidance on and off, in and out of the training blur, as measured."""
    result = json.loads((RESULTS / "dvsr_deblur_domains.json").read_text())
    rows = _table("guidance | blur (9 photos, 256 px) | predictor")
    columns = ["predictor", "sample@2", "mean4@2", "sample@25", "mean4@25"]
    expected = [(m, d) for d in ("blur-gaussian", "blur-motion") for m in ("dvsr-tiny-deblur", "dvsr-tiny-deblur-guided")]
    assert len(rows) == len(expected)
    for row, (model, domain) in zip(rows, expected):
        assert f"`{model}`" in row[0]
        figures = result["models"][model][domain]
        assert len(figures["images"]) == 9
        for cell, column in zip(row[2:7], columns):
            assert _agrees(cell, figures["mean"][column]["psnr_db"]), (model, domain, column, cell)
        assert _agrees(_numbers(row[7])[0], figures["diversity"]["pairwise_psnr_db@25"])
    # the two share the predictor: its figures are the same weights' on the same pictures
    for domain in ("blur-gaussian", "blur-motion"):
        assert result["models"]["dvsr-tiny-deblur"][domain]["per_image"]["predictor"] == \
            result["models"]["dvsr-tiny-deblur-guided"][domain]["per_image"]["predictor"]


def _check_codi_rows(result: dict, header: str, families: tuple[str, ...]) -> None:
    """A CoDi table's rows (teacher at 0/25/50 steps, student at 1/2/4) against its JSON:
    one sample / mean of 4 per family, then the ONNX Runtime and LiteRT medians."""
    assert result["device_profile"] in README
    rows = _table(header)
    expected = [("teacher", "0"), ("teacher", "25"), ("teacher", "50"), ("student", "1"), ("student", "2"), ("student", "4")]
    assert len(rows) == len(expected)
    for row, (role, steps) in zip(rows, expected):
        assert row[1] == steps
        for cell, family in zip(row[2:2 + len(families)], families):
            figures = result["quality"][role][steps][family]
            printed = _numbers(cell)
            assert _agrees(printed[0], figures["sample"]["psnr_db"]), (role, steps, family)
            if figures["mean_of_samples"] is not None:
                assert _agrees(printed[1], figures["mean_of_samples"]["psnr_db"]), (role, steps, family)
        for cell, backend in zip(row[2 + len(families):], ("onnxruntime", "litert")):
            assert _agrees(_numbers(cell)[0], result["latency"][backend][role]["steps"][steps]["median_ms"]), (backend, cell)


def test_the_codi_table_is_codi_deblur_json():
    result = json.loads((RESULTS / "codi_deblur.json").read_text())
    _check_codi_rows(result, "served as | steps | Gaussian blur: 1 sample / mean of 4", ("blur-gaussian", "blur-motion"))
    gaps = result["student4_minus_teacher50_psnr_db"]
    assert f"{-gaps['blur-gaussian']:.2f} dB (Gaussian)" in README and f"{-gaps['blur-motion']:.2f} dB (motion)" in README
    for backend, label in (("onnxruntime", "ONNX Runtime"), ("litert", "LiteRT")):
        assert f"{result['latency'][backend]['teacher50_over_student4']:.1f}x ({label})" in README
    assert not result["speedup_met"] and not all(result["gap_met"].values())  # the README says the targets are not met


def test_the_codi_sr4_table_is_codi_sr4_json():
    result = json.loads((RESULTS / "codi_sr4.json").read_text())
    _check_codi_rows(result, "served as | steps | x4: 1 sample / mean of 4", ("sr4",))
    assert f"{-result['student4_minus_teacher50_psnr_db']['sr4']:.2f} dB below the 50-step teacher" in README
    for backend, label in (("onnxruntime", "ONNX Runtime"), ("litert", "LiteRT")):
        assert f"{result['latency'][backend]['teacher50_over_student4']:.1f}x ({label})" in README
    assert not all(result["gap_met"].values())  # the README says the quality target is not met


def test_the_conditional_rows_table_is_the_shipped_manifests():
    rows = _table("model | steps | PSNR | SSIM")
    shipped = [(name, q) for name in ("dvsr-tiny-deblur-guided", "codi-tiny-deblur", "dvsr-tiny-sr4", "codi-tiny-sr4")
               for q in packaged_manifest(name).quality]
    assert len(rows) == len(shipped)
    for row, (name, q) in zip(rows, shipped):
        assert row[0] == f"`{name}`" and int(row[1]) == int(q.metrics["steps"])
        assert _agrees(_numbers(row[2])[0], q.mean.psnr_db) and _agrees(row[3], q.mean.ssim)
    bicubic = packaged_manifest("dvsr-tiny-sr4").quality[0].baselines["bicubic"]
    assert f"bicubic up-sampling the baseline ({bicubic.psnr_db:.2f} dB / {bicubic.ssim:.4f})" in README


def test_the_imported_denoiser_table_is_its_eval_json_and_the_shipped_manifest():
    result = json.loads((RESULTS / "maxim_s3_denoise_eval.json").read_text())
    assert result["device_profile"] in README
    imported = {round(float(r["degradation"].split("=")[1].split("/")[0])): r for r in result["results"]}
    tiny = {round(float(q.degradation.split("=")[1].split("/")[0])): q for q in packaged_manifest("maxim-tiny-denoise").quality}
    rows = _table("sigma | noisy input | `maxim-s3-denoise`")
    assert [int(r[0]) for r in rows] == sorted(imported) == sorted(tiny)
    for row in rows:
        sigma = int(row[0])
        sources = (imported[sigma]["baselines"]["noisy"], imported[sigma]["mean"], tiny[sigma].mean.model_dump(),
                   tiny[sigma].baselines["cbm3d"].model_dump())
        for cell, source in zip(row[1:], sources):
            psnr, ssim = _numbers(cell)
            assert _agrees(psnr, source["psnr_db"]) and _agrees(ssim, source["ssim"]), (sigma, cell)
        # the imported model is scored on the very noise the shipped manifest records
        assert imported[sigma]["baselines"]["noisy"]["psnr_db"] == tiny[sigma].baselines["noisy"].psnr_db


# the TIP table: per row, the study's setting and which result each column shows (None: no figure)
_TIP_COLUMNS = {
    "noise-25": ("degraded input", "maxim-tiny-denoise (the frozen prior)", "maxim-tiny-deblur", None,
                 'TIP "denoise, sigma 25"', 'TIP "remove the noise"', 'TIP "remove all degradation"'),
    "blur-2": ("degraded input", "maxim-tiny-denoise (the frozen prior)", "maxim-tiny-deblur", "Wiener, true kernel",
               'TIP "remove blur of 2 px"', 'TIP "remove the blur"', 'TIP "remove all degradation"'),
    "noise-15+blur-1.5": ("degraded input", "maxim-tiny-denoise (the frozen prior)", "maxim-tiny-deblur",
                          "Wiener, true kernel", 'TIP "denoise sigma 15 and remove blur of 1.5 px"', None,
                          'TIP "remove all degradation"'),
}


def test_the_tip_tables_are_tip_study_json_and_tip_export_json():
    study = json.loads((RESULTS / "tip_study.json").read_text())
    assert study["device_profile"] in README and len(study["photos"]) == 9
    rows = _table("degradation (9 photos) | degraded input | `maxim-tiny-denoise`")
    assert [r[0].split()[0] for r in rows] == list(_TIP_COLUMNS)
    for row, (setting, columns) in zip(rows, _TIP_COLUMNS.items()):
        for cell, name in zip(row[1:], columns):
            if name is None:
                assert not _numbers(cell), (setting, cell)
                continue
            psnr, ssim = _numbers(cell)
            figure = study["quality"][setting][name]
            assert _agrees(psnr, figure["psnr_db"]) and _agrees(ssim, figure["ssim"]), (setting, name, cell)
    assert f"max |difference| {study['zero_init_max_abs_diff']:g}" in README
    strength = study["strength"]
    rows = _table("strength | 0 | 0.1")
    assert [_numbers(c)[0] for c in rows[0][1:]] == [f"{v:.1f}" for v in strength["noise_left_rms_255"]]
    assert [_numbers(c)[0] for c in rows[1][1:]] == [f"{v:.3f}" for v in strength["sharpness_over_clean"]]
    for kind in ("noise", "blur"):
        r = study["instruction_following"][kind]["pearson_r"]
        assert f"r = {r:.3f}" in README, kind
    export = json.loads((RESULTS / "tip_export.json").read_text())
    assert export["device_profile"] in README
    assert {(a["component"], a["format"]) for a in export["artifacts"]} == {
        (c, f) for c in ("text_encoder", "net") for f in ("onnx", "tflite", "openvino", "coreml")}
    assert all(a["passed"] for a in export["artifacts"])
    ran = [a["psnr_db"] for a in export["artifacts"] if a["executed"]]
    assert len(ran) == 6 and f"{min(ran):.1f} dB" in README
    assert f"{export['onnxruntime_latency']['tip_over_prior']:.2f}x" in README


def test_the_imported_model_export_figures_are_maxim_s3_export_json():
    result = json.loads((RESULTS / "maxim_s3_export.json").read_text())
    art = result["artifact"]
    assert f"a {art['bytes'] / 1e6:.1f} MB" in README and f"parity {art['parity_psnr_db']:.2f} dB" in README
    assert f"{art['quality']['psnr_db']:.2f} dB at sigma 25" in README
    for row, label in zip(result["latency"], ("ONNX Runtime p50", "OpenVINO")):
        assert f"{label} {row['p50_ms']:,.0f} ms" in README, label


def test_the_tip_served_tables_are_its_manifest_and_tip_served_json():
    manifest = packaged_manifest("tip-tiny-restore")
    rows = _table("setting (9 photos) | told | degraded input")
    assert len(rows) == len(manifest.quality)
    for row, result in zip(rows, manifest.quality):
        assert row[1] in result.note
        wiener = result.baselines.get("Wiener, true kernel")
        task = result.baselines.get("maxim-tiny-deblur (the task's model)")
        for cell, score in ((row[2], result.baselines["degraded"]), (row[3], result.baselines["the frozen prior alone"]),
                            (row[4], wiener), (row[5], task), (row[6], result.mean)):
            if score is None:
                assert not _numbers(cell), (row, cell)
                continue
            psnr, ssim = _numbers(cell)
            assert _agrees(psnr, score.psnr_db) and _agrees(ssim, score.ssim), (row, cell, score)
    served = json.loads((RESULTS / "tip_served.json").read_text())
    assert served["device_profile"] in README
    artifacts = {a["key"]: a for a in served["artifacts"]}
    latency = {(r["artifact"], r["backend"]): r for r in served["latency"]}
    formats = {"ONNX": ("onnx", "onnxruntime"), "LiteRT": ("tflite", "litert"), "OpenVINO IR": ("openvino", "openvino")}
    rows = _table("format, precision | net parity (dB)")
    checked = 0
    for row in rows:
        if row[0].startswith("Core ML"):
            assert "not run" in row[1]
            continue
        name, precision = row[0].split(" (")[0].rsplit(" ", 1)
        fmt, backend = formats[name]
        key = f"net-{fmt}-{precision}-{'dynamic' if 'dynamic' in row[0] else 'static'}"
        net, encoder = artifacts[key], artifacts[key.replace("net-", "text_encoder-")]
        assert _agrees(row[1], net["parity_db"]) and _agrees(row[2], encoder["parity_db"]), row
        assert _agrees(row[3], net["quality_psnr_db"]), row
        assert (row[4] == "-") == (net["quality_delta_db"] is None) and (
            row[4] == "-" or _agrees(row[4].replace("+", ""), net["quality_delta_db"])), row
        assert _agrees(_numbers(row[5])[0], latency[(key, backend)]["p50_ms"]), row
        assert _agrees(_numbers(row[6])[0], latency[(key.replace("net-", "text_encoder-"), backend)]["p50_ms"]), row
        checked += 1
    assert checked == sum(1 for a in artifacts.values() if a["component"] == "net" and a["parity_executed"])


def test_the_imported_task_models_table_is_maxim_upstream_eval_json_and_the_shipped_manifests():
    result = json.loads((RESULTS / "maxim_upstream_eval.json").read_text())
    assert result["device_profile"] in README
    rows = _table("upstream model (trained on) | task | degraded input")
    by_model = {r["model"]: r for r in result["rows"]}
    assert [_model(row[0]) for row in rows] == list(by_model)
    for row in rows:
        measured = by_model[_model(row[0])]
        tiny = packaged_manifest(f"maxim-tiny-{row[1]}").quality[0]
        assert measured["degradation"] == tiny.degradation  # scored on the same degradation as the tiny model
        for cell, (psnr, ssim) in ((row[2], (measured["degraded"]["psnr_db"], measured["degraded"]["ssim"])),
                                   (row[3], (measured["psnr_db"], measured["ssim"])),
                                   (row[4], (tiny.mean.psnr_db, tiny.mean.ssim))):
            printed = _numbers(cell)
            assert _agrees(printed[0], psnr) and _agrees(printed[1], ssim), (row, cell)


def test_the_imported_model_other_formats_are_maxim_s3_export_json():
    more = json.loads((RESULTS / "maxim_s3_export.json").read_text())["more_formats"]
    by_format = {a["format"]: a for a in more["artifacts"]}
    assert set(by_format) == {"tflite", "openvino", "coreml"} and not by_format["coreml"]["parity_executed"]
    for fmt, label in (("tflite", "LiteRT"), ("openvino", "OpenVINO IR")):
        art = by_format[fmt]
        assert f"{label} {art['bytes'] / 1e6:.1f} MB" in README and f"parity {art['parity_psnr_db']:.2f} dB" in README
        assert art["quality"]["psnr_db"] == pytest.approx(27.61, abs=0.005)
    for row, label in zip(more["latency"], ("LiteRT p50", "OpenVINO IR")):
        assert f"{label} {row['p50_ms']:,.0f} ms" in README, label
