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
# (the application by pid and start time, the namespaces by inode), nothing else.
#
# The record is written before anything is created and after each step; a failed or interrupted 'up'
# rolls back what it made. Python is used only to run the application (python3 -m tcplab.app.server,
# with this checkout first on PYTHONPATH; TCPLAB_PYTHON picks another interpreter).
#
# Exit codes, as tcplab's: 0 done (status: healthy), 2 bad arguments, 3 environment (not root, a tool
# missing, a step failed; status: the lab is missing or broken).

set -euo pipefail
export LC_ALL=C

PROG=${0##*/}
REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
RUN_DIR=${TCPLAB_RUN_DIR:-/run/tcplab}
LABS_DIR=$RUN_DIR/labs
NETNS_DIR=/run/netns
PY=${TCPLAB_PYTHON:-python3}

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
US=$'\x1f'            # field separator of the flattened record

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
    [[ $PORT =~ ^[0-9]+$ ]] || die 2 "port '$PORT' is not a number; use a port from 1 to 65535"
    if ((${#PORT} > 5 || 10#$PORT < 1 || 10#$PORT > 65535)); then
        die 2 "port '$PORT' is out of range; use a port from 1 to 65535"
    fi
    PORT=$((10#$PORT))
    local a b c d prefix ip mask net
    IFS=./ read -r a b c d prefix <<<"$SUBNET"
    ip=$(((a << 24) | (b << 16) | (c << 8) | d))
    mask=$(((0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF))
    net=$((ip & mask))
    PREFIX=$prefix
    CRAFTING_ADDR=$(int_to_ip $((net + 1)))
    KERNEL_ADDR=$(int_to_ip $((net + 2)))
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
        flock:util-linux awk:mawk "$PY":python3; do
        pkg=${tool##*:}
        tool=${tool%:*}
        command -v "$tool" >/dev/null 2>&1 || die 3 "$tool is not installed; install it: apt-get install $pkg"
    done
}

# One run at a time (two runs building the same lab would trip over each other). The lock is the
# script file itself, so nothing is left behind; the application must not inherit fd 9.
take_lock() {
    exec 9<"${BASH_SOURCE[0]}"
    flock -w 60 9 || die 3 "another $PROG is still running (waited 60 s for it)"
}

# -- the record -----------------------------------------------------------------------------------
# Flatten a record to lines "KEY<US>SUBKEY<US>TYPE<US>VALUE" (TYPE s, n, b, z for null, o for an
# object); any JSON of two levels of objects is read, whatever its layout. Exit 1 if it is not that.
flatten_json() {
    awk -v US="$US" '
    function fail(msg) { print "bad record: " msg > "/dev/stderr"; failed = 1; exit 1 }
    function ws() { while (pos <= n && index(" \t\r\n", substr(s, pos, 1))) pos++ }
    function str(   c, e, out) {
        if (substr(s, pos, 1) != "\"") fail("string expected at " pos)
        pos++; out = ""
        while (1) {
            if (pos > n) fail("unterminated string")
            c = substr(s, pos, 1)
            if (c == "\"") { pos++; return out }
            if (c == "\\") {
                e = substr(s, pos + 1, 1); pos += 2
                if (e == "\"" || e == "\\" || e == "/") { out = out e; continue }
                fail("unsupported escape \\" e)
            }
            if (c < " " || c == US) fail("control character in a string")
            out = out c; pos++
        }
    }
    function emit(k1, k2, type, v) { print k1 US k2 US type US v }
    function value(k1, k2,   c, key) {
        ws(); c = substr(s, pos, 1)
        if (c == "{") {
            if (k2 != "") fail("objects nested too deep")
            if (k1 != "") emit(k1, "", "o", "")
            pos++; ws()
            if (substr(s, pos, 1) == "}") { pos++; return }
            while (1) {
                ws(); key = str(); ws()
                if (substr(s, pos, 1) != ":") fail("\":\" expected at " pos)
                pos++
                if (k1 == "") value(key, ""); else value(k1, key)
                ws(); c = substr(s, pos, 1); pos++
                if (c == "}") return
                if (c != ",") fail("\",\" or \"}\" expected at " pos)
            }
        }
        if (c == "\"") { emit(k1, k2, "s", str()); return }
        if (match(substr(s, pos), /^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?/)) {
            emit(k1, k2, "n", substr(s, pos, RLENGTH)); pos += RLENGTH; return
        }
        if (substr(s, pos, 4) == "true") { emit(k1, k2, "b", "true"); pos += 4; return }
        if (substr(s, pos, 5) == "false") { emit(k1, k2, "b", "false"); pos += 5; return }
        if (substr(s, pos, 4) == "null") { emit(k1, k2, "z", ""); pos += 4; return }
        fail("unexpected \"" c "\" at " pos)
    }
    { s = s $0 "\n" }
    END {
        if (failed) exit 1
        n = length(s); pos = 1; ws()
        if (substr(s, pos, 1) != "{") fail("not a JSON object")
        value("", ""); ws()
        if (pos <= n) fail("text after the object")
    }' "$1"
}

# The record in memory (R_*), as LabRecord has it.
reset_record() {
    R_CRAFTING=$CRAFTING R_KERNEL=$KERNEL R_SUBNET=$SUBNET R_PORT=$PORT
    R_NS_NAMES=()
    R_NS_INODES=()
    R_APP_PID="" R_APP_TICKS="" R_APP_CONTROL=""
    R_COMPLETE=false
    R_CREATED=$(date +%s.%N)
}

# load_record FILE: fill R_* from a record; return 1 if it is unreadable or not a lab's record.
load_record() {
    local flat k1 k2 type v seen=""
    flat=$(flatten_json "$1" 2>/dev/null) || return 1
    R_CRAFTING="" R_KERNEL="" R_SUBNET="" R_PORT=""
    R_NS_NAMES=()
    R_NS_INODES=()
    R_APP_PID="" R_APP_TICKS="" R_APP_CONTROL=""
    R_COMPLETE=false
    R_CREATED=0
    while IFS=$US read -r k1 k2 type v; do
        case "$k1/$k2/$type" in
        spec//o | namespaces//o | app//o | app//z) seen+=" $k1" ;;
        spec/crafting/s) R_CRAFTING=$v ;;
        spec/kernel/s) R_KERNEL=$v ;;
        spec/subnet/s) R_SUBNET=$v ;;
        spec/port/n) R_PORT=$v ;;
        namespaces/*/n)
            [[ $v =~ ^[0-9]+$ ]] || return 1
            R_NS_NAMES+=("$k2")
            R_NS_INODES+=("$v")
            ;;
        app/pid/n) R_APP_PID=$v ;;
        app/start_ticks/n) R_APP_TICKS=$v ;;
        app/control/s) R_APP_CONTROL=$v ;;
        complete//b) R_COMPLETE=$v ;;
        created//n) R_CREATED=$v ;;
        *) return 1 ;; # a key LabRecord.load would not accept, or a value of the wrong type
        esac
    done <<<"$flat"
    [[ $seen == *spec* && -n $R_CRAFTING && -n $R_KERNEL && -n $R_SUBNET ]] || return 1
    [[ $R_PORT =~ ^[0-9]+$ ]] || return 1
    if [[ -n $R_APP_PID || -n $R_APP_TICKS || -n $R_APP_CONTROL ]]; then
        [[ $R_APP_PID =~ ^[0-9]+$ && $R_APP_TICKS =~ ^[0-9]+$ && -n $R_APP_CONTROL ]] || return 1
    fi
    return 0
}

json_str() {
    local s=$1
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    printf '"%s"' "$s"
}

# The record as LabRecord.save writes it (json.dumps(asdict(record), indent=2)), atomically.
save_record() {
    local dir=$LABS_DIR/$R_CRAFTING i sep json
    mkdir -p "$LABS_DIR"
    [[ -d $dir ]] || mkdir -m 700 "$dir"
    chmod 700 "$dir"
    chmod 755 "$RUN_DIR"
    json="{"$'\n'"  \"spec\": {"$'\n'
    json+="    \"crafting\": $(json_str "$R_CRAFTING"),"$'\n'
    json+="    \"kernel\": $(json_str "$R_KERNEL"),"$'\n'
    json+="    \"subnet\": $(json_str "$R_SUBNET"),"$'\n'
    json+="    \"port\": $R_PORT"$'\n'"  },"$'\n'
    if ((${#R_NS_NAMES[@]} == 0)); then
        json+="  \"namespaces\": {},"$'\n'
    else
        json+="  \"namespaces\": {"$'\n'
        for i in "${!R_NS_NAMES[@]}"; do
            sep=","
            ((i + 1 < ${#R_NS_NAMES[@]})) || sep=""
            json+="    $(json_str "${R_NS_NAMES[i]}"): ${R_NS_INODES[i]}$sep"$'\n'
        done
        json+="  },"$'\n'
    fi
    if [[ -z $R_APP_PID ]]; then
        json+="  \"app\": null,"$'\n'
    else
        json+="  \"app\": {"$'\n'
        json+="    \"pid\": $R_APP_PID,"$'\n'
        json+="    \"start_ticks\": $R_APP_TICKS,"$'\n'
        json+="    \"control\": $(json_str "$R_APP_CONTROL")"$'\n'"  },"$'\n'
    fi
    json+="  \"complete\": $R_COMPLETE,"$'\n'
    json+="  \"created\": $R_CREATED"$'\n'"}"
    printf '%s' "$json" >"$dir/lab.json.tmp"
    mv -f "$dir/lab.json.tmp" "$dir/lab.json"
}

# -- namespaces, the application ------------------------------------------------------------------
ns_inode() { stat -L -c %i "$NETNS_DIR/$1" 2>/dev/null || true; }

# namespace_ours NAME: the namespace of that name is the one the record names (same inode)
namespace_ours() {
    local i now
    now=$(ns_inode "$1")
    [[ -n $now ]] || return 1
    for i in "${!R_NS_NAMES[@]}"; do
        [[ ${R_NS_NAMES[i]} == "$1" && ${R_NS_INODES[i]} == "$now" ]] && return 0
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

app_alive() {
    [[ -n $R_APP_PID ]] && [[ $(start_ticks "$R_APP_PID") == "$R_APP_TICKS" ]]
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

rule_present() {
    ip netns exec "$R_CRAFTING" nft list table ip "$TABLE" 2>/dev/null |
        grep -F "comment \"$COMMENT\"" >/dev/null
}

# healthy: what topology.healthy checks, plus the link and the rule
healthy() {
    [[ $R_COMPLETE == true ]] || return 1
    namespace_ours "$R_CRAFTING" && namespace_ours "$R_KERNEL" || return 1
    app_alive && app_listening || return 1
    link_up "$R_CRAFTING" && link_up "$R_KERNEL" && rule_present
}

# teardown: remove what the record in memory names, tolerating what is already gone (as
# topology.teardown). Sets REMOVED to what it removed. If a namespace cannot be removed, the record is
# kept (so 'down' can finish later) and it exits 3.
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

remove_dir() {
    [[ -d $1 ]] || return 0
    find "$1" -mindepth 1 -maxdepth 1 ! -type d -delete
    rmdir "$1"
    rmdir "$LABS_DIR" 2>/dev/null || true # only if no other lab is left
}

# -- up -------------------------------------------------------------------------------------------
BUILDING=0

on_exit() {
    local rc=$?
    if ((BUILDING)); then
        BUILDING=0
        set +e
        exec 8>&-
        [[ -n $R_APP_PID ]] || read_pidfile
        warn "setup failed; removing what it made"
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
    fi
    return 0
}

check_names_free() {
    local name other
    for name in "$CRAFTING" "$KERNEL"; do
        for other in "$LABS_DIR"/*/lab.json; do
            [[ -f $other && $other != "$LABS_DIR/$CRAFTING/lab.json" ]] || continue
            (
                load_record "$other" || exit 0
                [[ $name == "$R_CRAFTING" || $name == "$R_KERNEL" ]] || exit 0
                die 2 "namespace $name already belongs to the lab of $R_CRAFTING; choose other names, or run '$PROG down --crafting $R_CRAFTING'"
            ) || exit $?
        done
        [[ ! -e $NETNS_DIR/$name ]] ||
            die 3 "network namespace $name exists and was not created by tcplab; remove it ('ip netns del $name') or choose other names"
    done
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

cmd_up() {
    local rec=$LABS_DIR/$CRAFTING/lab.json
    if [[ -e $rec ]]; then
        if ! load_record "$rec" || [[ $R_CRAFTING != "$CRAFTING" ]]; then
            die 2 "the record $rec is unreadable; run '$PROG down --crafting $CRAFTING' first"
        fi
        if [[ $R_KERNEL != "$KERNEL" || $R_SUBNET != "$SUBNET" || $((10#$R_PORT)) != "$PORT" ]]; then
            die 2 "a lab with crafting host $CRAFTING already exists with kernel host $R_KERNEL, subnet $R_SUBNET, port $R_PORT; run '$PROG down --crafting $CRAFTING' first, or give the same options"
        fi
        if healthy; then
            say "lab already set up: $CRAFTING ⇄ $KERNEL, nothing to do"
            say "next: sudo tcplab handshake --target $KERNEL:$PORT"
            return 0
        fi
        say "lab of $CRAFTING is incomplete or broken: rebuilding it"
        teardown
    fi
    check_names_free

    reset_record
    BUILDING=1
    save_record
    build
    BUILDING=0
    say "lab ready: $CRAFTING ($CRAFTING_ADDR, crafting host) ⇄ $KERNEL ($KERNEL_ADDR, kernel host), application listening on $KERNEL:$PORT"
    say "next: sudo tcplab handshake --target $KERNEL:$PORT"
}

build() {
    local ns inode
    for ns in "$CRAFTING" "$KERNEL"; do
        run "creating namespace $ns" ip netns add "$ns"
        inode=$(ns_inode "$ns")
        [[ -n $inode ]] || die 3 "creating namespace $ns failed: $NETNS_DIR/$ns is not there"
        R_NS_NAMES+=("$ns")
        R_NS_INODES+=("$inode")
        save_record
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
    save_record
}

# start_app: the kernel-side application in the kernel namespace, as topology.start_app starts it
start_app() {
    local dir=$LABS_DIR/$CRAFTING i line="" pythonpath
    local ctl=$dir/app.sock log=$dir/app.log fifo=$dir/ready pidfile=$dir/app.pid
    pythonpath=${PYTHONPATH:-}
    [[ ! -f $REPO_DIR/tcplab/app/server.py ]] || pythonpath=$REPO_DIR${pythonpath:+:$pythonpath}
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
        export PYTHONPATH=$pythonpath
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
    save_record
    for ((i = 0; i < APP_TIMEOUT_STEPS / 4; i++)); do
        if read -r -t 0.2 -u 8 line && [[ $line == ready ]]; then
            break
        fi
        app_alive || break
    done
    exec 8>&-
    rm -f "$fifo" "$pidfile"
    if [[ $line != ready || ! -S $ctl ]]; then
        die 3 "the kernel-side application did not start in $KERNEL: $(log_tail "$log")"
    fi
}

log_tail() {
    local last
    last=$(tail -n 1 "$1" 2>/dev/null || true)
    printf '%s' "${last:-no output}"
}

# -- down -----------------------------------------------------------------------------------------
cmd_down() {
    local rec=$LABS_DIR/$CRAFTING/lab.json what name
    if [[ ! -e $rec ]]; then
        say "nothing to remove: no tcplab lab with crafting host $CRAFTING"
        return 0
    fi
    if ! load_record "$rec" || [[ $R_CRAFTING != "$CRAFTING" ]]; then
        # as tcplab does with a broken record: remove the record, touch nothing it cannot prove is ours
        R_CRAFTING=$CRAFTING R_KERNEL="" R_NS_NAMES=() R_NS_INODES=() R_APP_PID=""
        warn "the record $rec is unreadable: removing only the record"
    fi
    teardown
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
    local rec=$LABS_DIR/$CRAFTING/lab.json ns role present ours brief state mac addrs
    local problems=() rule dropped
    [[ -e $rec ]] || die 3 "no tcplab lab is set up with crafting host $CRAFTING; run 'sudo $0 up'"
    if ! load_record "$rec" || [[ $R_CRAFTING != "$CRAFTING" ]]; then
        die 3 "the record $rec is unreadable; run '$PROG down --crafting $CRAFTING', then '$PROG up'"
    fi
    # the spec is the record's, whatever the options say
    CRAFTING=$R_CRAFTING KERNEL=$R_KERNEL SUBNET=$R_SUBNET PORT=$R_PORT
    validate_spec

    say "lab $CRAFTING ⇄ $KERNEL: subnet $SUBNET, port $PORT, record $rec ($([[ $R_COMPLETE == true ]] && echo complete || echo incomplete))"
    for ns in "$CRAFTING" "$KERNEL"; do
        if [[ $ns == "$CRAFTING" ]]; then role="crafting host"; else role="kernel host"; fi
        present=no ours=no
        [[ -z $(ns_inode "$ns") ]] || present=yes
        ! namespace_ours "$ns" || ours=yes
        if [[ $present == no ]]; then
            say "namespace $ns ($role): missing"
            problems+=("namespace $ns is missing")
            continue
        fi
        if [[ $ours == no ]]; then
            say "namespace $ns ($role): present, but not the one tcplab created (inode $(ns_inode "$ns"))"
            problems+=("namespace $ns was replaced by one tcplab did not create")
            continue
        fi
        say "namespace $ns ($role): present, inode $(ns_inode "$ns")"
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
        say "  neighbours: $(ip -n "$ns" neigh show dev "$IFNAME" 2>/dev/null | paste -sd';' - | sed 's/;/; /g')"
    done

    rule=""
    if namespace_ours "$CRAFTING"; then
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
    if namespace_ours "$KERNEL"; then
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
    take_lock
    trap on_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
    case $CMD in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    esac
}

main "$@"
