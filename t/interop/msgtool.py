#!/usr/bin/env python3
"""msgtool - small MIME helpers for the interop tests (not a test itself).

  msgtool.py hdr FILE NAME            values of top-level header NAME, unfolded,
                                      one per line (exit 1 when absent)
  msgtool.py ctype FILE               top-level Content-Type type/subtype
  msgtool.py text FILE                the decoded text of the message or of
                                      a MIME entity: the first text/* leaf
                                      (walking multiparts), transfer encoding
                                      undone, line ends as CRLF, trailing
                                      empty lines removed
  msgtool.py canon FILE               FILE with every line end as CRLF and
                                      trailing empty lines removed
  msgtool.py entity FILE              the MIME entity of a message: its
                                      Content-* header fields + body, CRLF
  msgtool.py signed-parts FILE ENT SIG   multipart/signed: the first part's
                                      raw bytes (CRLF) to ENT, the decoded
                                      signature to SIG (DER)
  msgtool.py p7m FILE OUT             base64 body of an application/pkcs7-mime
                                      message or entity, decoded, to OUT
  msgtool.py wrap-p7m DER TYPE [HDR...]   a message: HDR lines ("Name: value"),
                                      then application/pkcs7-mime with
                                      smime-type=TYPE, base64 of DER
  msgtool.py wrap-signed ENT SIG MICALG [HDR...]   a multipart/signed message
                                      from an entity and a DER signature
  msgtool.py prepend FILE [HDR...]    HDR lines, then FILE (an S/MIME entity
                                      made by openssl cms) as a message
All output goes to stdout; message output uses CRLF.
"""
import base64
import email
import email.policy
import re
import sys


def read(path):
    with open(path, "rb") as f:
        return f.read()


def crlf(data):
    return re.sub(rb"\r\n|\r|\n", b"\r\n", data)


def strip_tail(data):
    data = crlf(data)
    while data.endswith(b"\r\n\r\n"):
        data = data[:-2]
    if data and not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data


def split_head(data):
    """(header bytes, body bytes) split at the first empty line."""
    m = re.search(rb"\r?\n\r?\n", data)
    if not m:
        return data, b""
    return data[: m.start()] + b"\n", data[m.end():]


def fields(head):
    """[(name, unfolded value)] from raw header bytes."""
    out = []
    for line in re.split(rb"\r?\n", head):
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and out:
            out[-1][1] += b" " + line.strip()
        elif b":" in line:
            name, value = line.split(b":", 1)
            out.append([name.strip(), value.strip()])
    return [(n.decode("latin-1"), v.decode("latin-1")) for n, v in out]


def parse(data):
    return email.message_from_bytes(data, policy=email.policy.compat32)


def cmd_hdr(path, name):
    head, _ = split_head(read(path))
    vals = [v for n, v in fields(head) if n.lower() == name.lower()]
    for v in vals:
        print(v)
    return 0 if vals else 1


def cmd_ctype(path):
    print(parse(read(path)).get_content_type())
    return 0


def cmd_text(path):
    msg = parse(read(path))
    for part in msg.walk():
        if part.is_multipart():
            continue
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True) or b""
            sys.stdout.buffer.write(strip_tail(payload))
            return 0
    return 1


def cmd_canon(path):
    sys.stdout.buffer.write(strip_tail(read(path)))
    return 0


def cmd_entity(path):
    head, body = split_head(read(path))
    out = b""
    for n, v in fields(head):
        if n.lower().startswith("content-"):
            out += n.encode("latin-1") + b": " + v.encode("latin-1") + b"\r\n"
    sys.stdout.buffer.write(out + b"\r\n" + crlf(body))
    return 0


def boundary_of(data):
    b = parse(data).get_param("boundary")
    if not b:
        raise SystemExit("no boundary")
    return b.encode("latin-1")


def cmd_signed_parts(path, ent_out, sig_out):
    data = read(path)
    bnd = boundary_of(data)
    _, body = split_head(data)
    body = crlf(body)
    delim = b"\r\n--" + bnd
    body = b"\r\n" + body
    pieces = body.split(delim)
    # pieces[0] preamble, then "\r\n<part>" or "--..." (the close)
    parts = []
    for p in pieces[1:]:
        if p.startswith(b"--"):
            break
        # the rest of the delimiter line (transport padding) then CRLF
        nl = p.find(b"\r\n")
        parts.append(p[nl + 2:])
    if len(parts) != 2:
        raise SystemExit("multipart/signed with %d parts" % len(parts))
    with open(ent_out, "wb") as f:
        f.write(parts[0])
    _, sigbody = split_head(parts[1])
    with open(sig_out, "wb") as f:
        f.write(base64.b64decode(re.sub(rb"\s", b"", sigbody)))
    return 0


def cmd_p7m(path, out):
    _, body = split_head(read(path))
    with open(out, "wb") as f:
        f.write(base64.b64decode(re.sub(rb"\s", b"", body)))
    return 0


def b64lines(der):
    s = base64.b64encode(der)
    return b"".join(s[i:i + 76] + b"\r\n" for i in range(0, len(s), 76))


def headers(hdrs):
    return b"".join(h.encode("utf-8") + b"\r\n" for h in hdrs)


def cmd_wrap_p7m(der, smtype, *hdrs):
    out = headers(hdrs) + b"MIME-Version: 1.0\r\n"
    out += ("Content-Type: application/pkcs7-mime; smime-type=%s; name=smime.p7m\r\n"
            % smtype).encode()
    out += b"Content-Transfer-Encoding: base64\r\n"
    out += b"Content-Disposition: attachment; filename=smime.p7m\r\n\r\n"
    out += b64lines(read(der))
    sys.stdout.buffer.write(out)
    return 0


def cmd_wrap_signed(ent, sig, micalg, *hdrs):
    bnd = b"----interop-boundary-7b3c"
    out = headers(hdrs) + b"MIME-Version: 1.0\r\n"
    out += (b'Content-Type: multipart/signed; protocol="application/pkcs7-signature";'
            b' micalg=' + micalg.encode() + b'; boundary="' + bnd + b'"\r\n\r\n')
    out += b"This is an S/MIME signed message\r\n\r\n"
    # The CRLF before a delimiter belongs to the delimiter, not the part.
    out += b"--" + bnd + b"\r\n" + read(ent) + b"\r\n"
    out += b"--" + bnd + b"\r\n"
    out += b"Content-Type: application/pkcs7-signature; name=smime.p7s\r\n"
    out += b"Content-Transfer-Encoding: base64\r\n"
    out += b"Content-Disposition: attachment; filename=smime.p7s\r\n\r\n"
    out += b64lines(read(sig)) + b"\r\n--" + bnd + b"--\r\n"
    sys.stdout.buffer.write(out)
    return 0


def cmd_prepend(path, *hdrs):
    sys.stdout.buffer.write(headers(hdrs) + crlf(read(path)))
    return 0


COMMANDS = {
    "hdr": cmd_hdr, "ctype": cmd_ctype, "text": cmd_text, "canon": cmd_canon,
    "entity": cmd_entity, "signed-parts": cmd_signed_parts, "p7m": cmd_p7m,
    "wrap-p7m": cmd_wrap_p7m, "wrap-signed": cmd_wrap_signed,
    "prepend": cmd_prepend,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.stderr.write(__doc__)
        sys.exit(64)
    try:
        sys.exit(COMMANDS[sys.argv[1]](*sys.argv[2:]))
    except OSError as e:
        sys.stderr.write("msgtool: %s\n" % e)
        sys.exit(2)
