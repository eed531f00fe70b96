import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
    """Four synthetic 'photos' (smooth colour patterns with a little texture), 640 px:
    after the pool's shrink by 2 they are 320 px, enough for patches with a margin."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:640, 0:640] / 640.0
    for i in range(4):
        base = np.stack([np.sin(6 * xx + i), np.cos(5 * yy - i), xx * yy], -1) * 0.4 + 0.5
        base += rng.normal(0, 0.02, base.shape)
        Image.fromarray((np.clip(base, 0, 1) * 255).astype(np.uint8)).save(folder / f"p{i}.png")
    return folder


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """These tests train and sample tiny networks on tiny batches: one thread is fastest,
    and on a busy host more threads only wait on each other."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
