"""Runs one command and prints {"seconds": wall time, "maxRssKiB": peak RSS of the command, "userSeconds",
"systemSeconds": CPU time of the command and its children} as JSON.

usage: [SFT_PASSWORD=... ] measure.py [--pty] -- COMMAND...
With --pty the command runs under scripts/with-pty.py, which types SFT_PASSWORD at its prompts (the age CLI reads
passphrases only from a terminal); the peak RSS is still the command's (the largest of the processes waited for).
"""
import json, os, resource, subprocess, sys, time

args = sys.argv[1:]
command = args[args.index("--") + 1 :]
if args[0] == "--pty":
    command = [sys.executable, os.path.join(os.path.dirname(__file__), "..", "scripts", "with-pty.py"), *command]
start = time.monotonic()
code = subprocess.run(command, stdout=subprocess.DEVNULL).returncode
seconds = time.monotonic() - start
if code != 0:
    sys.stderr.write(f"command failed with exit code {code}: {' '.join(command)}\n")
    sys.exit(code)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"seconds": seconds, "maxRssKiB": usage.ru_maxrss, "userSeconds": usage.ru_utime, "systemSeconds": usage.ru_stime}))
