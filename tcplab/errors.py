"""Errors, grouped by who must act; only the CLI turns them into text and an exit code.

A kernel that answers differently is not an error: it is a finding (see tcplab.engine.check).
"""

from __future__ import annotations

EXIT_KERNEL = 1  # the kernel did not behave as expected
EXIT_USAGE = 2  # bad input: fix the command line or the file
EXIT_ENVIRONMENT = 3  # not root, testbed not set up, a tool missing


class TcplabError(Exception):
    """Base error: a one-line message and a one-line hint."""

    exit_code = EXIT_ENVIRONMENT

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(TcplabError):
    """The user asked for something impossible: a bad target, port or option."""

    exit_code = EXIT_USAGE


class DefinitionError(UsageError):
    """A malformed scenario or lab definition."""


class EnvironmentProblem(TcplabError):
    """The machine is not ready: not root, testbed missing, a tool missing, netlink refused."""

    exit_code = EXIT_ENVIRONMENT
