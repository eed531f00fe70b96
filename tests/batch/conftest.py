import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtimes"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from shared_fixtures import _isolated_store, conv_dir  # noqa: E402,F401 - fixtures
