"""tcplab: drive the real Linux TCP stack with hand-crafted segments and check what it does."""

__version__ = "0.1.0"
