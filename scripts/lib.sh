# shellcheck shell=bash
# scripts/lib.sh — shared helpers for the project's scripts. Source it, don't run it:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Provides: repo_root, log, die, need_cmd, now_ms, elapsed_since, free_port,
# free_ports, port_is_free, tcp_open, wait_for_tcp.
# Everything it logs goes to stderr, so a script's stdout stays for its result
# (a URL, a path) and can be captured with $(...).

if [[ -n "${_KYC_LIB_SH_LOADED:-}" ]]; then
    return 0
fi
_KYC_LIB_SH_LOADED=1

# Name shown in front of every log line: the script that sourced us.
_KYC_LOG_NAME="$(basename -- "${0:-script}")"

# repo_root: print the absolute path of the repository root (the parent of scripts/).
repo_root() {
    (cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
}

# log MESSAGE...: one line on stderr, prefixed with the script's name.
log() {
    printf '[%s] %s\n' "$_KYC_LOG_NAME" "$*" >&2
}

# die MESSAGE...: log an error and exit 1.
die() {
    printf '[%s] ERROR: %s\n' "$_KYC_LOG_NAME" "$*" >&2
    exit 1
}

# need_cmd NAME [HINT]: die unless NAME is on PATH.
need_cmd() {
    command -v "$1" >/dev/null 2>&1 || die "required command '$1' not found${2:+ ($2)}"
}

# now_ms: milliseconds since the epoch (for timing steps).
now_ms() {
    local t="${EPOCHREALTIME/./}" # microseconds
    echo $((t / 1000))
}

# elapsed_since MS: print seconds since MS (from now_ms) with one decimal, e.g. "1.3s".
elapsed_since() {
    local d=$(($(now_ms) - $1))
    printf '%d.%ds\n' $((d / 1000)) $((d % 1000 / 100))
}

# free_port: print a TCP port on 127.0.0.1 that the kernel reports free right now.
# (Bind to port 0 and read back what the kernel chose. Another process could
# take it before we use it; callers that start servers should check they came up.)
free_port() {
    python3 - <<'PY'
import socket
with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
PY
}

# free_ports N: print N distinct free TCP ports on 127.0.0.1, space-separated.
# (All N are held open at once while choosing, so they differ from each other.)
free_ports() {
    python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
}

# port_is_free PORT: succeed if PORT can be bound on 127.0.0.1 right now.
port_is_free() {
    python3 - "$1" <<'PY'
import socket, sys
with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    try:
        s.bind(("127.0.0.1", int(sys.argv[1])))
    except OSError:
        sys.exit(1)
PY
}

# tcp_open HOST PORT: succeed if a TCP connection to HOST:PORT is accepted now.
tcp_open() {
    # bash's /dev/tcp; the subshell closes the socket again; `timeout` bounds a hang.
    # shellcheck disable=SC2016 # $1/$2 expand in the inner bash, on purpose
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# wait_for_tcp HOST PORT TIMEOUT_SECONDS: poll until HOST:PORT accepts a TCP
# connection; fail (return 1, with a log line) once TIMEOUT_SECONDS have passed.
wait_for_tcp() {
    local host="$1" port="$2" timeout="$3"
    local deadline=$((SECONDS + timeout))
    until tcp_open "$host" "$port"; do
        if ((SECONDS >= deadline)); then
            log "$host:$port did not accept connections within ${timeout}s"
            return 1
        fi
        sleep 0.5
    done
}
