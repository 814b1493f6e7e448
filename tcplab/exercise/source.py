"""A solution file read without trusting it, and the rules a file must meet to be run: the same for
`tcplab lab check` and `tcplab grade`, so a file refused by one is refused by the other with the same
words.

A student's file may be anything a file system holds: a symlink to a grader's file or to
/etc/shadow, a directory or a FIFO named LAB.py, a socket, a device, a giant. Nothing is followed,
nothing is waited on, nothing is read past the size cap. Its bytes must then be Python source as
`python FILE` reads it (PEP 263): UTF-8, or the codec a coding line on line 1 or 2 names. The
grader runs a file with runpy, which compiles its bytes and, unlike `python FILE`, lets a non-UTF-8
comment through (and refuses EBCDIC and UTF-16 source that `python FILE` runs); `problem` refuses
all of these first, so `lab check` and grading run exactly the same files.
"""

from __future__ import annotations

import codecs
import io
import os
import re
import stat
import tokenize
from pathlib import Path

from tcplab.i18n import _
from tcplab.userfile import kind

MAX_SOLUTION = 256 << 10
_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")


class Unusable(Exception):
    """A solution file that is not run; the message says why, in words for the student."""


def read_solution(path: Path) -> bytes:
    """The file's bytes, refusing what is not a small regular file (a symlink, a directory, a FIFO,
    a socket, a device, a giant) without following, blocking on or reading it; Unusable says why.
    The folder is opened first without following a symlink, and the file relative to it."""
    name = path.name
    try:
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise Unusable(
            _("the folder of {name} cannot be read ({error})").format(name=name, error=exc.strerror)
        ) from None
    try:
        return _read_in(folder, name)
    finally:
        os.close(folder)


def _read_in(folder: int, name: str) -> bytes:
    try:
        before = os.stat(name, dir_fd=folder, follow_symlinks=False)
    except OSError as exc:
        raise Unusable(
            _("{name} cannot be read ({error})").format(name=name, error=exc.strerror)
        ) from None
    if not stat.S_ISREG(before.st_mode):
        raise Unusable(
            _("{name} is {kind}; only a regular file is run").format(
                name=name, kind=kind(before.st_mode)
            )
        )
    _check_size(name, before.st_size)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(name, flags, dir_fd=folder)
    except OSError as exc:
        raise Unusable(
            _("{name} is not readable ({error})").format(name=name, error=exc.strerror)
        ) from None
    try:
        info = os.fstat(fd)
        if (info.st_dev, info.st_ino) != (before.st_dev, before.st_ino):
            raise Unusable(_("{name} was replaced while it was read").format(name=name))
        chunks, size = [], 0
        while size <= MAX_SOLUTION and (chunk := os.read(fd, MAX_SOLUTION + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise Unusable(
            _("{name} is not readable ({error})").format(name=name, error=exc.strerror)
        ) from None
    finally:
        os.close(fd)
    _check_size(name, size)
    return b"".join(chunks)


def _check_size(name: str, size: int) -> None:
    if size > MAX_SOLUTION:
        raise Unusable(_too_large(name, size))


def _too_large(name: str, size: int) -> str:
    return _("{name} is larger than {limit} KiB ({size} bytes); it was not run").format(
        name=name, limit=MAX_SOLUTION >> 10, size=size
    )


def problem(source: bytes, name: str) -> str | None:
    """Why these bytes are not run as `name` (None when they are): too large, or not text Python
    reads (not UTF-8 without a coding line, a coding line naming an unknown codec, bytes its codec
    cannot read). Pure: the same answer in `lab check` and in grading."""
    if len(source) > MAX_SOLUTION:
        return _too_large(name, len(source))
    declared = _declared(source)
    encoding = "utf-8-sig"
    if declared is not None:
        why = _unreadable_codec(declared)
        if why is not None:
            return _("{name}: its coding line names {codec}, {why}").format(
                name=name, codec=repr(declared), why=why
            )
        if source.startswith(codecs.BOM_UTF8) and codecs.lookup(declared).name != "utf-8":
            return _(
                "{name} starts with a UTF-8 byte order mark, but its coding line names {codec}"
            ).format(name=name, codec=repr(declared))
        try:
            encoding, _lines = tokenize.detect_encoding(io.BytesIO(source).readline)
        except SyntaxError as exc:  # a BOM with another coding line, or a codec Python refuses
            return f"{name}: {exc.msg.lower().rstrip('.')}"
    try:
        source.decode(encoding)
    except UnicodeDecodeError as exc:
        return _not_decoded(source, name, encoding, declared, exc)
    return None


def _unreadable_codec(declared: str) -> str | None:
    """Why a solution cannot be in this codec (None when it can): unknown, not a text codec (hex,
    rot13, zlib), or not ASCII-compatible (EBCDIC, UTF-16, UTF-32): `python FILE` runs some of
    those and runpy (the sandbox) none, so they would score differently in `lab check`."""
    try:
        info = codecs.lookup(declared)
    except LookupError:
        return _("a codec Python does not know")
    if not getattr(info, "_is_text_encoding", True):
        return _("not a text codec")
    try:
        same = b"# \n".decode(declared) == "# \n"
    except (LookupError, UnicodeError, TypeError):
        same = False
    return None if same else _("a codec that is not ASCII-compatible; save the file as UTF-8")


def _declared(source: bytes) -> str | None:
    """The codec a coding line names (line 1, or line 2 after a comment or blank line)."""
    lines = source.removeprefix(codecs.BOM_UTF8).splitlines()[:2]
    for i, line in enumerate(lines):
        found = _CODING.match(line)
        if found:
            return found.group(1).decode("ascii")
        if i == 0 and line.strip() and not line.lstrip().startswith(b"#"):
            return None  # code on line 1: a coding line on line 2 would not count
    return None


def _not_decoded(
    source: bytes, name: str, encoding: str, declared: str | None, exc: UnicodeDecodeError
) -> str:
    line = source[: exc.start].count(b"\n") + 1
    byte = source[exc.start]
    if declared is None:
        return _(
            "{name} is not UTF-8 (byte {byte} on line {line}) and has no coding line; "
            "save it as UTF-8, or name its codec on line 1: # -*- coding: latin-1 -*-"
        ).format(name=name, byte=f"0x{byte:02x}", line=line)
    return _(
        "{name} is not {encoding} as its coding line says (byte {byte} on line {line})"
    ).format(name=name, encoding=encoding, byte=f"0x{byte:02x}", line=line)
