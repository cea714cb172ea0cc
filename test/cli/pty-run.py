"""Runs a command on a pseudo-terminal (80x24) and prints one JSON line: exit code, output, whether it timed out.

usage: pty-run.py TIMEOUT_SECONDS [--interrupt-on TEXT] -- COMMAND [ARG...]
With --interrupt-on, types Ctrl-C once TEXT has appeared in the output. The environment is passed through.
"""
import fcntl, json, os, pty, select, signal, struct, sys, termios, time

args = sys.argv[1:]
timeout = float(args.pop(0))
interrupt_on = None
if args[0] == '--interrupt-on':
    interrupt_on = args[1].encode()
    args = args[2:]
assert args.pop(0) == '--'
pid, fd = pty.fork()
if pid == 0:
    os.execvp(args[0], args)
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', 24, 80, 0, 0))
output = b''
deadline = time.time() + timeout
timed_out = False
interrupted = False
while True:
    if time.time() > deadline:
        timed_out = True
        os.kill(pid, signal.SIGKILL)
        break
    ready, _, _ = select.select([fd], [], [], 0.1)
    if not ready:
        continue
    try:
        data = os.read(fd, 65536)
    except OSError:
        break
    if not data:
        break
    output += data
    if interrupt_on is not None and not interrupted and interrupt_on in output:
        os.write(fd, b'\x03')
        interrupted = True
_, status = os.waitpid(pid, 0)
print(json.dumps({'exit': os.waitstatus_to_exitcode(status), 'output': output.decode(errors='replace'), 'timedOut': timed_out}))
