"""policyd-requests - the benchmark's request mix, written to stdout.

Messages as Postfix sends them: one RCPT request per recipient, then
END-OF-MESSAGE, all with the message's instance.  The mix exercises every
check of the benchmark config (t/bench/policyd.sh): inbound mail to local
recipients under a TLS rule, relaying by CIDR and by SASL, an occasional
relay attempt (refused) and an occasional message over the recipient limit.
"""
import sys

MESSAGES = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
out = []

def req(instance, state="RCPT", **kw):
    a = {
        "request": "smtpd_access_policy", "protocol_state": state,
        "protocol_name": "ESMTP", "client_address": "203.0.113.5",
        "client_name": "mx.outside.org", "reverse_client_name": "mx.outside.org",
        "client_port": "40000", "server_address": "127.0.0.1", "server_port": "25",
        "helo_name": "mx.outside.org", "sender": "someone@outside.org",
        "recipient": "bob@example.com", "recipient_count": "0", "queue_id": "",
        "instance": instance, "size": "12345", "etrn_domain": "", "stress": "",
        "sasl_method": "", "sasl_username": "", "sasl_sender": "",
        "ccert_subject": "", "ccert_issuer": "", "ccert_fingerprint": "",
        "ccert_pubkey_fingerprint": "", "encryption_protocol": "",
        "encryption_cipher": "", "encryption_keysize": "0", "policy_context": "",
    }
    a.update(kw)
    out.append("".join("%s=%s\n" % kv for kv in a.items()) + "\n")

for m in range(MESSAGES):
    inst = "bench.%d.0" % m
    kind = m % 100
    if kind < 40:       # inbound, TLS rule sender, TLS 1.3
        for r in range(3):
            req(inst, sender="x%d@secure.com" % m, recipient="u%d@example.com" % r,
                encryption_protocol="TLSv1.3", encryption_cipher="TLS_AES_256_GCM_SHA384",
                encryption_keysize="256")
    elif kind < 70:     # inbound, no TLS rule
        for r in range(2):
            req(inst, sender="y%d@plain.org" % m, recipient="U%d+tag@Example.COM" % r)
    elif kind < 85:     # outbound relay by CIDR
        for r in range(2):
            req(inst, client_address="198.51.100.%d" % (m % 250 + 1), client_name="unknown",
                sender="alice@example.com", recipient="d%d@partner.com" % r)
    elif kind < 98:     # outbound relay by SASL
        req(inst, client_address="198.18.0.7", sasl_method="PLAIN", sasl_username="alice",
            sender="alice@example.com", recipient="dave@partner.com")
    elif kind == 98:    # relay attempt: refused
        req(inst, recipient="victim@elsewhere.net")
    else:               # 12 recipients, limit 10: two 452
        for r in range(12):
            req(inst, recipient="r%d@example.com" % r)
    req(inst, state="END-OF-MESSAGE", recipient="", size="23456")
sys.stdout.write("".join(out))
