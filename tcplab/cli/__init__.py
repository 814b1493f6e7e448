"""The tcplab command line: parse, call, render. Heavy modules are imported inside each command, so
`tcplab --help` loads neither scapy nor pyroute2.

Exit codes: 0 the kernel behaved as expected; 1 it did not; 2 usage error; 3 environment error.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from tcplab import __version__, defaults
from tcplab.errors import EXIT_USAGE, TcplabError, UsageError
from tcplab.i18n import N_, _
from tcplab.text import printable, shorten

app = typer.Typer(
    name="tcplab",
    help="Drive the real Linux TCP stack with hand-crafted segments, and see and check what it does.",
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

Crafting = Annotated[str, typer.Option("--crafting", help="Name of the crafting namespace.")]
Kernel = Annotated[str, typer.Option("--kernel", help="Name of the kernel host's namespace.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
Absolute = Annotated[
    bool,
    typer.Option(
        "--absolute", help="Show seq and ack as sent, not relative to each side's ISN (+1, -999)."
    ),
]
LabsDir = Annotated[
    str | None,
    typer.Option(
        "--labs", help="A course's own labs folder (NAME/lab.toml...) instead of tcplab's."
    ),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tcplab {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang",
            metavar="LANG",
            help="Language of the output: en or zh_CN (default: TCPLAB_LANG, then the locale). "
            "Works anywhere on the command line.",
        ),
    ] = None,
    ascii_only: Annotated[
        bool,
        typer.Option(
            "--ascii",
            help="Draw with ASCII only, for terminals that show ─ │ → … two columns wide (also "
            "TCPLAB_ASCII=1). Works anywhere on the command line.",
        ),
    ] = False,
) -> None:
    """Exit codes: 0 as expected, 1 the kernel did not behave as expected, 2 usage, 3 environment."""
    # --lang and --ascii are taken off the command line before Typer parses it (_language,
    # asciiout.wanted): declared here so that help shows them


@app.command()
def setup(
    crafting: Crafting = defaults.CRAFTING,
    kernel: Kernel = defaults.KERNEL,
    subnet: Annotated[
        str, typer.Option(help="IPv4 subnet of the testbed's link.")
    ] = defaults.SUBNET,
    port: Annotated[
        int, typer.Option(help="Port the kernel-side application listens on.")
    ] = defaults.APP_PORT,
    adopt: Annotated[
        bool,
        typer.Option(
            "--adopt",
            help="Take over namespaces netns_setup.sh built: check them, start the application, "
            "record the testbed.",
        ),
    ] = False,
) -> None:
    """Build the testbed: two namespaces, a veth pair, the crafting host's rule, the application."""
    from tcplab.cli import testbedcmd

    if adopt:
        testbedcmd.adopt(crafting, kernel, subnet, port)
        return
    testbedcmd.setup(crafting, kernel, subnet, port)


@app.command()
def teardown(
    crafting: Crafting = defaults.CRAFTING,
    all_testbeds: Annotated[
        bool, typer.Option("--all", help="Remove every testbed tcplab made.")
    ] = False,
) -> None:
    """Remove exactly what tcplab created for the testbed (also after a crash)."""
    from tcplab.cli import testbedcmd

    testbedcmd.teardown(crafting, all_testbeds)


@app.command()
def status(
    crafting: Annotated[
        str | None,
        typer.Option("--crafting", help="Show only this testbed (default: every testbed)."),
    ] = None,
    json_out: Json = False,
) -> None:
    """Show each testbed: namespaces, link, addresses, the rule, the application, the kernel's sockets."""
    from tcplab.cli import testbedcmd

    testbedcmd.status(crafting, json_out)


@app.command()
def sockets(
    namespace: Annotated[str, typer.Argument(help="A testbed namespace.")] = defaults.KERNEL,
    json_out: Json = False,
) -> None:
    """Print a namespace's TCP socket table (like ss -tano, with RFC 9293 state names)."""
    from tcplab.cli import testbedcmd

    testbedcmd.sockets(namespace, json_out)


