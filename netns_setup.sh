#!/usr/bin/env bash
# netns_setup.sh: build, check or remove a tcplab lab with plain ip, ethtool and nft.
#
#   sudo ./netns_setup.sh up|down|status [--crafting NS] [--kernel NS] [--subnet CIDR] [--port N]
#
# For instructors who prefer shell. It builds the same lab as 'tcplab setup' (two network namespaces,
# one veth pair 'tcplab0' with fixed MACs and permanent neighbour entries, offloads and IPv6 off, the
# crafting host's nftables rule, the kernel-side application) and writes the same ownership record,
# /run/tcplab/labs/CRAFTING/lab.json, so 'tcplab status', 'tcplab handshake' and 'tcplab teardown'
# accept a lab built here, and 'down' removes a lab built by either: exactly what the record names
# (the application by pid, start time and command line, the namespaces by inode and netns cookie),
# nothing else, and only when the record is one tcplab trusts (a regular file of root's, tcplab's
# format, valid contents: see tcplab/netns/record.py); an untrusted record is refused, not acted on.
#
# The record is written before anything is created and after each step; a failed or interrupted 'up'
# rolls back what it made. While 'up' builds, the record names it as the lab's builder, and neither
# this script nor tcplab takes that lab apart until it is done; a lab that a living tcplab command
# uses (a run, a check, a grading: its owner) is not taken apart either. Deciding what to build or
# remove is done under tcplab's lock (flock on /run/tcplab/lock, a file only root can open), shared
# with every tcplab command.
#
# Python does the rest: the record is read and written by tcplab's own code (tcplab.netns.record,
# with this checkout first on PYTHONPATH), namespaces' cookies are read by tcplab.netns.enter, and the
# application is python3 -m tcplab.app.server (TCPLAB_PYTHON picks another interpreter for it).
#
# Exit codes, as tcplab's: 0 done (status: healthy), 2 bad arguments, 3 environment (not root, a tool
# missing, a step failed, the lab is being built by another process; status: the lab is missing or
# broken).

set -euo pipefail
export LC_ALL=C

PROG=${0##*/}
REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
RUN_DIR=${TCPLAB_RUN_DIR:-/run/tcplab}
LABS_DIR=$RUN_DIR/labs
NETNS_DIR=/run/netns
PY=${TCPLAB_PYTHON:-python3} # runs the application
# tcplab's code, for the record and the cookies: this checkout first, as for the application
TCPLAB_PYTHONPATH=${PYTHONPATH:-}
if [[ -f $REPO_DIR/tcplab/netns/record.py ]]; then
    TCPLAB_PYTHONPATH=$REPO_DIR${TCPLAB_PYTHONPATH:+:$TCPLAB_PYTHONPATH}
fi

# What tcplab/netns/record.py and tcplab/netns/nft.py define; keep in step with them.
IFNAME=tcplab0
CRAFTING_MAC=02:74:6c:00:00:01
KERNEL_MAC=02:74:6c:00:00:02
TABLE=tcplab
COMMENT="tcplab: the crafting host's kernel must not reset crafted connections"
NAME_RE='^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'
OCTET='(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
CIDR_RE="^$OCTET\.$OCTET\.$OCTET\.$OCTET/([0-9]|[12][0-9]|3[0-2])$"
APP_TIMEOUT_STEPS=200 # x 0.05 s: how long the application may take to start
LOCK_WAIT=60          # s: how long to wait for tcplab's lock

usage() {
    cat <<EOF
usage: $PROG up|down|status [--crafting NS] [--kernel NS] [--subnet CIDR] [--port N]

  up      build the lab (nothing to do if it is already whole; a broken one is rebuilt)
  down    remove the lab whose crafting host is NS: only what its record names
  status  show namespaces, link, addresses, the rule and the application (exit 3 if unhealthy)

  --crafting NS   crafting namespace (default ns1)
  --kernel NS     kernel host's namespace (default ns2)
  --subnet CIDR   IPv4 subnet of the lab's link (default 10.77.0.0/24)
  --port N        port the kernel-side application listens on (default 7788)
EOF
}

say() { printf '%s\n' "$*"; }
warn() { printf '%s: %s\n' "$PROG" "$*" >&2; }
# die CODE MESSAGE: one line on stderr, then exit (2 usage, 3 environment)
die() {
    local code=$1
    shift
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit "$code"
}

# run STEP CMD...: run a command quietly; on failure exit 3 naming the step and the tool's message.
run() {
    local step=$1 err
    shift
    if ! err=$("$@" 2>&1 >/dev/null); then
        err=${err%%$'\n'*}
        die 3 "$step failed: ${err:-no message}"
    fi
}

# -- arguments ------------------------------------------------------------------------------------
CMD=""
CRAFTING=ns1
KERNEL=ns2
SUBNET=10.77.0.0/24
PORT=7788

parse_args() {
    local opt val
    while (($#)); do
        opt=$1
        case $opt in
        -h | --help)
            usage
            exit 0
            ;;
        up | down | status)
            [[ -z $CMD ]] || die 2 "give one command, not both '$CMD' and '$opt' (see '$PROG --help')"
            CMD=$opt
            shift
            continue
            ;;
        --crafting=* | --kernel=* | --subnet=* | --port=*)
            val=${opt#*=}
            opt=${opt%%=*}
            shift
            ;;
        --crafting | --kernel | --subnet | --port)
            (($# >= 2)) || die 2 "option $opt needs a value (see '$PROG --help')"
            val=$2
            shift 2
            ;;
        *)
            die 2 "unknown argument '$opt'; use up, down or status and --crafting, --kernel, --subnet, --port"
            ;;
        esac
        case $opt in
        --crafting) CRAFTING=$val ;;
        --kernel) KERNEL=$val ;;
        --subnet) SUBNET=$val ;;
        --port) PORT=$val ;;
        esac
    done
    [[ -n $CMD ]] || die 2 "give a command: up, down or status (see '$PROG --help')"
    validate_spec
}

