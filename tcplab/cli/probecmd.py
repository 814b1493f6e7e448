"""handshake and send."""

from __future__ import annotations

import json

import typer

from tcplab.cli import picture
from tcplab.cli.tidy import tidy
from tcplab.engine.report import Report
from tcplab.errors import EXIT_KERNEL, UsageError
from tcplab.i18n import _
from tcplab.model.text import error_text
from tcplab.netns.topology import require_root
from tcplab.userfile import Refused, check_writable


def _payload(data: str) -> bytes:
    try:
        return data.encode("utf-8").decode("unicode_escape").encode("latin-1")
    except (UnicodeDecodeError, UnicodeEncodeError) as exc:
        raise UsageError(
            _("bad --data {data!r}: {reason}").format(data=data, reason=exc.reason),
            _("use text, with \\r \\n \\xNN escapes for other bytes"),
        ) from None


def _options_text(text: str) -> str:
    from tcplab.model.segment import parse_options

    hint = _("e.g. --options 'mss 1460,sackOK,wscale 7'")
    if not text.isascii():
        raise UsageError(
            _("--options {text!r} has characters other than ASCII").format(text=text[:40]), hint
        )
    try:
        parse_options(text)
    except ValueError as exc:
        raise UsageError(error_text(exc, _), hint) from None
    return text


def _pcap_path(pcap: str | None) -> str | None:
    """Refuse a pcap path that cannot be written before anything is sent (a folder, a FIFO, a
    symlink, a device, a folder that does not exist or cannot be written)."""
    if pcap is None:
        return None
    try:
        check_writable(pcap)
    except Refused as exc:
        raise UsageError(
            _("cannot write --pcap {exc}").format(exc=exc),
            _("name a file in a folder you can write to, e.g. out.pcap"),
        ) from None
    return pcap


def _fits(options: str, payload: bytes) -> None:
    from tcplab.model.segment import check_fits, parse_options

    try:
        check_fits(parse_options(options), payload)
    except ValueError as exc:
        raise UsageError(error_text(exc, _), _("use fewer options or less data")) from None


def handshake(
    target: str,
    sport: int | None,
    isn: int | None,
    data: str,
    options: str | None,
    keep: bool,
    timeout: float,
    json_out: bool,
    pcap: str | None,
    absolute: bool = False,
    svg: str | None = None,
) -> None:
    from tcplab.engine.target import parse_target, resolve

    parse_target(target)
    payload = _payload(data)
    from tcplab.engine.handshake import DEFAULT_SYN_OPTIONS, HandshakeOptions, run_handshake

    syn_options = _options_text(DEFAULT_SYN_OPTIONS if options is None else options)
    _fits(syn_options, b"")
    _fits("nop,nop,TS val 1 ecr 1", payload)
    opts = HandshakeOptions(
        sport=sport,
        isn=isn,
        data=payload,
        keep=keep,
        timeout=timeout,
        options=options,
        pcap=_pcap_path(pcap),
    )
    svg = picture.svg_path(svg)
    require_root("handshake")
    tidy()
    report = run_handshake(resolve(target), opts)
    _show(report, json_out, absolute, svg)


def send(
    target: str,
    flags: str,
    sport: int | None,
    seq: int | None,
    ack: int,
    window: int,
    options: str,
    data: str,
    urg: int,
    wait: float,
    json_out: bool,
    pcap: str | None,
    absolute: bool = False,
    svg: str | None = None,
) -> None:
    from tcplab.engine.target import parse_target, resolve
    from tcplab.model.flags import Flags

    parse_target(target)
    try:
        parsed = Flags.parse(flags)
    except ValueError as exc:
        raise UsageError(error_text(exc, _), _("e.g. --flags S, --flags SA, --flags FA")) from None
    from tcplab.engine.probe import Probe, run_send

    _fits(_options_text(options), _payload(data))
    probe = Probe(
        flags=parsed,
        sport=sport,
        seq=seq,
        ack=ack,
        window=window,
        options=_options_text(options),
        data=_payload(data),
        urgptr=urg,
        wait=wait,
        pcap=_pcap_path(pcap),
    )
    svg = picture.svg_path(svg)
    require_root("send")
    tidy()
    report = run_send(resolve(target), probe)
    _show(report, json_out, absolute, svg)


def _show(report: Report, json_out: bool, absolute: bool = False, svg: str | None = None) -> None:
    if svg is not None:
        picture.write_svg(svg, report, relative=not absolute)
    if json_out:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        from tcplab.cli import render

        render.ladder(report, relative=not absolute)
    if not report.ok:
        raise typer.Exit(EXIT_KERNEL)