def seconds(option: str, lo: float, hi: float) -> Callable[[float | None], float | None]:
    """A callback that refuses nan, infinities and values outside [lo, hi], each with its reason
    (typer's own min/max would call nan 'more than 60')."""

    def check(value: float | None) -> float | None:
        if value is None:
            return None
        hint = _("give seconds from {lo:g} to {hi:g}, e.g. {option} 1").format(
            lo=lo, hi=hi, option=option
        )
        if math.isnan(value):
            raise UsageError(
                _("{option} nan is not a number of seconds").format(option=option), hint
            )
        if math.isinf(value):
            raise UsageError(
                _("{option} {value}: seconds must be finite").format(option=option, value=value),
                hint,
            )
        if value <= 0 or value < lo:
            raise UsageError(
                _("{option} {value:g}: too short (at least {lo:g} s)").format(
                    option=option, value=value, lo=lo
                ),
                hint,
            )
        if value > hi:
            raise UsageError(
                _("{option} {value:g}: too long (at most {hi:g} s)").format(
                    option=option, value=value, hi=hi
                ),
                hint,
            )
        return value

    return check


Target = Annotated[
    str, typer.Option("--target", "-t", help="NAMESPACE:PORT or ADDRESS:PORT of the kernel host.")
]
MAX_SEQ = (1 << 32) - 1
Sport = Annotated[
    int | None, typer.Option(help="Source port (default: a free one).", min=1, max=65535)
]
Pcap = Annotated[
    str | None, typer.Option("--pcap", help="Write the kernel host's capture to this pcap file.")
]
Svg = Annotated[
    str | None,
    typer.Option("--svg", help="Write the exchange as a picture (sequence and state diagrams)."),
]


@app.command()
def handshake(
    target: Target = defaults.TARGET,
    sport: Sport = None,
    isn: Annotated[
        int | None, typer.Option(help="Our initial sequence number.", min=0, max=MAX_SEQ)
    ] = None,
    data: Annotated[str, typer.Option(help="Payload to carry on the third segment.")] = "",
    options: Annotated[
        str | None,
        typer.Option(
            help="SYN options, e.g. 'mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7'; '' for none."
        ),
    ] = None,
    keep: Annotated[bool, typer.Option(help="Leave the connection open afterwards.")] = False,
    timeout: Annotated[
        float,
        typer.Option(
            help="Seconds to wait for the SYN+ACK (0.001 to 60).",
            callback=seconds("--timeout", 0.001, 60),
        ),
    ] = defaults.REPLY_WAIT,
    json_out: Json = False,
    pcap: Pcap = None,
    absolute: Absolute = False,
    svg: Svg = None,
) -> None:
    """Perform a three-way handshake with crafted segments and check every reply."""
    from tcplab.cli import probecmd

    probecmd.handshake(
        target, sport, isn, data, options, keep, timeout, json_out, pcap, absolute=absolute, svg=svg
    )


@app.command()
def send(
    target: Target = defaults.TARGET,
    flags: Annotated[str, typer.Option(help="TCP flags: S, SA, A, F, FA, R, RA, PA, U, ...")] = "S",
    sport: Sport = None,
    seq: Annotated[
        int | None, typer.Option(help="Sequence number (default: random).", min=0, max=MAX_SEQ)
    ] = None,
    ack: Annotated[int, typer.Option(help="Acknowledgment number.", min=0, max=MAX_SEQ)] = 0,
    window: Annotated[int, typer.Option(help="Window field.", min=0, max=65535)] = defaults.WINDOW,
    options: Annotated[str, typer.Option(help="TCP options, e.g. 'mss 1460,wscale 7'.")] = "",
    data: Annotated[str, typer.Option(help="Payload.")] = "",
    urg: Annotated[int, typer.Option(help="Urgent pointer.", min=0, max=65535)] = 0,
    wait: Annotated[
        float,
        typer.Option(
            help="Seconds to wait for a reply (0.001 to 60).", callback=seconds("--wait", 0.001, 60)
        ),
    ] = defaults.REPLY_WAIT,
    json_out: Json = False,
    pcap: Pcap = None,
    absolute: Absolute = False,
    svg: Svg = None,
) -> None:
    """Send one crafted segment; print the kernel's reply (or silence) and why."""
    from tcplab.cli import probecmd

    probecmd.send(
        target,
        flags,
        sport,
        seq,
        ack,
        window,
        options,
        data,
        urg,
        wait,
        json_out,
        pcap,
        absolute=absolute,
        svg=svg,
    )


