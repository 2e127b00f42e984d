#!/usr/bin/env python3
"""A tiny expect-like driver for end-to-end tests of interactive commands.

    python3 test/helpers/pty.py --script steps.json [--timeout S] [--total-timeout S]
                                [--stdout FILE] -- CMD ARGS...

Runs CMD on a new pseudo-terminal (stdin, stdout and stderr are the pty, unless --stdout sends
the child's stdout to FILE instead, as in `$(kpm get NAME)` typed at a terminal) and plays the
steps, a JSON list of objects:

    {"expect": "regex"}                 wait until the regex matches the output (ANSI escapes removed)
    {"send": "text\\r"}                 write text to the terminal
    {"expect": "regex", "send": "x\\r"} both, in that order
    {"sleep": 0.2}                      pause (seconds)

Each expect searches the output after the previous match and fails after --timeout seconds
(a step may carry its own "timeout"). After the last step the driver reads until the child exits.

Prints the full transcript (raw, as the terminal received it) on stdout and exits with the child's
exit code (128 + signal if it was killed). On a failed expect it prints the transcript, a message
on stderr naming the step, kills the child and exits 124 (timeout) or 125 (child exited first).
"""
import os
import sys

# This file is named pty.py, and Python puts the script's own folder first on sys.path: drop it,
# or `import pty` below would import this file instead of the standard library module.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import errno  # noqa: E402
import fcntl  # noqa: E402
import json  # noqa: E402
import pty  # noqa: E402
import re  # noqa: E402
import select  # noqa: E402
import signal  # noqa: E402
import struct  # noqa: E402
import termios  # noqa: E402
import time  # noqa: E402

ANSI = re.compile(r"\x1b\[[0-9;?<=>]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78DEHMc]")


def strip_ansi(text):
    return ANSI.sub("", text)


class Child:
    def __init__(self, cmd, stdout_file):
        pid, fd = pty.fork()
        if pid == 0:  # the child: the pty is already stdin/stdout/stderr and the controlling tty
            try:
                if stdout_file:
                    out = os.open(stdout_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                    os.dup2(out, 1)
                    os.close(out)
                os.execvp(cmd[0], cmd)
            except Exception as e:  # noqa: BLE001
                os.write(2, ("pty.py: cannot run %s: %s\n" % (cmd[0], e)).encode())
            os._exit(127)
        self.pid = pid
        self.fd = fd
        self.raw = bytearray()
        self.eof = False
        self.status = None
        try:
            fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
        except OSError:
            pass

    def text(self):
        return strip_ansi(self.raw.decode("utf-8", "replace"))

    def reap(self, block=False):
        if self.status is None:
            try:
                pid, status = os.waitpid(self.pid, 0 if block else os.WNOHANG)
            except ChildProcessError:
                return True
            if pid == self.pid:
                self.status = status
        return self.status is not None

    def pump(self, timeout):
        """Reads what is available within `timeout` seconds; sets eof when the pty closes."""
        if self.eof:
            time.sleep(min(timeout, 0.05))
            return
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return
        try:
            data = os.read(self.fd, 65536)
        except OSError as e:
            if e.errno in (errno.EIO, errno.EBADF):
                self.eof = True
                return
            raise
        if not data:
            self.eof = True
        else:
            self.raw.extend(data)

    def send(self, text):
        data = text.encode("utf-8")
        while data:
            n = os.write(self.fd, data)
            data = data[n:]

    def kill(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.reap(block=True)

    def exit_code(self):
        st = self.status
        if st is None:
            return 1
        if os.WIFEXITED(st):
            return os.WEXITSTATUS(st)
        if os.WIFSIGNALED(st):
            return 128 + os.WTERMSIG(st)
        return 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--script", required=True, help="JSON file with the steps ('-' for stdin)")
    ap.add_argument("--timeout", type=float, default=15.0, help="seconds per expect step")
    ap.add_argument("--total-timeout", type=float, default=60.0, help="seconds for the whole run")
    ap.add_argument("--stdout", dest="stdout_file", help="send the child's stdout to this file instead of the pty")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        ap.error("no command given after --")
    with (sys.stdin if a.script == "-" else open(a.script, encoding="utf-8")) as f:
        steps = json.load(f)

    deadline = time.monotonic() + a.total_timeout
    child = Child(cmd, a.stdout_file)
    pos = 0  # offset in the ANSI-stripped text after the last match

    def fail(code, message):
        child.kill()
        while not child.eof:
            child.pump(0.05)
        sys.stdout.write(child.raw.decode("utf-8", "replace"))
        sys.stdout.flush()
        sys.stderr.write("pty.py: %s\n" % message)
        sys.exit(code)

    for i, step in enumerate(steps):
        if "sleep" in step:
            time.sleep(float(step["sleep"]))
        if "expect" in step:
            rx = re.compile(step["expect"])
            step_deadline = min(deadline, time.monotonic() + float(step.get("timeout", a.timeout)))
            while True:
                m = rx.search(child.text(), pos)
                if m:
                    pos = m.end()
                    break
                if child.eof:
                    child.reap(block=True)
                    fail(125, "step %d: the child exited (code %d) before /%s/ appeared" % (i, child.exit_code(), step["expect"]))
                if time.monotonic() > step_deadline:
                    fail(124, "step %d: timed out waiting for /%s/" % (i, step["expect"]))
                child.pump(0.05)
        if "send" in step:
            child.send(step["send"])

    # Read until the child is gone. EOF on the pty can come late (or never) when a grandchild
    # keeps it open, so stop as soon as the child has exited and the pty is drained.
    while True:
        if child.eof:
            child.reap(block=True)
            break
        if child.reap():
            quiet_until = time.monotonic() + 0.2
            while not child.eof and time.monotonic() < quiet_until:
                before = len(child.raw)
                child.pump(0.05)
                if len(child.raw) != before:
                    quiet_until = time.monotonic() + 0.2
            break
        if time.monotonic() > deadline:
            fail(124, "timed out waiting for the child to exit")
        child.pump(0.05)

    sys.stdout.write(child.raw.decode("utf-8", "replace"))
    sys.stdout.flush()
    sys.exit(child.exit_code())


if __name__ == "__main__":
    main()
