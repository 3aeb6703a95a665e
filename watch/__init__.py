"""Veille: market and technology watch for e-commerce teams."""

__version__ = "0.1.0"