@app.command()
def run(
    scenarios: Annotated[
        list[str], typer.Argument(help="Scenario files (.toml) or folders holding them.")
    ],
    json_out: Json = False,
    pcap: Annotated[
        str | None, typer.Option("--pcap", help="Write each scenario's capture into this folder.")
    ] = None,
    junit: Annotated[str | None, typer.Option("--junit", help="Write a JUnit XML report.")] = None,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            "-j",
            help="Scenarios run at once (default: one per CPU, up to 4).",
            min=1,
            max=16,
        ),
    ] = min(4, os.cpu_count() or 1),
    quick: Annotated[
        bool, typer.Option("--quick", help="Leave out scenarios with long timers.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show every check, not only failures.")
    ] = False,
    absolute: Absolute = False,
    svg: Annotated[
        str | None, typer.Option("--svg", help="Write each scenario's picture into this folder.")
    ] = None,
) -> None:
    """Run scenarios, each in its own fresh testbed, and list every way the kernel differed."""
    from tcplab.cli import runcmd

    runcmd.run(scenarios, json_out, pcap, junit, jobs, quick, verbose, absolute=absolute, svg=svg)


lab_app = typer.Typer(
    help="Lab exercises: handouts, starters, and checking your solution.", no_args_is_help=True
)
app.add_typer(lab_app, name="lab")


@lab_app.command("list")
def lab_list(json_out: Json = False, labs: LabsDir = None) -> None:
    """List the labs."""
    from tcplab.cli import labcmd

    labcmd.list_labs(json_out, labs)


@lab_app.command("show")
def lab_show(
    name: Annotated[str, typer.Argument(help="The lab's name.")], labs: LabsDir = None
) -> None:
    """Print a lab's handout."""
    from tcplab.cli import labcmd

    labcmd.show(name, labs)


@lab_app.command("start")
def lab_start(
    name: Annotated[str, typer.Argument(help="The lab's name.")],
    force: Annotated[bool, typer.Option(help="Overwrite an existing NAME.py.")] = False,
    labs: LabsDir = None,
) -> None:
    """Copy the lab's starter to ./NAME.py, and say what to do next."""
    from tcplab.cli import labcmd

    labcmd.start(name, force, labs)


@lab_app.command("check")
def lab_check(
    name: Annotated[str, typer.Argument(help="The lab's name.")],
    file: Annotated[str | None, typer.Argument(help="Your solution (default: ./NAME.py).")] = None,
    reference: Annotated[
        bool, typer.Option("--reference", help="Check the shipped reference solution.")
    ] = False,
    json_out: Json = False,
    labs: LabsDir = None,
    hint_level: Annotated[
        int | None,
        typer.Option(
            "--hint-level",
            help="Hints' tier: 1 where to look, 2 the concept, 3 the formula "
            "(default: one more for each failed attempt in a row).",
            min=1,
            max=3,
        ),
    ] = None,
    record: Annotated[
        str | None,
        typer.Option("--record", help="Also save what the checks saw as JSON (to score it again)."),
    ] = None,
    pcap: Annotated[
        str | None,
        typer.Option("--pcap", help="Write the kernel host's whole capture to this pcap file."),
    ] = None,
    html: Annotated[
        str | None,
        typer.Option("--html", help="Write the report grading writes (report.html) to this file."),
    ] = None,
    absolute: Absolute = False,
    svg: Svg = None,
) -> None:
    """Run a solution in a fresh testbed, observe the kernel, score every check (exit 0 at full
    marks); show what the solution printed."""
    from tcplab.cli import labcmd

    labcmd.check(
        name,
        file,
        reference,
        json_out,
        labs,
        hint_level,
        record,
        pcap=pcap,
        html=html,
        absolute=absolute,
        svg=svg,
    )


