"""edgezoo: exportable image-restoration models and a budget-aware edge runtime.

Importing ``edgezoo`` is cheap: torch and the converters load only when a
subpackage that needs them (``edgezoo.zoo``, ``edgezoo.export``) is imported.
"""

__version__ = "0.1.0"
