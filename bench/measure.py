"""Runs one command and prints {"seconds": wall time, "maxRssKiB": peak RSS of the command} as JSON.

usage: [SFT_PASSWORD=... ] measure.py [--pty] -- COMMAND...
With --pty the command runs on a pseudo-terminal and gets SFT_PASSWORD typed at each prompt ending in ':'
(the age CLI reads passphrases only from a terminal).
"""
import json, os, pty, resource, subprocess, sys, time

args = sys.argv[1:]
use_pty = args[0] == "--pty"
command = args[args.index("--") + 1 :]
start = time.monotonic()
if use_pty:
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(command[0], command)
    answer = os.environ.get("SFT_PASSWORD", "").encode() + b"\n"
    output = b""
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        output += data
        if data.rstrip().endswith(b":"):
            os.write(fd, answer)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
else:
    code = subprocess.run(command, stdout=subprocess.DEVNULL).returncode
seconds = time.monotonic() - start
if code != 0:
    sys.stderr.write(f"command failed with exit code {code}: {' '.join(command)}\n")
    sys.exit(code)
print(json.dumps({"seconds": seconds, "maxRssKiB": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
