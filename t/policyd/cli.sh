#!/bin/sh
# Command line and process behaviour: -t, config errors (exit 78, file:line),
# listen from the config and from -l (unix, inet, IPv6), SIGHUP reload (a
# broken file keeps the old config and logs why), SIGTERM, daemon mode,
# dropping privileges to policyd.user.
exec python3 - "$(dirname "$0")" <<'PY'
import os, signal, socket, subprocess, sys, tempfile, time
sys.path.insert(0, sys.argv[1])
import pdlib

from pdlib import check, finish

BASE = '''
local_domains = {"example.com"}
internal_networks = {"192.0.2.0/24"}
policyd { user = "root"  listen = "unix:@DIR@/from-config.sock" }
log { file = false }
statistics { enabled = false }
'''
tmp = tempfile.mkdtemp(prefix="cf-policyd-cli-")
import atexit, shutil
atexit.register(shutil.rmtree, tmp, True)

def write(name, text):
    p = os.path.join(tmp, name)
    with open(p, "w") as f:
        f.write(text.replace("@DIR@", tmp))
    return p

def run(args, timeout=10):
    return subprocess.run([pdlib.BINARY] + args, capture_output=True,
                          text=True, timeout=timeout)

# -t
good = write("good.conf", BASE)
r = run(["-t", "-c", good])
check(r.returncode == 0 and r.stdout.strip() == "configuration OK",
      "-t on a good config: %d %r" % (r.returncode, r.stdout))
bad = write("bad.conf", BASE + "limits { max_recipients = -3 }\nrelay { networks = {\"10.0.0.0/99\"} }\n")
r = run(["-t", "-c", bad])
check(r.returncode == 78, "-t on a broken config exits 78 (got %d)" % r.returncode)
check(bad + ":" in r.stderr and "configuration OK" not in r.stdout,
      "errors name the file: %r" % r.stderr.strip()[:200])
r = run(["-c", bad, "-f"])
check(r.returncode == 78, "start with a broken config exits 78 (got %d)" % r.returncode)
r = run(["-t", "-c", os.path.join(tmp, "missing.conf")])
check(r.returncode == 78, "missing config exits 78 (got %d)" % r.returncode)
r = run(["-x"])
check(r.returncode == 64, "unknown option exits 64 (got %d)" % r.returncode)
r = run(["-f", "-c", write("nouser.conf", BASE.replace('user = "root"', 'user = "no-such-user-cf"'))])
check(r.returncode == 78 and "no-such-user-cf" in r.stderr,
      "unknown policyd.user exits 78 (got %d)" % r.returncode)

def wait_for(path, proc, secs=5):
    end = time.time() + secs
    while time.time() < end:
        if os.path.exists(path):
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.02)
    return False

def ask_unix(path, over=None):
    end = time.time() + 5
    while True:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        try:
            s.connect(path)
            break
        except (ConnectionRefusedError, FileNotFoundError):
            s.close()
            if time.time() > end:
                raise
            time.sleep(0.02)
    c = pdlib.Client(s)
    a = c.ask(over)
    c.close()
    return a

# listen from the config; SIGTERM is prompt and removes the socket
sock = os.path.join(tmp, "from-config.sock")
p = subprocess.Popen([pdlib.BINARY, "-f", "-c", good], stderr=subprocess.PIPE)
check(wait_for(sock, p), "listens on policyd.listen")
check(ask_unix(sock) == "OK", "answers on policyd.listen")
t0 = time.time()
p.send_signal(signal.SIGTERM)
rc = p.wait(5)
check(rc == 0 and time.time() - t0 < 1.5, "SIGTERM: exit %d after %.2f s" % (rc, time.time() - t0))
check(not os.path.exists(sock), "socket removed at exit")

# -l inet:127.0.0.1:PORT and inet:[::1]:PORT
def free_port(family=socket.AF_INET, host="127.0.0.1"):
    s = socket.socket(family)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port

