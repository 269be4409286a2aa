#!/usr/bin/env bash
# Make Icarus Verilog available: keep the one on PATH, else install Debian's with apt-get
# when we can (root, or passwordless sudo), else say exactly what to install.
set -euo pipefail
if command -v iverilog >/dev/null 2>&1 && command -v vvp >/dev/null 2>&1; then
    exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; else sudo=none; fi
    if [ "$sudo" != none ]; then
        echo "setup: iverilog not found; installing Debian's iverilog with apt-get" >&2
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq iverilog >/dev/null
        command -v iverilog >/dev/null 2>&1 && exit 0
    fi
fi
cat >&2 <<'MSG'
setup: Icarus Verilog (iverilog, vvp) is required and could not be installed automatically.
       Install it with your package manager, e.g. `sudo apt-get install iverilog` (Debian/Ubuntu),
       `brew install icarus-verilog` (macOS), then run `make setup` again.
MSG
exit 1