@app.command()
def grade(
    submissions: Annotated[
        str,
        typer.Argument(
            help="A folder with one folder per student (any name; Moodle's, Canvas's and GitHub "
            "Classroom's downloads as they come), holding LAB.py per lab."
        ),
    ],
    lab: Annotated[str, typer.Option("--lab", help="The lab(s) to grade: NAME[,NAME...].")],
    out: Annotated[str, typer.Option("--out", help="Folder for the results (made if missing).")],
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            "-j",
            help="Submissions graded at once (default: one per CPU, up to 4).",
            min=1,
            max=32,
        ),
    ] = min(4, os.cpu_count() or 1),  # fmt: skip
    seed: Annotated[
        str | None,
        typer.Option(
            help="Seed for each student's ports and ISN: the same seed, the same numbers "
            "(default: the seed of the class in --out, else a new random one; recorded in the "
            "results)."
        ),
    ] = None,
    time_limit: Annotated[
        float | None,
        typer.Option("--time-limit", help="Seconds a solution may run (default: the lab's)."),
    ] = None,
    memory: Annotated[int, typer.Option(help="Memory cap per solution, MiB.")] = 256,
    force: Annotated[
        bool,
        typer.Option(
            help="Merge into the class in --out even when its labs or labs folder differ "
            "(grading into a class always merges)."
        ),
    ] = False,
    student: Annotated[
        list[str] | None,
        typer.Option(
            "--student",
            help="Grade only this student's folder (repeatable); merged into the class in --out.",
            metavar="NAME",
        ),
    ] = None,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace", help="Start over: the class in --out is replaced (its history is kept)."
        ),
    ] = False,
    json_out: Json = False,
    labs: LabsDir = None,
    hint_level: Annotated[
        int,
        typer.Option(
            "--hint-level",
            help="Hints students get: 1 where to look, 2 the concept, 3 the formula.",
            min=1,
            max=3,
        ),
    ] = 1,
    roster: Annotated[
        str | None,
        typer.Option(
            help="CSV: folder or repository, student id, display name, email (a header line; "
            "',' or ';'). Its students without a folder are graded missing."
        ),
    ] = None,
    excel: Annotated[
        bool,
        typer.Option(
            "--excel",
            help="Write gradebook.csv with a byte order mark, so Excel reads it as UTF-8.",
        ),
    ] = False,
) -> None:
    """Grade every student's solution, each in its own fresh testbed and sandbox; write the gradebook,
    Gradescope, PrairieLearn, GitHub Classroom, Canvas and Moodle files, reports and JUnit XML to --out.
    Exit 0 when every submission was run and scored, 1 when some were not run (missing, misnamed,
    refused), 3 when some could not be graded (they have no score)."""
    from tcplab.cli import gradecmd

    code = gradecmd.grade(
        submissions, lab, out, jobs, seed, time_limit, memory, force, json_out, labs, hint_level,
        roster=roster,
        students=student or [], replace=replace,
        excel=excel,
    )  # fmt: skip
    raise typer.Exit(code)


@app.command()
def shell(crafting: Crafting = defaults.CRAFTING) -> None:
    """An interactive Python with scapy inside the crafting namespace, the lab context as `lab`."""
    from tcplab.cli import labcmd

    labcmd.shell(crafting)


@app.command()
def states(
    svg: Annotated[
        str | None,
        typer.Option("--svg", metavar="FILE", help="Also write the state diagram to FILE (SVG)."),
    ] = None,
) -> None:
    """TCP's 11 states and every transition tcplab's model makes between them; no root needed."""
    from tcplab.cli import statescmd

    statescmd.show(svg)