def ask_inet(family, host, port, over=None):
    end = time.time() + 5
    while True:
        s = socket.socket(family)
        s.settimeout(5)
        try:
            s.connect((host, port))
            break
        except ConnectionRefusedError:
            s.close()
            if time.time() > end:
                raise
            time.sleep(0.05)
    c = pdlib.Client(s)
    a = c.ask(over)
    c.close()
    return a

port = free_port()
p = subprocess.Popen([pdlib.BINARY, "-f", "-c", good, "-l", "inet:127.0.0.1:%d" % port],
                     stderr=subprocess.DEVNULL)
check(ask_inet(socket.AF_INET, "127.0.0.1", port,
               {"recipient": "x@partner.com"}) == "554 5.7.1 Relay access denied",
      "-l inet:127.0.0.1:PORT")
p.terminate(); p.wait(5)
try:
    port6 = free_port(socket.AF_INET6, "::1")
except OSError:
    port6 = None
if port6:
    p = subprocess.Popen([pdlib.BINARY, "-f", "-c", good, "-l", "inet:[::1]:%d" % port6],
                         stderr=subprocess.DEVNULL)
    check(ask_inet(socket.AF_INET6, "::1", port6) == "OK", "-l inet:[::1]:PORT")
    p.terminate(); p.wait(5)
else:
    print("skip IPv6 listen: no ::1 here")
r = run(["-f", "-c", good, "-l", "tcp:nonsense"])
check(r.returncode != 0, "bad -l refused (exit %d)" % r.returncode)

# SIGHUP: new config applies; a broken one keeps the old and logs why
conf = write("reload.conf", BASE + "limits { max_recipients = 1 }\n")
d_sock = os.path.join(tmp, "reload.sock")
logf = open(os.path.join(tmp, "reload.log"), "wb")
p = subprocess.Popen([pdlib.BINARY, "-f", "-c", conf, "-l", "unix:" + d_sock],
                     stderr=logf)
wait_for(d_sock, p)
check(ask_unix(d_sock, {"instance": "h1"}) == "OK"
      and ask_unix(d_sock, {"instance": "h1"}) == "452 4.5.3 Too many recipients",
      "before reload: limit 1")
write("reload.conf", BASE + "limits { max_recipients = 5 }\nrelay { allow_all = true }\n")
p.send_signal(signal.SIGHUP)
ok = False
end = time.time() + 5
while time.time() < end and not ok:
    ok = ask_unix(d_sock, {"recipient": "x@partner.com", "instance": "h2"}) == "OK"
    time.sleep(0.05)
check(ok, "after SIGHUP: relay.allow_all applies")
check(ask_unix(d_sock, {"instance": "h1"}) == "OK", "after SIGHUP: limit 5")

# The network lists are compiled at load: a reload must recompile them.
def reload(text):
    before = open(os.path.join(tmp, "reload.log"), errors="replace").read().count("reloaded")
    write("reload.conf", text)
    p.send_signal(signal.SIGHUP)
    end = time.time() + 5
    while time.time() < end:
        logf.flush()
        if open(os.path.join(tmp, "reload.log"), errors="replace").read().count("reloaded") > before:
            return True
        time.sleep(0.02)
    return False
relay_rq = {"recipient": "x@partner.com", "client_address": "203.0.113.5"}
big_rq = {"size": "5000", "client_address": "203.0.113.5"}
check(reload(BASE + 'relay { networks = {"10.0.0.0/8", "203.0.113.0/24"} }\n'
             + "limits { inbound_size = 1K }\n")
      and ask_unix(d_sock, relay_rq) == "OK"
      and ask_unix(d_sock, big_rq) == "552 5.3.4 Message size exceeds fixed limit",
      "reload: relay.networks 203.0.113.0/24 relays, inbound size limit applies")
check(reload(BASE.replace("192.0.2.0/24", "203.0.113.0/25")
             + 'relay { networks = {"198.51.100.0/24"} }\n'
             + "limits { inbound_size = 1K }\n")
      and ask_unix(d_sock, relay_rq) == "554 5.7.1 Relay access denied"
      and ask_unix(d_sock, big_rq) == "OK",
      "reload: new relay.networks refuses, new internal_networks makes the client outbound")
check(reload(BASE + "limits { max_recipients = 5 }\nrelay { allow_all = true }\n"),
      "reload back to allow_all")
