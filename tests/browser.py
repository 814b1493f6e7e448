"""A real browser for the tests: headless Chromium renders a page (HTML report, SVG picture), and
we read back what a person would see and what the page complained about.

Theory of operation. Chromium's `--screenshot` and `--enable-logging=stderr` switches lose what
matters here: every console line is logged at INFO whatever its level, a file that fails to load
says nothing, and a malformed SVG renders Chromium's own "This page contains the following
errors" box without a word on stderr. So we drive Chromium over the DevTools protocol on a pipe
(`--remote-debugging-pipe`: commands on fd 3, answers on fd 4, JSON separated by NUL bytes), with
the standard library only: console calls arrive with their level, uncaught exceptions and failed
loads as events, the page is asked for its parse errors, broken images and text, and the
screenshot is a PNG of the whole page. The PNG is decoded here (zlib, no Pillow) to check that it
is not blank and has the size asked for.

Every Chromium gets its own temporary profile (--user-data-dir, removed afterwards) and its own
process group, killed at the end also on timeout or error; any process still naming the profile is
killed by pid.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NAMES = ("chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
    "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--mute-audio",
    "--hide-scrollbars", "--disable-background-networking", "--disable-sync",
    "--allow-file-access-from-files", "--disable-dev-shm-usage",
)  # fmt: skip
BAD_LEVELS = ("error", "assert", "exception")
PROFILES: list[str] = []  # every profile this process gave a Chromium (each gone when it ended)


class BrowserError(Exception):
    """Chromium did not start, answer or render in time."""


def find_chromium() -> str | None:
    """The browser to use: $TCPLAB_CHROMIUM, else the first of NAMES on PATH."""
    chosen = os.environ.get("TCPLAB_CHROMIUM")
    if chosen:
        return shutil.which(chosen)
    return next((p for p in map(shutil.which, NAMES) if p), None)


@dataclass(frozen=True)
class Message:
    """One thing the page said: a console call, an exception or a log entry (e.g. a failed load)."""

    level: str  # "log", "warning", "error", "exception", …
    text: str
    source: str = ""

    def __str__(self) -> str:
        return f"{self.level}: {self.text}" + (f" ({self.source})" if self.source else "")


@dataclass(frozen=True)
class Page:
    """What Chromium made of a page."""

    url: str
    screenshot: Path
    size: tuple[int, int]  # the screenshot's width and height, as asked for
    messages: tuple[Message, ...]
    text: str  # what a reader sees (innerText), or an SVG document's text content
    parse_error: str  # Chromium's XML parse error box, if the document did not parse
    broken_images: tuple[str, ...]  # <img> that did not load or decode

    @property
    def problems(self) -> list[str]:
        """Everything that makes the page wrong: errors, parse errors, broken images."""
        found = [str(m) for m in self.messages if m.level in BAD_LEVELS]
        if self.parse_error:
            found.append(f"parse error: {self.parse_error}")
        found += [f"broken image: {src}" for src in self.broken_images]
        return found


# ---- the process and its pipe -------------------------------------------------------------


class Pipe:
    """The DevTools protocol on a pipe: send a command, wait for its answer, keep the events."""

    def __init__(self, to_browser: int, from_browser: int, deadline: float, profile: str) -> None:
        self.to, self.frm, self.deadline = to_browser, from_browser, deadline
        self.profile = profile  # the run's --user-data-dir
        self.buffer = b""
        self.events: list[dict[str, Any]] = []
        self.next_id = 0

    def call(self, method: str, session: str = "", **params: Any) -> dict[str, Any]:
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self.to, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error'].get('message')}")
                return dict(reply.get("result", {}))
            self.events.append(reply)

    def wait_for(self, method: str) -> dict[str, Any]:
        """The first event named `method`, seen already or still to come."""
        while True:
            for event in self.events:
                if event.get("method") == method:
                    return event
            self.events.append(self._read())

    def drain(self, seconds: float) -> None:
        """Keep the events that arrive within `seconds` (late console calls, failed loads)."""
        end = min(time.monotonic() + seconds, self.deadline)
        while (left := end - time.monotonic()) > 0:
            if not select.select([self.frm], [], [], left)[0]:
                return
            self.events.append(self._read())

    def open_tab(self, opt: Options) -> str:
        """A new tab of the size and colour scheme asked for, attached: its session id."""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session = str(
            self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        )
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session)
        self.call(
            "Emulation.setDeviceMetricsOverride", session,
            width=opt.width, height=opt.height, deviceScaleFactor=1, mobile=False,
        )  # fmt: skip
        features = [{"name": "prefers-color-scheme", "value": "dark" if opt.dark else "light"}]
        media = "print" if opt.print_media else ""
        self.call("Emulation.setEmulatedMedia", session, media=media, features=features)
        return session

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            left = self.deadline - time.monotonic()
            if left <= 0 or not select.select([self.frm], [], [], left)[0]:
                raise BrowserError("chromium did not answer in time")
            chunk = os.read(self.frm, 1 << 20)
            if not chunk:
                raise BrowserError("chromium closed its pipe (it ended)")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\0", 1)
        return dict(json.loads(line))


def _high(fd: int) -> int:
    """A copy of fd numbered 10 or more, so the child can put the pipe on 3 and 4 safely."""
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return new


@contextmanager
def chromium(timeout: float = 60) -> Iterator[Pipe]:
    """A headless Chromium on a DevTools pipe, with its own profile; killed and removed after."""
    exe = find_chromium()
    if exe is None:
        raise BrowserError(f"no browser on PATH (looked for {', '.join(NAMES)})")
    profile = tempfile.mkdtemp(prefix="tcplab-chromium-")
    PROFILES.append(profile)
    cmd_r, cmd_w = map(_high, os.pipe())
    res_r, res_w = map(_high, os.pipe())

    def child() -> None:  # the pipe where Chromium looks for it
        os.dup2(cmd_r, 3)
        os.dup2(res_w, 4)

    proc = subprocess.Popen(
        [exe, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=child,
        pass_fds=(3, 4),
        start_new_session=True,
    )
    os.close(cmd_r)
    os.close(res_w)
    try:
        yield Pipe(cmd_w, res_r, time.monotonic() + timeout, profile)
    finally:
        os.close(cmd_w)
        os.close(res_r)
        _stop(proc, profile)


def _stop(proc: subprocess.Popen[bytes], profile: str) -> None:
    """Chromium's whole process group, then any process still using the profile, by pid."""
    with suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=3)  # closing the pipe asks it to end
    for _ in range(2):
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        for pid in processes_using(profile):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait()
    shutil.rmtree(profile, ignore_errors=True)


