"""rtpref: preference learning with response times, as a reproducible pipeline."""

__version__ = "0.1.0"