# The checks of LabSpec.validate, with the same limits.
validate_spec() {
    local role name
    for role in crafting kernel; do
        if [[ $role == crafting ]]; then name=$CRAFTING; else name=$KERNEL; fi
        [[ $name =~ $NAME_RE ]] ||
            die 2 "bad $role namespace name '$name': use 1-64 letters, digits, '_', '.', '-', starting with a letter or digit"
    done
    [[ $CRAFTING != "$KERNEL" ]] ||
        die 2 "the crafting and kernel namespaces are both '$CRAFTING'; give them different names"
    [[ $SUBNET =~ $CIDR_RE ]] || die 2 "bad subnet '$SUBNET'; give an IPv4 subnet such as 10.77.0.0/24"
    ((${SUBNET#*/} <= 30)) || die 2 "subnet $SUBNET has no room for two hosts; use a /30 or larger"
    local a b c d prefix ip mask net kind=""
    IFS=./ read -r a b c d prefix <<<"$SUBNET"
    ip=$(((a << 24) | (b << 16) | (c << 8) | d))
    mask=$(((0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF))
    net=$((ip & mask))
    # address space no lab may use (ipaddress's is_loopback, is_multicast, is_reserved, is_link_local)
    if within "$net" "$prefix" 127.0.0.0/8; then
        kind=loopback
    elif within "$net" "$prefix" 224.0.0.0/4; then
        kind=multicast
    elif within "$net" "$prefix" 240.0.0.0/4; then
        kind=reserved
    elif within "$net" "$prefix" 169.254.0.0/16; then
        kind=link-local
    fi
    if within "$net" "$prefix" 0.0.0.0/8; then kind="this-network (0.0.0.0/8)"; fi
    [[ -z $kind ]] || die 2 "subnet $SUBNET is $kind address space; use a private subnet such as 10.77.0.0/24"
    # lab space only (tcplab.netns.record.LAB_SPACE): private (RFC 1918) and shared (RFC 6598)
    within "$net" "$prefix" 10.0.0.0/8 || within "$net" "$prefix" 172.16.0.0/12 ||
        within "$net" "$prefix" 192.168.0.0/16 || within "$net" "$prefix" 100.64.0.0/10 ||
        die 2 "subnet $SUBNET is not private lab address space; use a subnet inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10, e.g. 10.77.0.0/24"
    [[ $PORT =~ ^[0-9]+$ ]] || die 2 "port '$PORT' is not a number; use a port from 1 to 65535"
    if ((${#PORT} > 5 || 10#$PORT < 1 || 10#$PORT > 65535)); then
        die 2 "port '$PORT' is out of range; use a port from 1 to 65535"
    fi
    PORT=$((10#$PORT))
    PREFIX=$prefix
    NETWORK=$(int_to_ip "$net")/$prefix
    CRAFTING_ADDR=$(int_to_ip $((net + 1)))
    KERNEL_ADDR=$(int_to_ip $((net + 2)))
}

# within NET PREFIX CIDR: the network NET/PREFIX (NET as an integer) lies wholly inside CIDR
within() {
    local a b c d plen base m
    IFS=./ read -r a b c d plen <<<"$3"
    base=$(((a << 24) | (b << 16) | (c << 8) | d))
    m=$(((0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF))
    (($2 >= plen && ($1 & m) == base))
}

int_to_ip() {
    local n=$1
    printf '%d.%d.%d.%d' $(((n >> 24) & 255)) $(((n >> 16) & 255)) $(((n >> 8) & 255)) $((n & 255))
}

# -- environment ----------------------------------------------------------------------------------
require_root() {
    ((EUID == 0)) || die 3 "$CMD needs root; run it with sudo: sudo $0 $CMD"
}

require_tools() {
    local tool pkg
    for tool in ip:iproute2 nft:nftables ethtool:ethtool ss:iproute2 setsid:util-linux \
        flock:util-linux awk:mawk python3:python3 "$PY":python3; do
        pkg=${tool##*:}
        tool=${tool%:*}
        command -v "$tool" >/dev/null 2>&1 || die 3 "$tool is not installed; install it: apt-get install $pkg"
    done
    tcplab_py check >/dev/null 2>&1 ||
        die 3 "python3 cannot import tcplab (looked in $REPO_DIR and the installed packages); run this script from a tcplab checkout, or install tcplab"
}

# tcplab's lock: flock on /run/tcplab/lock, as tcplab.netns.lock takes it (tcplab's code makes the
# folder and the file and checks them: root's, no symlink, mode 0600), and the holder's pid written
# in it. Held while deciding what to build or remove, never during a whole build. The application
# must not inherit fd 9 (start_app closes it, and it is released before the build anyway).
lock_labs() {
    local holder=""
    tcplab_py lock >/dev/null 2>&1 && exec 9<>"$RUN_DIR/lock" || return 1
    if ! flock -n 9; then
        read -r holder <"$RUN_DIR/lock" || true
        [[ $holder =~ ^[0-9]+$ ]] || holder="?"
        warn "waiting for another tcplab command (pid $holder) to finish"
        flock -w "$LOCK_WAIT" 9 || return 1
    fi
    printf '%s\n' "$$" >"$RUN_DIR/lock"
}

take_lock() {
    lock_labs ||
        die 3 "another tcplab command or $PROG is still running (waited $LOCK_WAIT s for the lock $RUN_DIR/lock)"
}

release_lock() { exec 9<&-; }

# Signals held back while a step that must finish once begun runs (a namespace created and recorded,
# a teardown): one that came meanwhile is acted on right after, as tcplab's signals_held.
set_signal_traps() {
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
}

hold_signals() {
    PENDING_SIGNAL=""
    trap 'PENDING_SIGNAL=130' INT
    trap 'PENDING_SIGNAL=143' TERM
    trap 'PENDING_SIGNAL=129' HUP
}

release_signals() {
    set_signal_traps
    [[ -z ${PENDING_SIGNAL:-} ]] || exit "$PENDING_SIGNAL"
}

# -- the record -----------------------------------------------------------------------------------
# The record is read and written by tcplab's own code (tcplab.netns.record.LabRecord), so there is one
# definition of it; this program is the shell's bridge to it:
#   check                      tcplab can be imported
#   lock                       make /run/tcplab and its lock file as tcplab does, and check them
#   load FILE                  the record as shell assignments (R_*); exit 1 with the reason if
#                              tcplab does not trust it
#   save FIELDS... [NAME INODE COOKIE]...   write the record as LabRecord.save does
#   cookie NAME                the namespace's netns cookie (empty where unsupported)
#   names CRAFTING NAME...     the first name another lab's record uses, or that exists: as C_*
RECORD_PY=$(
    cat <<'PY'
import os, shlex, sys
from pathlib import Path

from tcplab.errors import TcplabError
from tcplab.netns import lock
from tcplab.netns.enter import netns_cookie, netns_path
from tcplab.netns.proc import alive, cmdline
from tcplab.netns.record import AppRecord, Builder, LabRecord, LabSpec, UntrustedRecord, record_using


def sh(name, value):
    if isinstance(value, list):
        return f"{name}=(" + " ".join(shlex.quote(str(v)) for v in value) + ")"
    return f"{name}={shlex.quote(str(value))}"


def load(path):
    try:
        rec = LabRecord.load(Path(path))
    except UntrustedRecord as exc:
        print(exc.reason, file=sys.stderr)
        return 1
    except (OSError, TcplabError) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    spec, app, builder, owner = rec.spec, rec.app, rec.builder, rec.owner
    numbers = [spec.port, *rec.namespaces.values(), *rec.cookies.values()]
    numbers += [app.pid, app.start_ticks] if app else []
    numbers += [builder.pid, builder.start_ticks] if builder else []
    texts = [spec.crafting, spec.kernel, spec.subnet] + ([app.control] if app else [])
    if not all(type(n) is int and n >= 0 for n in numbers) or not all(
        isinstance(t, str) and t for t in texts
    ):
        return 1  # the shell would misread it
    names = list(rec.namespaces)
    for line in (
        sh("R_CRAFTING", spec.crafting),
        sh("R_KERNEL", spec.kernel),
        sh("R_SUBNET", spec.subnet),
        sh("R_PORT", spec.port),
        sh("R_LISTEN", "true" if spec.listen is True else "false"),
        sh("R_NS_NAMES", names),
        sh("R_NS_INODES", [rec.namespaces[n] for n in names]),
        sh("R_NS_COOKIES", [rec.cookies.get(n, "") for n in names]),
        sh("R_APP_PID", app.pid if app else ""),
        sh("R_APP_TICKS", app.start_ticks if app else ""),
        sh("R_APP_CONTROL", app.control if app else ""),
        sh("R_APP_CMDLINE", (app.cmdline or []) if app else []),
        sh("R_APP_READY", "true" if app and app.cmdline else "false"),
        sh("R_COMPLETE", "true" if rec.complete else "false"),
        sh("R_CREATED", repr(rec.created)),
        sh("R_BUILDER_PID", builder.pid if builder else ""),
        sh("R_BUILDER_TICKS", builder.start_ticks if builder else ""),
        # pid, start time and command line: as tcplab.netns.proc.alive decides
        sh("R_BUILDER_ALIVE", "true" if alive(builder) else "false"),
        sh("R_OWNER_PID", owner.pid if owner and alive(owner) else ""),
    ):
        print(line)
    return 0


def app_cmdline(pid, control):
    # once the application said it is ready, its command line is python's (python3 may be a
    # wrapper that execs another path); it must run tcplab.app.server with this lab's control socket
    argv = cmdline(pid) or []
    marks = ["-m", "tcplab.app.server", "--control", control]
    if not any(argv[i : i + 4] == marks for i in range(len(argv))):
        raise SystemExit(f"process {pid} is not the application (command line {argv[:6]})")
    return argv


def save(args):
    crafting, kernel, subnet, port, listen, complete, created = args[:7]
    app_pid, app_ticks, control, builder_pid, builder_ticks, app_ready = args[7:13]
    rest = args[13:]
    triples = [rest[i : i + 3] for i in range(0, len(rest), 3)]
    app = None
    if app_pid:
        argv = app_cmdline(int(app_pid), control) if app_ready == "true" else None
        app = AppRecord(int(app_pid), int(app_ticks), control, argv)
    builder = None
    if builder_pid:
        builder = Builder(int(builder_pid), int(builder_ticks), cmdline(int(builder_pid)))
    LabRecord(
        spec=LabSpec(crafting, kernel, subnet, int(port), listen == "true").validate(),
        namespaces={name: int(inode) for name, inode, _ in triples},
        cookies={name: int(cookie) for name, _, cookie in triples if cookie},
        app=app,
        complete=complete == "true",
        created=float(created),
        builder=builder,
    ).save()
    return 0


def names(crafting, wanted):
    # as topology._check_names_free: another lab's record first, then an existing namespace
    for name in wanted:
        other = record_using(name)
        if other is not None and other.spec.crafting != crafting:
            print(sh("C_KIND", "record"), sh("C_NAME", name), sh("C_OWNER", other.spec.crafting))
            return 0
        if os.path.exists(netns_path(name)):
            print(sh("C_KIND", "exists"), sh("C_NAME", name))
            return 0
    return 0


op, args = sys.argv[1], sys.argv[2:]
if op == "check":
    sys.exit(0)
if op == "lock":
    try:
        os.close(lock.open_lock())
    except TcplabError as exc:
        sys.exit(f"{exc.message}; {exc.hint}")
    sys.exit(0)
if op == "load":
    sys.exit(load(args[0]))
if op == "save":
    sys.exit(save(args))
if op == "cookie":
    cookie = netns_cookie(args[0])
    print("" if cookie is None else cookie)
    sys.exit(0)
if op == "names":
    sys.exit(names(args[0], args[1:]))
sys.exit(f"unknown operation {op}")
PY
)

# tcplab_py OP ARGS...: run RECORD_PY with tcplab's code importable, on this script's record folder
tcplab_py() {
    PYTHONPATH=$TCPLAB_PYTHONPATH PYTHONSAFEPATH=1 TCPLAB_RUN_DIR=$RUN_DIR \
        python3 -c "$RECORD_PY" "$@"
}

# The record in memory (R_*), as LabRecord has it; the three R_NS_* arrays go together.
reset_record() {
    R_CRAFTING=$CRAFTING R_KERNEL=$KERNEL R_SUBNET=$SUBNET R_PORT=$PORT R_LISTEN=true
    R_NS_NAMES=()
    R_NS_INODES=()
    R_NS_COOKIES=()
    R_APP_PID="" R_APP_TICKS="" R_APP_CONTROL=""
    R_APP_CMDLINE=() R_APP_READY=false
    R_COMPLETE=false
    R_CREATED=$(date +%s.%N)
    R_BUILDER_PID="" R_BUILDER_TICKS="" R_BUILDER_ALIVE=false R_OWNER_PID=""
}

# load_record FILE: fill R_* from a record; return 1 if tcplab does not trust it, with the reason in
# LOAD_ERROR (a record is never acted on unless tcplab's own code accepts it)
load_record() {
    local out err_file
    err_file=$(mktemp)
    if ! out=$(tcplab_py load "$1" 2>"$err_file"); then
        LOAD_ERROR=$(tail -n 1 "$err_file")
        rm -f "$err_file"
        LOAD_ERROR=${LOAD_ERROR:-unreadable}
        return 1
    fi
    rm -f "$err_file"
    eval "$out"
}

# untrusted FILE: the message for a record tcplab will not act on
untrusted() {
    printf 'the record %s is not trusted: %s; nothing it names was touched: check it, then remove %s by hand' \
        "$1" "$LOAD_ERROR" "${1%/*}"
}

# save_record: write the record in memory with LabRecord.save (atomically, as tcplab writes it)
save_record() {
    local i err triples=()
    for i in "${!R_NS_NAMES[@]}"; do
        triples+=("${R_NS_NAMES[i]}" "${R_NS_INODES[i]}" "${R_NS_COOKIES[i]}")
    done
    if ! err=$(tcplab_py save "$R_CRAFTING" "$R_KERNEL" "$R_SUBNET" "$R_PORT" "$R_LISTEN" \
        "$R_COMPLETE" "$R_CREATED" "$R_APP_PID" "$R_APP_TICKS" "$R_APP_CONTROL" \
        "$R_BUILDER_PID" "$R_BUILDER_TICKS" "$R_APP_READY" "${triples[@]}" 2>&1); then
        err=${err%$'\n'}
        die 3 "writing the record $LABS_DIR/$R_CRAFTING/lab.json failed: ${err##*$'\n'}"
    fi
}

# builder_busy: another living process (same pid, start time and command line, as tcplab decided
# when it loaded the record) is building the lab right now
builder_busy() {
    [[ -n $R_BUILDER_PID && $R_BUILDER_PID != "$$" && $R_BUILDER_ALIVE == true ]]
}

refuse_busy() {
    ! builder_busy ||
        die 3 "the lab of $R_CRAFTING is being set up right now by process $R_BUILDER_PID; wait for that command to finish, then try again"
    [[ -z $R_OWNER_PID ]] ||
        die 3 "the lab of $R_CRAFTING is in use by process $R_OWNER_PID; it is removed when that command ends"
}

# -- namespaces, the application ------------------------------------------------------------------
ns_inode() { stat -L -c %i "$NETNS_DIR/$1" 2>/dev/null || true; }

ns_cookie() { tcplab_py cookie "$1" 2>/dev/null || true; }

# namespace_ours NAME: the namespace of that name is the one the record names: same inode and same
# cookie (the kernel reuses a freed namespace's inode, never its cookie; none on kernels before 5.14)
namespace_ours() {
    local i now
    now=$(ns_inode "$1")
    [[ -n $now ]] || return 1
    for i in "${!R_NS_NAMES[@]}"; do
        [[ ${R_NS_NAMES[i]} == "$1" && ${R_NS_INODES[i]} == "$now" ]] || continue
        # where the kernel has cookies, a record without one proves nothing (tcplab records it)
        if [[ $(ns_cookie "$1") == "${R_NS_COOKIES[i]}" ]]; then
            return 0
        fi
        return 1
    done
    return 1
}

# start_ticks PID: field 22 of /proc/PID/stat (the process's start time), empty if there is no such
# process or it has exited and waits to be reaped (a zombie is not a running application)
start_ticks() {
    local stat rest fields
    { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 0
    rest=${stat##*)}
    read -r -a fields <<<"$rest"
    [[ ${fields[0]:-} != [ZX] ]] || return 0
    printf '%s' "${fields[19]:-}"
}

# app_alive: the recorded application runs: same pid, start time and command line. The one this
# script started itself (OUR_APP_*) counts by pid and start time, even before it has exec'd python.
OUR_APP_PID="" OUR_APP_TICKS=""
app_alive() {
    [[ -n $R_APP_PID ]] && [[ $(start_ticks "$R_APP_PID") == "$R_APP_TICKS" ]] || return 1
    [[ $R_APP_PID != "$OUR_APP_PID" || $R_APP_TICKS != "$OUR_APP_TICKS" ]] || return 0
    app_cmdline_matches "$R_APP_PID"
}

# app_cmdline_matches PID: its command line is the recorded one (a record of an older tcplab has
# none: then it must run tcplab.app.server with the record's control socket)
app_cmdline_matches() {
    local argv=() joined want
    mapfile -d '' -t argv <"/proc/$1/cmdline" 2>/dev/null || return 1
    if ((${#R_APP_CMDLINE[@]})); then
        [[ ${#argv[@]} == "${#R_APP_CMDLINE[@]}" ]] || return 1
        joined=$(printf '%s\037' "${argv[@]}")
        want=$(printf '%s\037' "${R_APP_CMDLINE[@]}")
        [[ $joined == "$want" ]]
        return
    fi
    joined=$(printf '\037%s' "${argv[@]}")$'\037'
    [[ $joined == *$'\037-m\037tcplab.app.server\037--control\037'"$R_APP_CONTROL"$'\037'* ]]
}

stop_app() {
    local i
    app_alive || return 0
    kill -TERM "$R_APP_PID" 2>/dev/null || true
    for ((i = 0; i < 60; i++)); do
        app_alive || return 0
        sleep 0.05
    done
    if app_alive; then kill -KILL "$R_APP_PID" 2>/dev/null || true; fi
    for ((i = 0; i < 40; i++)); do
        app_alive || return 0
        sleep 0.05
    done
    return 0
}

# app_listening: the control socket is there and the application listens on it (in its namespace)
app_listening() {
    local ctl=${R_APP_CONTROL:-$LABS_DIR/$R_CRAFTING/app.sock}
    [[ -S $ctl ]] || return 1
    ip netns exec "$R_KERNEL" ss -Hxl 2>/dev/null | grep -F -- " $ctl " >/dev/null
}

link_up() {
    ip -n "$1" -br link show dev "$IFNAME" 2>/dev/null | grep -E '^[^ ]+ +UP ' >/dev/null
}

# has_address NS ADDR/PREFIX: the lab's link in NS has that address
has_address() {
    ip -n "$1" -br -4 addr show dev "$IFNAME" 2>/dev/null | tr ' ' '\n' | grep -Fx -- "$2" >/dev/null
}

# routes_out NS: the routes of NS's main table other than the lab's subnet (none in a whole lab)
routes_out() {
    ip -n "$1" -4 route show table main 2>/dev/null | awk -v net="$NETWORK" '
        { d = $1; if (d !~ /^([0-9.]+(\/[0-9]+)?|default)$/) d = $2 }
        d != net { printf "%s%s", sep, d; sep = ", " }'
}

rule_present() {
    ip netns exec "$R_CRAFTING" nft list table ip "$TABLE" 2>/dev/null |
        grep -F "comment \"$COMMENT\"" >/dev/null
}

# healthy: what topology.problems checks (the record complete, both namespaces ours, each link up
# with its address and no route out of the lab, the rule, the application), as far as shell sees
healthy() {
    [[ $R_COMPLETE == true ]] || return 1
    namespace_ours "$R_CRAFTING" && namespace_ours "$R_KERNEL" || return 1
    app_alive && app_listening || return 1
    link_up "$R_CRAFTING" && link_up "$R_KERNEL" && rule_present || return 1
    has_address "$R_CRAFTING" "$CRAFTING_ADDR/$PREFIX" && has_address "$R_KERNEL" "$KERNEL_ADDR/$PREFIX" || return 1
    [[ -z $(routes_out "$R_CRAFTING") && -z $(routes_out "$R_KERNEL") ]]
}

# teardown: remove what the record in memory names, tolerating what is already gone (as
# topology._remove). Sets REMOVED to what it removed. If a namespace cannot be removed, the record is
# kept (so 'down' can finish later) and it exits 3. Callers hold the lock and signals (held_teardown).
teardown() {
    local i name err failed=""
    REMOVED=()
    if app_alive; then
        stop_app
        REMOVED+=("application (pid $R_APP_PID)")
    fi
    for i in "${!R_NS_NAMES[@]}"; do
        name=${R_NS_NAMES[i]}
        namespace_ours "$name" || continue
        if err=$(ip netns del "$name" 2>&1); then
            REMOVED+=("namespace $name")
        else
            failed+=" $name (${err%%$'\n'*})"
        fi
    done
    [[ -z $failed ]] ||
        die 3 "removing namespace$failed failed; the record is kept: run '$PROG down --crafting $R_CRAFTING' again"
    remove_dir "$LABS_DIR/$R_CRAFTING"
}

# held_teardown: teardown with signals held back (topology._teardown)
held_teardown() {
    hold_signals
    teardown
    release_signals
}

# remove_dir DIR: the lab's record folder: the files tcplab writes there (RECORD_FILES of
# tcplab/netns/record.py), then the folder if nothing else is in it; /run/tcplab, its lock and its
# labs folder stay
RECORD_FILES=(lab.json lab.json.tmp app.sock app.log connections.json connections.tmp app.pid app.pid.tmp ready)
remove_dir() {
    local f
    [[ -d $1 && ! -L $1 ]] || return 0
    for f in "${RECORD_FILES[@]}"; do
        if [[ -e $1/$f || -L $1/$f ]] && [[ ! -d $1/$f || -L $1/$f ]]; then rm -f -- "${1:?}/$f"; fi
    done
    rmdir "$1" 2>/dev/null || warn "kept the folder $1: it holds files tcplab did not write"
}

# -- up -------------------------------------------------------------------------------------------
BUILDING=0

# on_exit: a failed or interrupted 'up' rolls back what it made (under the lock, as tcplab does)
on_exit() {
    local rc=$?
    if ((BUILDING)); then
        BUILDING=0
        set +e
        trap '' INT TERM HUP # a second Ctrl-C must not cut the rollback short
        exec 8>&-
        [[ -n $R_APP_PID ]] || read_pidfile
        warn "setup failed; removing what it made"
        lock_labs || warn "tcplab's lock on $RUN_DIR is still held (waited $LOCK_WAIT s); removing anyway"
        teardown >/dev/null
        ((rc != 0)) || rc=3
    fi
    exit "$rc"
}

read_pidfile() {
    local pid="" f=$LABS_DIR/$R_CRAFTING/app.pid
    if [[ -s $f ]]; then read -r pid <"$f" 2>/dev/null || true; fi
    if [[ $pid =~ ^[0-9]+$ ]]; then
        R_APP_PID=$pid
        R_APP_TICKS=$(start_ticks "$pid")
        R_APP_CONTROL=$LABS_DIR/$R_CRAFTING/app.sock
        [[ -n $R_APP_TICKS ]] || R_APP_PID=""
        OUR_APP_PID=$R_APP_PID OUR_APP_TICKS=$R_APP_TICKS
    fi
    return 0
}

# check_names_free: neither name is another lab's (by its record) nor an existing namespace
check_names_free() {
    local out C_KIND="" C_NAME="" C_OWNER=""
    out=$(tcplab_py names "$CRAFTING" "$CRAFTING" "$KERNEL") ||
        die 3 "reading the records in $LABS_DIR failed"
    eval "$out"
    case $C_KIND in
    record) die 2 "namespace $C_NAME already belongs to the lab of $C_OWNER; choose other names, or run '$PROG down --crafting $C_OWNER'" ;;
    exists) die 3 "network namespace $C_NAME exists and was not created by tcplab; remove it ('ip netns del $C_NAME') or choose other names" ;;
    esac
}

ruleset() {
    printf 'table ip %s {\n' "$TABLE"
    printf '  chain output {\n'
    printf '    type filter hook output priority filter; policy accept;\n'
    printf '    oifname "%s" ip saddr %s ip daddr %s tcp flags & rst == rst counter drop comment "%s"\n' \
        "$IFNAME" "$CRAFTING_ADDR" "$KERNEL_ADDR" "$COMMENT"
    printf '  }\n'
    printf '}\n'
}

# up: decide under tcplab's lock (as topology.setup: keep a whole lab, refuse one being built or one
# of other options, tear a broken one down, check the names, write the first record naming this
# script as the builder), then build without the lock; a complete record names no builder.
cmd_up() {
    local rec=$LABS_DIR/$CRAFTING/lab.json listen=""
    take_lock
    if [[ -e $rec || -L $rec || -e ${rec%/*} ]]; then
        load_record "$rec" || die 3 "$(untrusted "$rec")"
        refuse_busy
        if [[ $R_KERNEL != "$KERNEL" || $R_SUBNET != "$SUBNET" || $R_PORT != "$PORT" || $R_LISTEN != true ]]; then
            [[ $R_LISTEN == true ]] || listen=" (its application listens on no port)"
            die 2 "a lab with crafting host $CRAFTING already exists with kernel host $R_KERNEL, subnet $R_SUBNET, port $R_PORT$listen; run '$PROG down --crafting $CRAFTING' first, or give the same options"
        fi
        if healthy; then
            release_lock
            say "lab already set up: $CRAFTING ⇄ $KERNEL, nothing to do"
            say "next: sudo tcplab handshake --target $KERNEL:$PORT"
            return 0
        fi
        say "lab of $CRAFTING is incomplete or broken: rebuilding it"
        held_teardown
    fi
    check_names_free

    reset_record
    R_BUILDER_PID=$$
    R_BUILDER_TICKS=$(start_ticks $$)
    BUILDING=1
    save_record
    release_lock
    build
    BUILDING=0
    say "lab ready: $CRAFTING ($CRAFTING_ADDR, crafting host) ⇄ $KERNEL ($KERNEL_ADDR, kernel host), application listening on $KERNEL:$PORT"
    say "next: sudo tcplab handshake --target $KERNEL:$PORT"
}

build() {
    local ns inode
    for ns in "$CRAFTING" "$KERNEL"; do
        hold_signals # created and recorded, or neither
        run "creating namespace $ns" ip netns add "$ns"
        inode=$(ns_inode "$ns")
        [[ -n $inode ]] || die 3 "creating namespace $ns failed: $NETNS_DIR/$ns is not there"
        R_NS_NAMES+=("$ns")
        R_NS_INODES+=("$inode")
        R_NS_COOKIES+=("$(ns_cookie "$ns")")
        save_record
        release_signals
    done

    # one veth pair, made in the crafting namespace with its peer in the kernel namespace
    run "building the lab link" ip -n "$CRAFTING" link add "$IFNAME" address "$CRAFTING_MAC" \
        type veth peer name "$IFNAME" address "$KERNEL_MAC" netns "$KERNEL"
    local addr peer_addr peer_mac
    for ns in "$CRAFTING" "$KERNEL"; do
        if [[ $ns == "$CRAFTING" ]]; then
            addr=$CRAFTING_ADDR peer_addr=$KERNEL_ADDR peer_mac=$KERNEL_MAC
        else
            addr=$KERNEL_ADDR peer_addr=$CRAFTING_ADDR peer_mac=$CRAFTING_MAC
        fi
        # offloads off, so captures show real segments with real checksums; no IPv6 chatter
        run "turning offloads off in $ns" ip netns exec "$ns" \
            ethtool -K "$IFNAME" tx off tso off gso off gro off
        if ip netns exec "$ns" test -e "/proc/sys/net/ipv6/conf/$IFNAME/disable_ipv6"; then
            run "disabling IPv6 on $IFNAME in $ns" ip netns exec "$ns" \
                tee "/proc/sys/net/ipv6/conf/$IFNAME/disable_ipv6" <<<1
        fi
        run "adding $addr/$PREFIX in $ns" ip -n "$ns" addr add "$addr/$PREFIX" dev "$IFNAME"
        run "bringing $IFNAME up in $ns" ip -n "$ns" link set dev "$IFNAME" up
        run "bringing lo up in $ns" ip -n "$ns" link set dev lo up
        run "adding the neighbour entry in $ns" ip -n "$ns" neigh add "$peer_addr" \
            lladdr "$peer_mac" dev "$IFNAME" nud permanent
    done

    # the crafting host's rule, replacing an earlier copy of tcplab's table (as nft.install)
    run "nft in $CRAFTING" ip netns exec "$CRAFTING" nft -f - \
        < <(printf 'table ip %s\ndelete table ip %s\n' "$TABLE" "$TABLE"; ruleset)

    start_app
    R_COMPLETE=true
    R_BUILDER_PID="" R_BUILDER_TICKS=""
    save_record
}

# start_app: the kernel-side application in the kernel namespace, as topology.start_app starts it
start_app() {
    local dir=$LABS_DIR/$CRAFTING i line=""
    local ctl=$dir/app.sock log=$dir/app.log fifo=$dir/ready pidfile=$dir/app.pid
    rm -f "$fifo" "$pidfile"
    mkfifo -m 600 "$fifo"
    exec 8<>"$fifo"
    (
        # like Popen(close_fds=True): the application keeps stdin, stdout, stderr and its ready fd,
        # nothing the caller of this script left open (a pipe held open would hang it)
        for fd in /proc/self/fd/*; do
            fd=${fd##*/}
            if ((fd > 3)); then exec {fd}>&-; fi
        done
        export PYTHONPATH=$TCPLAB_PYTHONPATH
        # setsid: its own session, like start_new_session=True; the inner shell writes its pid, then
        # execs ip, which execs python in the kernel namespace: the pid written is the application's
        # shellcheck disable=SC2016 # $$, $1 and $@ are the inner shell's
        exec setsid sh -c 'cd / && echo "$$" >"$1.tmp" && mv -f "$1.tmp" "$1" && shift && exec "$@"' \
            sh "$pidfile" ip netns exec "$KERNEL" "$PY" -m tcplab.app.server --control "$ctl" \
            --listen "$PORT" --ready-fd 3
    ) </dev/null >>"$log" 2>&1 3>"$fifo" &
    for ((i = 0; i < APP_TIMEOUT_STEPS; i++)); do
        [[ -s $pidfile ]] && break
        sleep 0.05
    done
    read_pidfile
    [[ -n $R_APP_PID ]] || die 3 "the kernel-side application did not start in $KERNEL: $(log_tail "$log")"
    OUR_APP_PID=$R_APP_PID OUR_APP_TICKS=$R_APP_TICKS
    save_record
    # signals are acted on between reads, not inside 'read -t' (bash 5.2 crashes when a trap exits
    # from there: the read's timer fires later, into the EXIT trap)
    hold_signals
    for ((i = 0; i < APP_TIMEOUT_STEPS / 4; i++)); do
        if read -r -t 0.2 -u 8 line && [[ $line == ready ]]; then
            break
        fi
        [[ -z $PENDING_SIGNAL ]] || break
        app_alive || break
    done
    release_signals
    exec 8>&-
    rm -f "$fifo" "$pidfile"
    if [[ $line != ready || ! -S $ctl ]]; then
        die 3 "the kernel-side application did not start in $KERNEL: $(log_tail "$log")"
    fi
    R_APP_READY=true # the next save records its command line, read from /proc
}

log_tail() {
    local last
    last=$(tail -n 1 "$1" 2>/dev/null || true)
    printf '%s' "${last:-no output}"
}

# -- down -----------------------------------------------------------------------------------------
# down: under tcplab's lock, as topology.teardown (a lab being built by a living process is refused)
cmd_down() {
    local rec=$LABS_DIR/$CRAFTING/lab.json what name
    take_lock
    if [[ ! -e $rec && ! -L $rec && ! -e ${rec%/*} ]]; then
        say "nothing to remove: no tcplab lab with crafting host $CRAFTING"
        return 0
    fi
    # as tcplab does with an untrusted record: refuse it, touch nothing
    load_record "$rec" || die 3 "$(untrusted "$rec")"
    refuse_busy
    held_teardown
    if ((${#REMOVED[@]})); then
        what=$(printf '%s, ' "${REMOVED[@]}")
        what=${what%, }
    else
        what="only its record (the rest was already gone)"
    fi
    say "removed lab $R_CRAFTING ⇄ ${R_KERNEL:-?}: $what"
    for name in "$R_CRAFTING" "$R_KERNEL"; do
        # what teardown found ours is gone now: a namespace still there is someone else's
        [[ -z $name || ! -e $NETNS_DIR/$name ]] ||
            say "left alone: namespace $name exists but was not created by tcplab"
    done
}

# -- status ---------------------------------------------------------------------------------------
cmd_status() {
    local rec=$LABS_DIR/$CRAFTING/lab.json ns role present ours brief state mac addrs addr out
    local problems=() rule dropped state_of_record crafting_ours=no kernel_ours=no
    [[ -e $rec || -L $rec || -e ${rec%/*} ]] ||
        die 3 "no tcplab lab is set up with crafting host $CRAFTING; run 'sudo $0 up'"
    load_record "$rec" || die 3 "$(untrusted "$rec")"
    # the spec is the record's, whatever the options say
    CRAFTING=$R_CRAFTING KERNEL=$R_KERNEL SUBNET=$R_SUBNET PORT=$R_PORT
    validate_spec

    state_of_record=incomplete
    [[ $R_COMPLETE != true ]] || state_of_record=complete
    ! builder_busy || state_of_record+=", being set up right now by process $R_BUILDER_PID"
    say "lab $CRAFTING ⇄ $KERNEL: subnet $SUBNET, port $PORT, record $rec ($state_of_record)"
    for ns in "$CRAFTING" "$KERNEL"; do
        if [[ $ns == "$CRAFTING" ]]; then
            role="crafting host" addr=$CRAFTING_ADDR/$PREFIX
        else
            role="kernel host" addr=$KERNEL_ADDR/$PREFIX
        fi
        present=no ours=no
        [[ -z $(ns_inode "$ns") ]] || present=yes
        if [[ $present == yes ]] && namespace_ours "$ns"; then ours=yes; fi
        if [[ $ns == "$CRAFTING" ]]; then crafting_ours=$ours; else kernel_ours=$ours; fi
        if [[ $present == no ]]; then
            say "namespace $ns ($role): missing"
            problems+=("namespace $ns is missing")
            continue
        fi
        if [[ $ours == no ]]; then
            say "namespace $ns ($role): present, but not the one tcplab created (inode $(ns_inode "$ns"), cookie $(ns_cookie "$ns"))"
            problems+=("namespace $ns was replaced by one tcplab did not create")
            continue
        fi
        say "namespace $ns ($role): present, inode $(ns_inode "$ns"), cookie $(ns_cookie "$ns")"
        brief=$(ip -n "$ns" -br link show dev "$IFNAME" 2>/dev/null || true)
        if [[ -z $brief ]]; then
            say "  link $IFNAME: missing"
            problems+=("the link in $ns is missing or down")
            continue
        fi
        read -r _ state mac _ <<<"$brief"
        addrs=$(ip -n "$ns" -br -4 addr show dev "$IFNAME" 2>/dev/null | awk '{$1=""; $2=""; sub(/^ +/, ""); print}')
        say "  link $IFNAME: $state, mac $mac, addresses ${addrs:-none}"
        [[ $state == UP ]] || problems+=("the link in $ns is missing or down")
        has_address "$ns" "$addr" || problems+=("$ns lacks its address $addr")
        out=$(routes_out "$ns")
        [[ -z $out ]] || problems+=("$ns has routes out of the lab: $out")
        say "  neighbours: $(ip -n "$ns" neigh show dev "$IFNAME" 2>/dev/null | paste -sd';' - | sed 's/;/; /g')"
    done

    rule=""
    if [[ $crafting_ours == yes ]]; then
        rule=$(ip netns exec "$CRAFTING" nft list table ip "$TABLE" 2>/dev/null | grep -F "comment \"$COMMENT\"" || true)
    fi
    if [[ -n $rule ]]; then
        dropped=$(sed -n 's/.* counter packets \([0-9]*\) .*/\1/p' <<<"$rule")
        say "rule in $CRAFTING (table ip $TABLE, chain output): $(ruleset | sed -n 4p | sed 's/^ *//')"
        say "  dropped so far: ${dropped:-?} packets"
    else
        say "rule in $CRAFTING: missing"
        problems+=("the rule in $CRAFTING is missing")
    fi

    if app_alive; then
        if app_listening; then
            say "application: pid $R_APP_PID, running, control socket $R_APP_CONTROL"
        else
            say "application: pid $R_APP_PID, running, but not listening on $R_APP_CONTROL"
            problems+=("the kernel-side application does not answer")
        fi
    else
        say "application: ${R_APP_PID:+pid $R_APP_PID, }not running"
        problems+=("the kernel-side application is not running")
    fi
    if [[ $kernel_ours == yes ]]; then
        say "TCP sockets in $KERNEL:"
        ip netns exec "$KERNEL" ss -tan 2>/dev/null | sed 's/^/  /'
    fi
    [[ $R_COMPLETE == true ]] || problems+=("setup did not finish")

    if ((${#problems[@]})); then
        say "problems: $(printf '%s; ' "${problems[@]}" | sed 's/; $//')"
        say "hint: run 'sudo $0 up$(spec_args)' to repair it"
        exit 3
    fi
    say "healthy"
}

spec_args() {
    printf ' --crafting %s --kernel %s --subnet %s --port %s' "$CRAFTING" "$KERNEL" "$SUBNET" "$PORT"
}

# -- main -----------------------------------------------------------------------------------------
main() {
    parse_args "$@"
    require_root
    require_tools
    trap on_exit EXIT
    set_signal_traps
    case $CMD in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    esac
}

main "$@"
