#!/usr/bin/env bash
# Two Docker engines alike in all but one thing: the filesystem under their data root is
# ext4 with a journal (as mkfs.ext4 makes it) or ext4 without one. For repeating a
# benchmark on both (BENCHMARKS.md, P4):
#
#   sudo bash scripts/journal-engines.sh up      # prints a DOCKER_HOST for each
#   DOCKER_HOST=unix:///run/rjup-bench-journal.sock python3 scripts/bench.py P4 --no-write
#   DOCKER_HOST=unix:///run/rjup-bench-nojournal.sock python3 scripts/bench.py P4 --no-write
#   sudo bash scripts/journal-engines.sh down
#
# Why: ext4 without a journal will not hand out an inode freed in the last minute (six,
# while its inode table is unwritten), and looks at each such inode to find that out, on
# every file it creates. A build that creates thousands of files right after thousands
# were deleted (as `docker builder prune` before every round does) then spends seconds in
# the kernel. Each engine is the same dockerd, on a loop-mounted image file of its own,
# with a bridge of its own, and the registry mirrors of the engine already running.
set -euo pipefail

dir=${RJUP_BENCH_FS_DIR:-/var/tmp/rjup-bench-fs}
size=${RJUP_BENCH_FS_SIZE:-8G}
kinds=(journal nojournal)

die() { echo "journal-engines: $*" >&2; exit 1; }

subnet() { case $1 in journal) echo 172.31.1 ;; nojournal) echo 172.31.2 ;; esac; }
bridge() { case $1 in journal) echo rjupbenchj0 ;; nojournal) echo rjupbenchn0 ;; esac; }

up() {
    [ "$(id -u)" = 0 ] || die "run it as root: it mounts file systems and starts engines"
    for tool in dockerd mkfs.ext4 mount ip iptables; do
        command -v "$tool" >/dev/null || die "$tool is not installed"
    done
    for kind in "${kinds[@]}"; do
        [ -S "/run/rjup-bench-$kind.sock" ] && die "an engine is already on /run/rjup-bench-$kind.sock: run '$0 down' first"
    done
    # A start that fails half-way leaves no mount, bridge, rule or engine behind.
    trap 'echo "journal-engines: undoing a start that failed" >&2; down >/dev/null' EXIT
    local mirrors
    mirrors=$(docker info --format '{{range .RegistryConfig.Mirrors}}{{.}} {{end}}' 2>/dev/null || true)
    mkdir -p "$dir"
    iptables -t nat -C POSTROUTING -s 172.31.0.0/16 ! -o rjupbench+ -j MASQUERADE 2>/dev/null \
        || iptables -t nat -A POSTROUTING -s 172.31.0.0/16 ! -o rjupbench+ -j MASQUERADE
    iptables -C FORWARD -i rjupbench+ -j ACCEPT 2>/dev/null || iptables -I FORWARD -i rjupbench+ -j ACCEPT
    iptables -C FORWARD -o rjupbench+ -j ACCEPT 2>/dev/null || iptables -I FORWARD -o rjupbench+ -j ACCEPT
    for kind in "${kinds[@]}"; do
        local img=$dir/$kind.img mnt=$dir/$kind sock=/run/rjup-bench-$kind.sock br
        br=$(bridge "$kind")
        truncate -s "$size" "$img"
        if [ "$kind" = journal ]; then mkfs.ext4 -q -F "$img"; else mkfs.ext4 -q -F -O ^has_journal "$img"; fi
        mkdir -p "$mnt" && mount -o loop "$img" "$mnt"
        ip link show "$br" >/dev/null 2>&1 || ip link add "$br" type bridge
        ip addr replace "$(subnet "$kind").1/24" dev "$br" && ip link set "$br" up
        local args=(--data-root "$mnt/docker" --exec-root "/run/rjup-bench-$kind" --pidfile "/run/rjup-bench-$kind.pid"
                    -H "unix://$sock" --bridge "$br" --iptables=false)
        for m in $mirrors; do args+=(--registry-mirror "$m"); done
        nohup dockerd "${args[@]}" >"$dir/$kind.log" 2>&1 &
    done
    for kind in "${kinds[@]}"; do
        local sock=/run/rjup-bench-$kind.sock
        for _ in $(seq 60); do
            DOCKER_HOST=unix://$sock docker version >/dev/null 2>&1 && break
            sleep 0.5
        done
        DOCKER_HOST=unix://$sock docker version >/dev/null 2>&1 || die "the $kind engine did not start: see $dir/$kind.log"
        echo "export DOCKER_HOST=unix://$sock  # data root on ext4, $kind"
    done
    trap - EXIT
}

down() {
    for kind in "${kinds[@]}"; do
        local pidfile=/run/rjup-bench-$kind.pid
        if [ -f "$pidfile" ]; then
            kill "$(cat "$pidfile")" 2>/dev/null || true
            for _ in $(seq 60); do [ -f "$pidfile" ] || break; sleep 0.5; done
        fi
        mountpoint -q "$dir/$kind" && umount "$dir/$kind"
        ip link del "$(bridge "$kind")" 2>/dev/null || true
        rm -f "$dir/$kind.img"; rmdir "$dir/$kind" 2>/dev/null || true
    done
    iptables -t nat -D POSTROUTING -s 172.31.0.0/16 ! -o rjupbench+ -j MASQUERADE 2>/dev/null || true
    iptables -D FORWARD -i rjupbench+ -j ACCEPT 2>/dev/null || true
    iptables -D FORWARD -o rjupbench+ -j ACCEPT 2>/dev/null || true
    echo "journal-engines: stopped, unmounted and removed"
}

case ${1:-} in
    up) up ;;
    down) down ;;
    *) die "usage: $0 up|down" ;;
esac
