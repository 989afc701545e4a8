"""callpool: self-hosted call tracking for Asterisk PBX."""

__version__ = "0.1.0"
