"""pdlib - run cryptofilter-policyd in a test and talk the policy protocol.

Used by the t/policyd/*.sh scripts (python3 -m / import with PYTHONPATH).
The daemon runs in the foreground on a UNIX socket in a temporary
directory, so parallel test runs never fight over ports.
"""
import atexit
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SRCDIR = os.environ.get("CF_SRCDIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ.get("POLICYD") or os.path.join(
    SRCDIR, "build", "cryptofilter-policyd")

# A request as Postfix 3.7 sends it at RCPT (POSTFIX-TESTING.md).
BASE_REQUEST = [
    ("request", "smtpd_access_policy"), ("protocol_state", "RCPT"),
    ("protocol_name", "ESMTP"), ("client_address", "203.0.113.5"),
    ("client_name", "unknown"), ("reverse_client_name", "unknown"),
    ("client_port", "40000"), ("server_address", "127.0.0.1"),
    ("server_port", "25"), ("helo_name", "client.example.net"),
    ("sender", "someone@outside.org"), ("recipient", "bob@example.com"),
    ("recipient_count", "0"), ("queue_id", ""), ("instance", "a1.b2.c3.0"),
    ("size", "0"), ("etrn_domain", ""), ("stress", ""), ("sasl_method", ""),
    ("sasl_username", ""), ("sasl_sender", ""), ("ccert_subject", ""),
    ("ccert_issuer", ""), ("ccert_fingerprint", ""),
    ("ccert_pubkey_fingerprint", ""), ("encryption_protocol", ""),
    ("encryption_cipher", ""), ("encryption_keysize", "0"),
    ("policy_context", ""),
]


failures = 0


def check(cond, what):
    """One check of a test script: print ok or FAIL, count failures."""
    global failures
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures += 1


def finish(log_tail=None):
    """End a test script: the count, LOG_TAIL on failure, the exit status."""
    print("%d failures" % failures)
    if failures and log_tail:
        print(log_tail)
    sys.exit(1 if failures else 0)


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def encode(overrides=None):
    """The base request with OVERRIDES (dict or list of pairs) applied."""
    over = dict(overrides or {})
    lines = []
    for k, v in BASE_REQUEST:
        if k in over:
            v = over.pop(k)
        if v is not None:
            lines.append("%s=%s\n" % (k, v))
    for k, v in over.items():
        if v is not None:
            lines.append("%s=%s\n" % (k, v))
    return ("".join(lines) + "\n").encode()


class Daemon:
    """cryptofilter-policyd -f with CONFIG_TEXT; @DIR@ in it = temp dir."""

    def __init__(self, config_text, extra_args=(), tmpdir=None):
        self.dir = tmpdir or tempfile.mkdtemp(prefix="cf-policyd-")
        if tmpdir is None and not os.environ.get("KEEP_TMP"):
            atexit.register(shutil.rmtree, self.dir, True)
        atexit.register(self.kill)
        self.sock = os.path.join(self.dir, "policy.sock")
        self.conf = os.path.join(self.dir, "cryptofilter.conf")
        self.stats = os.path.join(self.dir, "stats")
        self.logdir = os.path.join(self.dir, "log")
        os.makedirs(self.stats, exist_ok=True)
        os.makedirs(self.logdir, exist_ok=True)
        self.write_config(config_text)
        self.proc = None
        self.stderr = open(os.path.join(self.dir, "stderr.log"), "wb")
        self.proc = subprocess.Popen(
            [BINARY, "-f", "-c", self.conf, "-l", "unix:" + self.sock]
            + list(extra_args), stdout=self.stderr, stderr=self.stderr)
        deadline = time.time() + 10
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None:
                fail("daemon exited %d: %s" % (self.proc.returncode, self.log()))
            if time.time() > deadline:
                fail("daemon socket did not appear")
            time.sleep(0.02)

    def write_config(self, text):
        text = text.replace("@DIR@", self.dir)
        with open(self.conf + ".tmp", "w") as f:
            f.write(text)
        os.rename(self.conf + ".tmp", self.conf)

    def log(self):
        self.stderr.flush()
        with open(os.path.join(self.dir, "stderr.log"), "rb") as f:
            return f.read().decode(errors="replace")

    def rss_kb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return -1

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                fail("daemon ignored SIGTERM for 5 s")
        return self.proc.returncode

    def connect(self):
        end = time.time() + 5
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5)
            try:
                s.connect(self.sock)
                return Client(s)
            except ConnectionRefusedError:
                # bound but not yet listening, just after start
                s.close()
                if time.time() > end:
                    raise
                time.sleep(0.02)


class Client:
    def __init__(self, s):
        self.s = s
        self.buf = b""

    def send_raw(self, data):
        self.s.sendall(data)

    def read_response(self):
        while b"\n\n" not in self.buf:
            data = self.s.recv(4096)
            if not data:
                raise EOFError("connection closed, got %r" % self.buf)
            self.buf += data
        resp, self.buf = self.buf.split(b"\n\n", 1)
        return resp.decode()

    def ask(self, overrides=None):
        """Send one request; return the action value."""
        self.send_raw(encode(overrides))
        resp = self.read_response()
        if not resp.startswith("action="):
            fail("bad response %r" % resp)
        return resp[len("action="):]

    def closed_by_peer(self, timeout=5.0):
        """True when the daemon closes the connection within TIMEOUT."""
        self.s.settimeout(timeout)
        try:
            while True:
                data = self.s.recv(65536)
                if not data:
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.s.close()


def parse_table(path):
    """Rows 'EXPECTED ACTION :: k=v k=v ...' (shlex quoting); '#' comments."""
    rows = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            expect, _, attrs = line.partition("::")
            over = {}
            for word in shlex.split(attrs):
                k, _, v = word.partition("=")
                over[k] = v
            rows.append((n, expect.strip(), over))
    return rows
