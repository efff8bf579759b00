#!/usr/bin/env python3
"""Lists the BPF programs of an object that use an atomic instruction other than the plain
add (fetch-and-op, compare-and-swap, exchange: Linux 5.12), which older verifiers refuse
anywhere in a program. Usage: bpf-fetch-atomics.py OBJ [PROGRAM...]: with PROGRAM names,
exits 1 when one of them uses any, printing them; without, prints every program's."""

import re
import subprocess
import sys


def fetch_atomics(obj):
    out = subprocess.run(["llvm-objdump-19", "-d", obj], check=True, capture_output=True,
                         text=True).stdout
    found, prog = {}, None
    for line in out.splitlines():
        m = re.match(r"^[0-9a-f]+ <(\w+)>:$", line)
        if m:
            prog = m.group(1)
            found.setdefault(prog, [])
            continue
        m = re.match(r"^\s*\d+:\s+((?:[0-9a-f]{2}\s){8})", line)
        if not m or prog is None:
            continue
        b = [int(x, 16) for x in m.group(1).split()]
        # BPF_STX | BPF_ATOMIC (0xc0), any size; imm 0 is the plain add.
        if b[0] & 0x07 == 0x03 and b[0] & 0xe0 == 0xc0 and any(b[4:8]):
            found[prog].append(line.strip())
    return found


def main():
    obj, wanted = sys.argv[1], sys.argv[2:]
    found = fetch_atomics(obj)
    bad = 0
    for prog in wanted or sorted(found):
        if prog not in found:
            print("%s: no program %s" % (obj, prog))
            bad += 1
        elif found[prog]:
            print("%s: %s uses %d fetching atomic(s), e.g. %s" % (
                obj, prog, len(found[prog]), found[prog][0]))
            bad += 1
    return 1 if wanted and bad else 0


if __name__ == "__main__":
    sys.exit(main())
