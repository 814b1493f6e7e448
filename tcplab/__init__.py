"""tcplab: drive the real Linux TCP stack with hand-crafted segments and check what it does."""

__version__ = "0.1.0"


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a Python process tcplab starts (the kernel-side application, a
    solution, the shell): this package's parent first on the path, so a source checkout works like
    an installed package."""
    import os
    from pathlib import Path

    here = str(Path(__file__).resolve().parent.parent)
    path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, **extra, "PYTHONPATH": path}
