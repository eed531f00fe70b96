"""The ``edgezoo`` command. Subcommands live in their own modules and load only when
called, so ``edgezoo --help`` imports neither torch nor any converter."""

from __future__ import annotations

import importlib
import sys

import click

from edgezoo import __version__

# name -> (module, function, one-line help). Help text lives here so listing commands
# needs no import of the command modules.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "list": ("edgezoo.cli.zoo_cmds", "list_cmd", "List the models in the zoo."),
    "info": ("edgezoo.cli.zoo_cmds", "info_cmd", "Show a model's card: task, paper, I/O, weights, quality."),
    "train": ("edgezoo.cli.zoo_cmds", "train_cmd", "Train a model with the zoo's recipe (resumable)."),
    "eval": ("edgezoo.cli.zoo_cmds", "eval_cmd", "Measure a model's quality on the evaluation photos."),
    "export": ("edgezoo.cli.export_cmds", "export_cmd", "Export a model to ONNX, TFLite, Core ML and OpenVINO."),
    "verify": ("edgezoo.cli.export_cmds", "verify_cmd", "Check every artifact in a folder against PyTorch."),
    "devices": ("edgezoo.cli.runtime_cmds", "devices_cmd", "Show the backends and devices this host can run."),
    "bench": ("edgezoo.cli.runtime_cmds", "bench_cmd", "Measure latency of a model's artifacts here."),
    "plan": ("edgezoo.cli.runtime_cmds", "plan_cmd", "Choose variant, artifact and device for a latency budget."),
    "run": ("edgezoo.cli.runtime_cmds", "run_cmd", "Restore images with the runtime's choice."),
    "batch": ("edgezoo.cli.batch_cmd", "batch_cmd", "Run a model over many pictures (process pool or Ray), resumable."),
    "generate": ("edgezoo.cli.generate_cmd", "generate_cmd", "Generate samples with a diffusion model's sampler."),
    "bundle": ("edgezoo.cli.bundle_cmd", "bundle_cmd", "Bundle a model's artifacts for an Android, iOS or Linux app."),
    "demo": ("edgezoo.cli.demo_cmd", "demo_cmd", "Export the default model everywhere and restore the sample photo."),
    "weights": ("edgezoo.cli.weights_cmds", "weights_group", "Import upstream checkpoints (offline) into the cache."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, helptext) for name, (_, _, helptext) in COMMANDS.items()])


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="edgezoo")
def cli() -> None:
    """edgezoo: export restoration models to every edge format and run them within a latency budget."""


def main(argv: list[str] | None = None) -> int:
    """Console entry point: maps edgezoo's typed errors to one line and an exit code."""
    from edgezoo.errors import EdgezooError

    for stream in (sys.stdout, sys.stderr):
        # a file name that is not UTF-8 (kept by Python as surrogates) is printed as its own bytes
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="surrogateescape")
    try:
        status = cli.main(args=argv, prog_name="edgezoo", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("edgezoo: interrupted; nothing partial was left behind", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except EdgezooError as exc:
        click.echo(f"edgezoo: error: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("edgezoo: interrupted; nothing partial was left behind", err=True)
        return 130
    # without standalone mode, click returns a command's `Exit(code)` instead of exiting
    return status if isinstance(status, int) else 0


if __name__ == "__main__":
    sys.exit(main())
