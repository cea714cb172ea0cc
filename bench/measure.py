"""Runs one command and, after it exits, prints {"measure": {"seconds": wall time, "maxRssKiB": peak RSS of the
largest process waited for, "userSeconds", "systemSeconds": CPU time of the command and the descendants it waited
for, "minorFaults": their minor page faults, "exitCode"}} as the last line of stdout. The command's own stdout comes first (its JSON events).

usage: [SFT_PASSWORD=... ] measure.py [--pty] [--timeout SECONDS] -- COMMAND...
With --pty the command runs under scripts/with-pty.py, which types SFT_PASSWORD at its prompts (the age CLI reads
passphrases only from a terminal). The command runs in its own process group: after --timeout seconds, or when this
script gets SIGTERM or SIGINT, the whole group is killed ("timedOut": true, exit 124).
"""
import json, os, resource, signal, subprocess, sys, time

args = sys.argv[1:]
options, command = args[: args.index("--")], args[args.index("--") + 1 :]
timeout = float(options[options.index("--timeout") + 1]) if "--timeout" in options else None
if "--pty" in options:
    command = [sys.executable, os.path.join(os.path.dirname(__file__), "..", "scripts", "with-pty.py"), *command]


def result(**fields):
    print(json.dumps({"measure": fields}), flush=True)


start = time.monotonic()
child = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)


def kill_group(*_):
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    child.wait()
    result(timedOut=True, seconds=time.monotonic() - start)
    sys.exit(124)


signal.signal(signal.SIGTERM, kill_group)
signal.signal(signal.SIGINT, kill_group)
try:
    code = child.wait(timeout=timeout)
except subprocess.TimeoutExpired:
    kill_group()
seconds = time.monotonic() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
result(seconds=seconds, maxRssKiB=usage.ru_maxrss, userSeconds=usage.ru_utime, systemSeconds=usage.ru_stime, minorFaults=usage.ru_minflt, exitCode=code)
sys.exit(0 if code == 0 else 1)
