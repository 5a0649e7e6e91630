"""CPU of a command's whole process tree: `python benchmarks/cpu_tree.py OUT -- CMD...` runs CMD as a child
subreaper (Linux), so every descendant that outlives its parent (a forkserver and its children, daemons) is
reparented here and waited for, and RUSAGE_CHILDREN holds them all. `/usr/bin/time` counts only the processes
it waits for: it gave 7.5 CPU s for a test module whose tree took 45.6. Writes "<wall> wall <user> user <sys>
sys rc <code>" to OUT; exits with the command's code."""

from __future__ import annotations

import ctypes
import os
import resource
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


def main(argv: list[str]) -> int:
    out, cmd = argv[0], argv[1:]
    if cmd[:1] == ["--"]:
        cmd = cmd[1:]
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")
    start = time.monotonic()
    proc = subprocess.Popen(cmd)
    code = None
    while True:  # every descendant, the command's own process included
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        if pid == proc.pid:
            code = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out, "w") as fh:
        fh.write(f"{wall:.1f} wall {usage.ru_utime:.2f} user {usage.ru_stime:.2f} sys rc {code}\n")
    return code or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
