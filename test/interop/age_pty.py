"""Runs Debian's `age` with a passphrase typed on a pseudo-terminal (age reads passphrases only from a TTY).

usage: SFT_PASSWORD=... age_pty.py encrypt|decrypt INPUT OUTPUT
"""
import os, pty, sys

mode, src, dst = sys.argv[1:4]
args = ["age", "-p", "-o", dst, src] if mode == "encrypt" else ["age", "-d", "-o", dst, src]
pid, fd = pty.fork()
if pid == 0:
    os.execvp("age", args)
password = os.environ["SFT_PASSWORD"].encode() + b"\n"
output = b""
while True:
    try:
        data = os.read(fd, 1024)
    except OSError:
        break
    if not data:
        break
    output += data
    if data.rstrip().endswith(b":"):
        os.write(fd, password)
_, status = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(status)
if code != 0:
    sys.stderr.write(output.decode(errors="replace"))
sys.exit(code)