@app.command()
def watch(
    target: Target = defaults.TARGET,
    absolute: Annotated[
        bool, typer.Option("--absolute", help="Show seq and ack as sent, not from each ISN.")
    ] = False,
    for_seconds: Annotated[
        float | None,
        typer.Option(
            "--for",
            help="Stop after this many seconds (default: at Ctrl-C).",
            callback=seconds("--for", 0.1, 86400),
        ),
    ] = None,
) -> None:
    """Show the testbed's segments and both sides' states live, while you work in another
    terminal (tcplab shell, your script). Ctrl-C ends it (exit 0)."""
    from tcplab.cli import watchcmd

    watchcmd.watch(target, absolute, for_seconds)


# typer vendors click in newer releases; find its UsageError through a class it exports
_ClickUsageError: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError"
)


INTERRUPTED = 130
INTERRUPTED_TEXT = N_("interrupted; what this command had made was removed")
ERROR_LINE = N_("error: {message}")
HINT_LINE = N_("hint: {hint}")


def _fail(message: str, hint: str, code: int) -> None:
    """One error line and one hint line: whatever they echo is shown as escapes, and cut short."""
    print(_line(ERROR_LINE, "message", message), file=sys.stderr)
    if hint:
        print(_line(HINT_LINE, "hint", hint), file=sys.stderr)
    sys.exit(code)


def _line(template: str, field: str, text: str) -> str:
    """On a terminal, a long error or hint wraps under its text; piped, it stays one line (scripts
    and logs read one `error:` and one `hint:` line)."""
    translated = _(template)
    shown = shorten(printable(text, one_line=True), 400)
    line = translated.replace("{" + field + "}", shown)
    if not sys.stderr.isatty():
        return line
    from tcplab.cli.wrap import width
    from tcplab.text import columns, wrap

    prefix = translated.partition("{" + field + "}")[0]
    return "\n".join(wrap(line, width(), hang=" " * columns(prefix)))


def _usage(exc: Any) -> tuple[str, str]:
    """A click usage error as tcplab's message and hint: never the whole usage text."""
    from tcplab.cli import usage

    ctx = getattr(exc, "ctx", None)
    sub = ctx.command_path if ctx else "tcplab"
    if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
        names: list[str] = getattr(ctx.command, "list_commands", lambda c: [])(ctx)
        if names:
            hint = _("{sub} COMMAND; commands: {commands} (see '{sub} --help')")
        else:
            hint = _("{sub} COMMAND (see '{sub} --help')")
        return _("no command given"), hint.format(sub=sub, commands=", ".join(names))
    text = usage.message(exc).strip().splitlines()
    message = text[0] if text else _("bad command line")
    # click writes sentences ("Missing argument 'NAME'."); tcplab's messages end without a period
    return message.rstrip(".。"), _("see '{sub} --help'").format(sub=sub)


def _quiet_closed_loop(unraisable: Any) -> None:
    """sys.unraisablehook: an interrupt can land while pyroute2 awaits netlink; its coroutine is
    then finalized after its event loop closed ("Event loop is closed"), after tcplab has rolled
    back. That is noise, not an error: everything else goes to Python's own hook."""
    exc = unraisable.exc_value
    if isinstance(exc, RuntimeError) and str(exc) == "Event loop is closed":
        return
    sys.__unraisablehook__(unraisable)


# the language asked for on purpose, --lang or else TCPLAB_LANG as the user set it ("": neither;
# None: no command line ran): grade keeps a course's recorded language unless one is asked for
LANG_ASKED: str | None = None


