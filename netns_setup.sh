#!/usr/bin/env bash
# sudo ./netns_setup.sh up|down|status: the tcplab testbed, built with plain ip, ethtool, nft and sysctl.
#
# The readable account of what 'tcplab setup' builds (tcplab/netns/topology.py is the implementation
# of record; tests/integration/test_netns_setup_sh.py holds the two equal): two network namespaces,
# the crafting host (default ns1) and the kernel host (default ns2); one veth pair, tcplab0 at both
# ends, with fixed MACs, permanent neighbour entries, offloads and IPv6 off; an nftables rule in the
# crafting host; tcplab's kernel-side application in the kernel host, listening on the port.
#
# Ownership lives in tcplab: 'up' builds the namespaces, then 'tcplab setup --adopt' checks that they
# look as built here, starts the application (tcplab's own) and writes tcplab's record under its
# lock; from then on 'tcplab status', 'handshake' and 'teardown' work on the testbed, and 'down' and
# 'status' here are those commands.
#
# Not as tcplab does it: tcplab records each step before taking it, so the next 'tcplab teardown'
# removes even a setup killed with SIGKILL. This script rolls back what it made when a step fails or
# it is interrupted; killed outright before tcplab adopts the testbed, it leaves namespaces that are
# nobody's (remove them with 'ip netns del').
#
# Exit codes, as tcplab's: 0 done, 2 bad arguments, 3 environment (not root, a tool missing, a name
# taken, a step failed; for 'status', the testbed is missing or broken).

