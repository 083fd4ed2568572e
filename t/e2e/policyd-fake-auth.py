"""policyd-fake-auth - a tiny Dovecot auth server for Postfix SASL in tests.

    python3 policyd-fake-auth.py SOCKET USER PASSWORD

Speaks just enough of the Dovecot authentication protocol (version 1.1)
for Postfix's smtpd_sasl_type = dovecot: mechanism PLAIN, with or without
an initial response, one user.  Good enough to prove that
cryptofilter-policyd lets SASL-authenticated clients relay; not a model of
anything else.
"""
import base64
import os
import socket
import sys
import threading

path, user, password = sys.argv[1], sys.argv[2], sys.argv[3]


def check(resp_b64):
    try:
        parts = base64.b64decode(resp_b64).split(b"\0")
    except Exception:
        return None
    if len(parts) != 3:
        return None
    authz, authc, pw = (p.decode(errors="replace") for p in parts)
    if authc == user and pw == password and authz in ("", user):
        return authc
    return None


def serve(conn):
    f = conn.makefile("rwb", buffering=0)
    f.write(b"VERSION\t1\t1\nMECH\tPLAIN\tplaintext\nSPID\t%d\nCUID\t1\n"
            b"COOKIE\t0123456789abcdef0123456789abcdef\nDONE\n" % os.getpid())
    pending = {}
    for raw in f:
        words = raw.decode(errors="replace").rstrip("\n").split("\t")
        if words[0] == "AUTH" and len(words) >= 3:
            rid = words[1]
            resp = [w[5:] for w in words[3:] if w.startswith("resp=")]
            if words[2].upper() != "PLAIN":
                f.write(b"FAIL\t%s\treason=mechanism\n" % rid.encode())
            elif resp:
                reply(f, rid, check(resp[0]))
            else:
                pending[rid] = True
                f.write(b"CONT\t%s\t\n" % rid.encode())
        elif words[0] == "CONT" and len(words) >= 3 and words[1] in pending:
            del pending[words[1]]
            reply(f, words[1], check(words[2]))
    conn.close()


def reply(f, rid, who):
    if who:
        f.write(b"OK\t%s\tuser=%s\n" % (rid.encode(), who.encode()))
    else:
        f.write(b"FAIL\t%s\treason=bad password\n" % rid.encode())


if os.path.exists(path):
    os.unlink(path)
srv = socket.socket(socket.AF_UNIX)
srv.bind(path)
os.chmod(path, 0o666)   # smtpd runs as user postfix
srv.listen(16)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
