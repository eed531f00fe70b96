"""The edge runtime. Imports nothing heavy: no torch, no converters, no coremltools
(a test enforces this), so a device can install it with one backend alone."""