def processes_using(profile: str) -> list[int]:
    """Pids whose command line names `profile` (the Chromium processes of one run)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if profile.encode() in cmdline:
                found.append(int(entry.name))
    return found


# ---- rendering a page ----------------------------------------------------------------------

_LOOK = """(() => ({
  text: document.body ? document.body.innerText : document.documentElement.textContent,
  parse: (document.querySelector('parsererror') || {}).textContent || '',
  broken: [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src),
  height: Math.ceil(Math.max(document.documentElement.scrollHeight,
                             document.body ? document.body.scrollHeight : 0)),
  box: (() => {
    const e = SELECTOR && document.querySelector(SELECTOR);
    if (!e) return null;
    const r = e.getBoundingClientRect();
    return {x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height};
  })(),
}))()"""


@dataclass
class Options:
    """How to look at a page: viewport width and height (the screenshot grows to the whole page
    when `full` is set, up to `max_height`), dark colour scheme, print media."""

    width: int = 1200
    height: int = 900
    full: bool = True
    max_height: int = 8000
    selector: str = ""  # when set, the screenshot is of the first element it selects
    margin: int = 12  # around that element
    fast: bool = True  # a quickly encoded PNG (quicker to decode too); False: a smaller file
    dark: bool = False
    print_media: bool = False
    settle: float = 0.3
    timeout: float = 60


def render(target: Path | str, png: Path, options: Options | None = None) -> Page:
    """Open `target` (a file or URL) in headless Chromium, screenshot it into `png`, and say what
    the page complained about."""
    opt = options or Options()
    url = target.resolve().as_uri() if isinstance(target, Path) else target
    with chromium(opt.timeout) as pipe:
        session = pipe.open_tab(opt)
        pipe.call("Page.navigate", session, url=url)
        pipe.wait_for("Page.loadEventFired")
        pipe.drain(opt.settle)
        look = _evaluate(pipe, session, _LOOK.replace("SELECTOR", json.dumps(opt.selector)))
        clip = _clip(opt, look)
        shot = pipe.call(
            "Page.captureScreenshot", session, format="png", captureBeyondViewport=True,
            optimizeForSpeed=opt.fast, clip={**clip, "scale": 1},
        )  # fmt: skip
        png.parent.mkdir(parents=True, exist_ok=True)
        png.write_bytes(base64.b64decode(shot["data"]))
        pipe.drain(0.05)
        messages = tuple(m for e in pipe.events if (m := _message(e)) is not None)
    return Page(
        url=url, screenshot=png, size=(clip["width"], clip["height"]), messages=messages,
        text=str(look["text"]), parse_error=str(look["parse"]).strip(),
        broken_images=tuple(map(str, look["broken"])),
    )  # fmt: skip


def _clip(opt: Options, look: dict[str, Any]) -> dict[str, int]:
    """The part of the page to capture: the selected element with a margin, the whole page (up
    to max_height), or the viewport."""
    if opt.selector:
        box = look["box"]
        if box is None:
            raise BrowserError(f"nothing on the page matches {opt.selector!r}")
        x, y = max(0, int(box["x"]) - opt.margin), max(0, int(box["y"]) - opt.margin)
        width = min(int(box["width"] + 0.999) + 2 * opt.margin, opt.width - x)
        height = min(int(box["height"] + 0.999) + 2 * opt.margin, opt.max_height)
        return {"x": x, "y": y, "width": width, "height": height}
    height = min(max(opt.height, int(look["height"])), opt.max_height) if opt.full else opt.height
    return {"x": 0, "y": 0, "width": opt.width, "height": height}


def _evaluate(pipe: Pipe, session: str, expression: str) -> dict[str, Any]:
    reply = pipe.call("Runtime.evaluate", session, expression=expression, returnByValue=True)
    if "exceptionDetails" in reply:
        raise BrowserError(f"evaluating the page failed: {reply['exceptionDetails'].get('text')}")
    return dict(reply["result"]["value"])


def _message(event: dict[str, Any]) -> Message | None:
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.consoleAPICalled":
        text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
        return Message(str(params["type"]), text)
    if method == "Runtime.exceptionThrown":
        details = params["exceptionDetails"]
        text = details.get("exception", {}).get("description") or details.get("text", "")
        return Message("exception", str(text), str(details.get("url", "")))
    if method == "Log.entryAdded":
        entry = params["entry"]
        return Message(str(entry["level"]), str(entry["text"]), str(entry.get("url", "")))
    return None


# ---- reading the screenshot ----------------------------------------------------------------


@dataclass(frozen=True)
class Image:
    """A decoded 8-bit PNG: size and each pixel as bytes (RGB or RGBA)."""

    width: int
    height: int
    pixels: tuple[bytes, ...]  # row by row, each row `width * channels` bytes
    channels: int

    def colours(self) -> Counter[bytes]:
        """How many pixels have each colour (alpha ignored)."""
        count: Counter[bytes] = Counter()
        step = self.channels
        for row in self.pixels:
            count.update(row[i : i + 3] for i in range(0, len(row), step))
        return count


_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # PNG colour type → channels (palettes not used by Chromium)


def read_png(path: Path) -> Image:
    """Decode an 8-bit, non-interlaced PNG with the standard library."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    pos, idat, header = 8, [], b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or colour not in _CHANNELS or interlace:
        raise ValueError(f"{path}: depth {depth}, colour type {colour}, interlace {interlace}")
    channels = _CHANNELS[colour]
    rows = _unfilter(zlib.decompress(b"".join(idat)), width * channels, height, channels)
    return Image(width, height, tuple(rows), channels)


def _unfilter(raw: bytes, stride: int, height: int, bpp: int) -> list[bytes]:
    rows, prev = [], bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev, strict=False))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        prev = bytes(line)
        rows.append(prev)
    return rows


def blank_reason(image: Image, least_colours: int = 8, most_share: float = 0.995) -> str:
    """Why the screenshot looks blank ("" when it does not): too few colours, or one colour
    nearly everywhere."""
    colours = image.colours()
    total = image.width * image.height
    if not total or not colours:
        return "the picture is empty (0 pixels)"
    top, top_count = colours.most_common(1)[0]
    if len(colours) < least_colours:
        return f"only {len(colours)} colours"
    if top_count / total > most_share:
        return f"colour #{top.hex()} covers {top_count / total:.1%} of the picture"
    return ""