def _language(args: list[str]) -> list[str]:
    """Choose the language (--lang anywhere before `--`, then TCPLAB_LANG, then the locale) before
    anything is shown, and return the arguments without --lang."""
    from tcplab import i18n

    rest: list[str] = []
    asked: str | None = None
    it = iter(args)
    for arg in it:
        if arg == "--":
            rest.append(arg)
            rest.extend(it)
            break
        if arg == "--lang":
            asked = next(it, "")
            if not asked:
                _fail(i18n._("--lang needs a language"), _lang_hint(), EXIT_USAGE)
        elif arg.startswith("--lang="):
            asked = arg.partition("=")[2]
        else:
            rest.append(arg)
    global LANG_ASKED
    LANG_ASKED = asked or os.environ.get(i18n.LANG_ENV) or ""
    try:
        i18n.set_language(i18n.choose(asked))
        os.environ[i18n.LANG_ENV] = i18n.language()  # what tcplab starts speaks it too
    except i18n.UnknownLanguage as exc:
        _fail(
            i18n._("tcplab does not speak {language!r}").format(language=exc.asked),
            _lang_hint(),
            EXIT_USAGE,
        )
    i18n.install_click()
    return rest


def _lang_hint() -> str:
    from tcplab import i18n

    return i18n._("choose one of: {languages} (--lang or TCPLAB_LANG)").format(
        languages=", ".join(i18n.LANGUAGES)
    )


def only(typer_app: typer.Typer, args: list[str]) -> typer.Typer:
    """The app with only the command that `args` name built whole (its group's too): every other
    command keeps its name and help but no parameters, since it will not run. Typer reads every
    parameter of every command when it builds the command line (a signature and its annotations
    each), which cost each command ~50 ms; the list in `tcplab --help` needs names and help only."""
    import copy

    wanted = next((a for a in args if not a.startswith("-")), None)
    if args and args[0].startswith("-"):
        wanted = None  # a root option first (--help, --version): no command runs
    out = copy.copy(typer_app)
    out.registered_commands = [
        info if wanted is not None and _name(info) == wanted else _no_params(info)
        for info in typer_app.registered_commands
    ]
    groups = []
    for group in typer_app.registered_groups:
        inner = group.typer_instance
        assert inner is not None
        named = wanted is not None and wanted == group.name
        rest = args[args.index(wanted) + 1 :] if named and wanted else ["--help"]
        groups.append(copy.copy(group))
        groups[-1].typer_instance = only(inner, rest)
    out.registered_groups = groups
    return out


def _name(info: Any) -> str:
    return info.name or typer.main.get_command_name(info.callback.__name__)


def _no_params(info: Any) -> Any:
    """The command's info with a callback that takes nothing and says the same."""
    import copy

    def idle() -> None:
        """Never runs: main() builds the command it runs whole."""

    idle.__doc__ = info.callback.__doc__
    out = copy.copy(info)
    out.name = _name(info)
    out.callback = idle
    return out


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and turn every error into one line, a hint and an exit code."""
    args = _language(sys.argv[1:] if argv is None else argv)
    from tcplab.cli import asciiout

    ascii_mode, args = asciiout.wanted(args)
    if ascii_mode:
        asciiout.install()
    sys.unraisablehook = _quiet_closed_loop
    try:
        command = typer.main.get_command(only(app, args))
        from tcplab import i18n
        from tcplab.cli import coerce
        from tcplab.cli.helptext import translate, use_formatter

        coerce.install()
        use_formatter(command)
        if i18n.language() != i18n.ENGLISH:
            translate(command)
        rv = command.main(args, prog_name="tcplab", standalone_mode=False)
    except TcplabError as exc:
        _fail(exc.message, exc.hint, exc.exit_code)
    except _ClickUsageError as exc:
        _fail(*_usage(exc), EXIT_USAGE)
    except (typer.Abort, KeyboardInterrupt):
        _fail(_(INTERRUPTED_TEXT), "", INTERRUPTED)
    except BrokenPipeError:
        sys.exit(1)
    if rv == INTERRUPTED:  # typer turns KeyboardInterrupt into Exit(130), after our rollback ran
        _fail(_(INTERRUPTED_TEXT), "", INTERRUPTED)
    sys.exit(rv if isinstance(rv, int) else 0)