write("reload.conf", BASE + "relay { allow_all = maybe }\nlimits { max_recipients = 0 }\n")
p.send_signal(signal.SIGHUP)
time.sleep(0.5)
check(p.poll() is None, "broken reload: still running")
check(ask_unix(d_sock, {"recipient": "x@partner.com", "instance": "h3"}) == "OK",
      "broken reload: old config still in force")
logf.flush()
log = open(os.path.join(tmp, "reload.log"), errors="replace").read()
check("reload.conf:" in log and "keeping the old configuration" in log,
      "broken reload logged with file:line")
p.send_signal(signal.SIGTERM)
check(p.wait(5) == 0, "exit 0 after reloads")

# daemon mode: the command returns, the daemon keeps serving
dconf = write("daemon.conf", BASE.replace("from-config.sock", "daemon.sock"))
dsock = os.path.join(tmp, "daemon.sock")
r = run(["-c", dconf])
check(r.returncode == 0, "daemon mode: command returns 0")
check(wait_for(dsock, None) and ask_unix(dsock) == "OK", "daemon mode: serving")
def find_pid(marker):
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open("/proc/%s/cmdline" % pid, "rb").read().split(b"\0")
        except OSError:
            continue
        if marker.encode() in cmd:
            return int(pid)
    return None
pid = find_pid(dconf)
check(pid is not None, "daemon process found")
if pid:
    os.kill(pid, signal.SIGTERM)
    end = time.time() + 3
    while time.time() < end and os.path.exists("/proc/%d" % pid):
        time.sleep(0.05)
    check(not os.path.exists("/proc/%d" % pid), "daemon stopped by SIGTERM")

# privileges: started as root, runs as policyd.user after binding
if os.geteuid() == 0:
    import pwd
    nobody = pwd.getpwnam("nobody")
    uconf = write("user.conf", BASE.replace('user = "root"', 'user = "nobody"'))
    usock = os.path.join(tmp, "user.sock")
    p = subprocess.Popen([pdlib.BINARY, "-f", "-c", uconf, "-l", "unix:" + usock],
                         stderr=subprocess.DEVNULL)
    wait_for(usock, p)
    check(ask_unix(usock) == "OK", "serving after dropping privileges")
    uid = None
    for line in open("/proc/%d/status" % p.pid):
        if line.startswith("Uid:"):
            uid = [int(x) for x in line.split()[1:]]
    check(uid == [nobody.pw_uid] * 4, "runs as nobody: Uid %s" % uid)
    p.terminate(); p.wait(5)
else:
    print("skip privilege test: not root")

# A low descriptor limit: extra clients are closed at once, no busy loop.
import resource
def low_fd_limit():
    resource.setrlimit(resource.RLIMIT_NOFILE, (100, 100))
lsock = os.path.join(tmp, "lowfd.sock")
p = subprocess.Popen([pdlib.BINARY, "-f", "-c", good, "-l", "unix:" + lsock],
                     stderr=subprocess.PIPE, preexec_fn=low_fd_limit)
wait_for(lsock, p)
first = socket.socket(socket.AF_UNIX)
for i in range(50):
    try:
        first.connect(lsock)
        break
    except ConnectionRefusedError:
        time.sleep(0.02)
keep = pdlib.Client(first)
crowd = []
for i in range(200):
    s = socket.socket(socket.AF_UNIX)
    s.connect(lsock)
    crowd.append(s)
time.sleep(0.5)
check(keep.ask() == "OK", "fd limit 100, 200 more clients: first client still answered")
t0 = open("/proc/%d/stat" % p.pid).read().split()
time.sleep(1)
t1 = open("/proc/%d/stat" % p.pid).read().split()
ticks = int(t1[13]) + int(t1[14]) - int(t0[13]) - int(t0[14])
check(ticks < 20, "no busy loop at the descriptor limit (%d ticks in 1 s)" % ticks)
for s in crowd:
    s.close()
p.terminate()
err = p.communicate(timeout=5)[1].decode(errors="replace")
check("refusing more" in err, "refusal logged")

finish()
PY
