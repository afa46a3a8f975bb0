"""venue: a self-hosted exchange that serves the Bitfinex API v2."""

__version__ = "0.1.0"
