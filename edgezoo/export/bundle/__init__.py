"""App bundles: the artifacts one platform runs, made app-native, with ``contract.json``
(everything an app needs without Python), a README and checksums."""

from edgezoo.export.bundle.build import PLATFORMS, BundleResult, build_bundle

__all__ = ["PLATFORMS", "BundleResult", "build_bundle"]
