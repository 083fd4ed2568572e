-- smime.lua - S/MIME through the milter: direction, sign+encrypt, sign
-- only, forged status headers, mark-subject.
local t = dofile(os.getenv("MT_LIB"))

local function header_added(conn, name, pattern, what)
  local v = mt.getheader(conn, name, 0)
  if v == nil or not string.find(v, pattern, 1, true) then
    t.fail(what .. ": " .. name .. " = " .. tostring(v) .. ", expected " .. pattern)
  end
end

local function expect_encrypted(conn, what)
  t.check(mt.eom_check(conn, MT_BODYCHANGE), what .. ": body not replaced")
  t.check(mt.eom_check(conn, MT_HDRDELETE, "Content-Type"), what .. ": old Content-Type kept")
  header_added(conn, "Content-Type", "application/pkcs7-mime", what)
  header_added(conn, "Content-Type", "enveloped-data", what)
end

-- Outbound by {daemon_name}: signed and encrypted for bob.
local conn = t.connect("192.0.2.20", "ORIGINATING")
local r = t.send(conn, t.plain("OUTDAEMON1", "alice@example.com", {"bob@example.com"}))
t.check(r == SMFIR_ACCEPT, "outbound: " .. t.reply_name(r))
expect_encrypted(conn, "outbound by daemon name")
t.check(not mt.eom_check(conn, MT_HDRCHANGE, "Subject"), "outbound: Subject changed")

-- Sign only when the recipient has no certificate.
r = t.send(conn, t.plain("OUTSIGN1", "alice@example.com", {"someone@nocert.example.org"}))
t.check(r == SMFIR_ACCEPT, "sign only: " .. t.reply_name(r))
t.check(mt.eom_check(conn, MT_BODYCHANGE), "sign only: body not replaced")
header_added(conn, "Content-Type", "multipart/signed", "sign only")

mt.disconnect(conn)

-- Outbound by SASL authentication.
conn = t.connect("192.0.2.21")
local m = t.plain("OUTAUTH1", "alice@example.com", {"bob@example.com"})
m.auth = "alice"
r = t.send(conn, m)
t.check(r == SMFIR_ACCEPT, "outbound auth: " .. t.reply_name(r))
expect_encrypted(conn, "outbound by SASL")
mt.disconnect(conn)

-- Outbound by internal_networks (10.99.0.0/16), IPv4 ...
conn = t.connect("10.99.1.2")
r = t.send(conn, t.plain("OUTNET1", "alice@example.com", {"bob@example.com"}))
t.check(r == SMFIR_ACCEPT, "outbound network: " .. t.reply_name(r))
expect_encrypted(conn, "outbound by internal network")
mt.disconnect(conn)

-- ... and IPv6 (fd99::/16)
conn = t.connect("fd99::5")
r = t.send(conn, t.plain("OUTNET6", "alice@example.com", {"bob@example.com"}))
t.check(r == SMFIR_ACCEPT, "outbound network v6: " .. t.reply_name(r))
expect_encrypted(conn, "outbound by internal IPv6 network")
mt.disconnect(conn)

-- Inbound: the same message from outside is not signed: status header,
-- mark-subject, and a forged status header is removed.
conn = t.connect("192.0.2.22")
r = t.send(conn, t.plain("INFORGED1", "alice@example.com", {"bob@example.com"},
  {{"X-CryptoFilter-SMIME-Verify-Status", "valid; signer=alice@example.com"}}))
t.check(r == SMFIR_ACCEPT, "inbound: " .. t.reply_name(r))
t.check(mt.eom_check(conn, MT_HDRDELETE, "X-CryptoFilter-SMIME-Verify-Status"),
        "inbound: forged status header not deleted")
header_added(conn, "X-CryptoFilter-SMIME-Verify-Status", "not-signed", "inbound")
t.check(mt.eom_check(conn, MT_HDRCHANGE, "Subject", "test INFORGED1 [smime]"),
        "inbound: Subject not marked")
t.check(not mt.eom_check(conn, MT_BODYCHANGE), "inbound: body changed")
mt.disconnect(conn)
mt.echo("smime.lua: ok")
