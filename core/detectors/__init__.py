"""Detector implementations. Import them through :mod:`core.registry`, which loads each lazily."""
