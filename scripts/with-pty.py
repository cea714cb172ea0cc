"""Runs a command on a pseudo-terminal, typing $SFT_PASSWORD at each prompt that ends in ':'.

The age CLI reads passphrases only from a terminal; the interop tests and the benchmark drive it with this.
usage: SFT_PASSWORD=... with-pty.py COMMAND [ARG...]    (exits with the command's exit code)
"""
import os, pty, sys

pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
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
if code != 0:
    sys.stderr.write(output.decode(errors="replace"))
sys.exit(code)