set -euo pipefail
export LC_ALL=C
PROG=${0##*/}
IFNAME=tcplab0               # tcplab/netns/record.py: IFNAME, CRAFTING_MAC, KERNEL_MAC
CRAFTING_MAC=02:74:6c:00:00:01
KERNEL_MAC=02:74:6c:00:00:02
CHILD_EHASH_ENTRIES=1024     # tcplab/netns/enter.py: the kernel host's own connection table
RULE_COMMENT="tcplab: the crafting host's kernel must not reset crafted connections" # nft.py
NAME_RE='^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' # record.py: valid_name
OCTET='(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
CIDR_RE="^$OCTET\.$OCTET\.$OCTET\.$OCTET/([0-9]|[12][0-9]|3[0-2])$"

usage() {
    cat <<EOF
usage: $PROG up|down|status [--crafting ns1] [--kernel ns2] [--subnet 10.77.0.0/24] [--port 7788]
  up      build the testbed with ip, ethtool, nft and sysctl, then hand it to 'tcplab setup --adopt'
  down    remove the testbed: 'tcplab teardown --crafting NS'
  status  show the testbed: 'tcplab status --crafting NS' (exit 3 if it is missing or broken)
EOF
}

# die CODE MESSAGE HINT: tcplab's two lines on stderr (unprintable characters shown as '?'), then exit
die() { printf 'error: %s\nhint: %s\n' "${2//[![:print:]]/?}" "${3//[![:print:]]/?}" >&2; exit "$1"; }

# run STEP CMD...: run a command quietly; if it fails, exit 3 naming the step and the tool's message
run() {
    local step=$1 err && shift
    err=$("$@" 2>&1 >/dev/null) && return 0
    err=${err%%$'\n'*}
    die 3 "$step failed: ${err:-no message}" "check that network namespaces, nftables and ethtool work here"
}

# -- arguments: all checked before any path is formed or any command is run ----------------------
SIG="" CMD="" CRAFTING=ns1 KERNEL=ns2 SUBNET=10.77.0.0/24 PORT=7788
parse_args() {
    local opt
    while (($#)); do
        case $1 in
        -h | --help) usage && exit 0 ;;
        up | down | status)
            [[ -z $CMD ]] || die 2 "give one command, not both $CMD and $1" "see '$PROG --help'"
            CMD=$1 && shift ;;
        --crafting=* | --kernel=* | --subnet=* | --port=*) set -- "${1%%=*}" "${1#*=}" "${@:2}" ;;
        --crafting | --kernel | --subnet | --port)
            (($# >= 2)) || die 2 "option $1 needs a value" "see '$PROG --help'"
            opt=${1#--} && printf -v "${opt^^}" '%s' "$2" && shift 2 ;; # --port 80: PORT=80
        *) die 2 "unknown argument '$1'" "use up, down or status, and --crafting, --kernel, --subnet, --port" ;;
        esac
    done
    [[ -n $CMD ]] || die 2 "no command given" "$PROG up|down|status (see '$PROG --help')"
}

# The checks of TestbedSpec.validate (tcplab/netns/record.py), with the same limits.
validate() {
    local a b c d hint="use 1-64 letters, digits, '_', '.', '-', starting with a letter or digit (no '/')"
    [[ $CRAFTING =~ $NAME_RE ]] || die 2 "bad crafting namespace name '$CRAFTING'" "$hint"
    [[ $KERNEL =~ $NAME_RE ]] || die 2 "bad kernel namespace name '$KERNEL'" "$hint"
    [[ $CRAFTING != "$KERNEL" ]] || die 2 "the crafting and kernel namespaces are both '$CRAFTING'" \
        "give them different names, e.g. --crafting ns1 --kernel ns2"
    [[ $PORT =~ ^[0-9]{1,5}$ && $((10#$PORT)) -ge 1 && $((10#$PORT)) -le 65535 ]] ||
        die 2 "port $PORT is out of range" "use a port from 1 to 65535"
    PORT=$((10#$PORT))
    [[ $SUBNET =~ $CIDR_RE ]] || die 2 "bad subnet '$SUBNET'" "give an IPv4 subnet such as 10.77.0.0/24"
    IFS=./ read -r a b c d PREFIX <<<"$SUBNET"
    ((PREFIX <= 30)) || die 2 "subnet $SUBNET has no room for two hosts" "use a /30 or larger"
    NET=$(((a << 24 | b << 16 | c << 8 | d) & (0xFFFFFFFF << (32 - PREFIX)) & 0xFFFFFFFF))
    in_testbed_space "$NET" "$PREFIX" || die 2 "subnet $SUBNET is not private testbed address space" \
        "use a subnet inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10, e.g. 10.77.0.0/24"
    CRAFTING_ADDR=$(ip4 $((NET + 1))) # the first host of the subnet, and the second
    KERNEL_ADDR=$(ip4 $((NET + 2)))
}

# in_testbed_space NET LEN: NET/LEN lies inside the testbed's address space (record.py: TESTBED_SPACE)
in_testbed_space() {
    local space a b c d len
    for space in 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 100.64.0.0/10; do
        IFS=./ read -r a b c d len <<<"$space"
        (($2 >= len && $1 >> (32 - len) == (a << 24 | b << 16 | c << 8 | d) >> (32 - len))) && return 0
    done
    return 1
}

ip4() { printf '%d.%d.%d.%d' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)); }
need() { command -v "$1" >/dev/null || die 3 "$1 is not installed" "$2"; } # need TOOL HINT

# -- up -------------------------------------------------------------------------------------------
MADE=() # the namespaces this 'up' created: removed again (with all in them) if it does not finish
rollback() {
    local rc=$? ns
    trap '' INT TERM # a second Ctrl-C must not cut the rollback short
    for ns in "${MADE[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
    ((${#MADE[@]} == 0)) || printf '%s: up did not finish; removed what it made: %s\n' "$PROG" "${MADE[*]}" >&2
    exit "$rc"
}

# Ctrl-C and SIGTERM wait while a step and its note are done (tcplab's signals_held); release is
# false if one came meanwhile
hold() { SIG="" && trap 'SIG=130' INT && trap 'SIG=143' TERM; }
release() { trap 'exit 130' INT && trap 'exit 143' TERM && [[ -z $SIG ]]; }
# make_ns NS CMD...: create a namespace and note it for the rollback
make_ns() {
    local ns=$1 && shift && hold
    run "creating namespace $ns" "$@" && MADE+=("$ns")
    release || exit "$SIG"
}

# link_end NS ADDR PEER_ADDR PEER_MAC: one end of the testbed's link
link_end() {
    # offloads off, so captures show real segments with real checksums: every tx-checksum-*, tx-tcp*,
    # tx-generic-segmentation, rx-gro, rx-gro-list and rx-lro (a fixed one stays as it is)
    run "turning offloads off in $1" ip netns exec "$1" \
        ethtool -K "$IFNAME" tx off tso off gso off gro off rx-gro-list off lro off
    run "turning IPv6 off in $1" ip netns exec "$1" sysctl -qw "net.ipv6.conf.$IFNAME.disable_ipv6=1"
    run "adding $2/$PREFIX in $1" ip -n "$1" addr add "$2/$PREFIX" dev "$IFNAME"
    run "bringing $IFNAME up in $1" ip -n "$1" link set dev "$IFNAME" up
    run "bringing lo up in $1" ip -n "$1" link set dev lo up
    # a permanent neighbour entry: no ARP exchange ever delays or clutters an exercise
    run "adding the neighbour $3 in $1" ip -n "$1" neigh add "$3" lladdr "$4" dev "$IFNAME" nud permanent
}

cmd_up() {
    local ns tool
    for tool in ip:iproute2 ethtool:ethtool nft:nftables sysctl:procps unshare:util-linux; do
        need "${tool%:*}" "install it: sudo apt-get install ${tool#*:}"
    done
    for ns in "$CRAFTING" "$KERNEL"; do
        [[ ! -e /run/netns/$ns ]] || die 3 "network namespace $ns already exists" \
            "choose other names, or remove it first (a testbed's: sudo tcplab teardown --crafting NAME)"
    done
    trap rollback EXIT
    make_ns "$CRAFTING" ip netns add "$CRAFTING"
    # the kernel host gets a small TCP connection table of its own (cheap to read every millisecond in
    # a check): it is made from a throw-away namespace where tcp_child_ehash_entries is set (Linux 6.1+)
    # shellcheck disable=SC2016 # "$1" is the inner shell's
    make_ns "$KERNEL" unshare --net -- sh -c \
        "sysctl -eqw net.ipv4.tcp_child_ehash_entries=$CHILD_EHASH_ENTRIES; exec ip netns add \"\$1\"" \
        sh "$KERNEL"

    # one veth pair, made in the crafting host with its peer in the kernel host: no end in the host's
    run "building the testbed link" ip -n "$CRAFTING" link add "$IFNAME" address "$CRAFTING_MAC" \
        type veth peer name "$IFNAME" address "$KERNEL_MAC" netns "$KERNEL"
    link_end "$CRAFTING" "$CRAFTING_ADDR" "$KERNEL_ADDR" "$KERNEL_MAC"
    link_end "$KERNEL" "$KERNEL_ADDR" "$CRAFTING_ADDR" "$CRAFTING_MAC"

    # The crafting host's kernel owns no socket for a crafted connection and would reset it: the rule
    # drops its RSTs. Crafted segments leave through AF_PACKET, unseen by netfilter, RSTs included.
    run "adding the rule in $CRAFTING" ip netns exec "$CRAFTING" nft -f - <<EOF
table ip tcplab {
  chain output {
    type filter hook output priority filter; policy accept;
    oifname "$IFNAME" ip saddr $CRAFTING_ADDR ip daddr $KERNEL_ADDR tcp flags & rst == rst counter drop comment "$RULE_COMMENT"
  }
}
EOF

    # tcplab checks what was built, starts its kernel-side application in the kernel host and records
    # the testbed as its own; if it refuses, its error is shown and the rollback removes the namespaces
    hold
    tcplab setup --adopt --crafting "$CRAFTING" --kernel "$KERNEL" --subnet "$SUBNET" --port "$PORT"
    MADE=() # the testbed is tcplab's now: a signal that came meanwhile has tcplab remove it
    release || { tcplab teardown --crafting "$CRAFTING" >/dev/null || true; exit "$SIG"; }
}

main() {
    parse_args "$@"
    validate
    ((EUID == 0)) || die 3 "$CMD needs root" "run it with sudo: sudo $0 $CMD"
    need tcplab "install tcplab (sudo ./install.sh), or put the folder of its 'tcplab' command on PATH"
    release
    case $CMD in
    up) cmd_up ;;
    # ownership lives in tcplab: its teardown removes exactly what its record names, nothing else
    down) exec tcplab teardown --crafting "$CRAFTING" ;;
    status) exec tcplab status --crafting "$CRAFTING" ;;
    esac
}

main "$@"
