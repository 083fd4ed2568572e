-- basic.lua - every callback on a config without S/MIME rules: a plain
-- message, abort mid-message then a new message on the same connection, a
-- message larger than memory_limit (spilled), the recipient and header caps.
local t = dofile(os.getenv("MT_LIB"))

local conn = t.connect("192.0.2.10", nil, {"TLSv1.3", "TLS_AES_256_GCM_SHA384", "256"})

-- connect/helo/envfrom/envrcpt/header/eoh/body/eom
local r = t.send(conn, t.plain("BASIC1", "dave@partner.com", {"bob@example.com"}))
t.check(r == SMFIR_ACCEPT, "plain message: " .. t.reply_name(r))

-- abort after the body, then a new message on the same connection
t.transaction(conn, t.plain("ABORTED1", "dave@partner.com", {"bob@example.com"}))
t.ok(mt.abort(conn), "abort")
r = t.send(conn, t.plain("AFTERABORT1", "erin@partner.com", {"alice@example.com"},
  {{"X-Evil", "line\rinjected: yes"}}))
t.check(r == SMFIR_ACCEPT, "message after abort: " .. t.reply_name(r))

-- larger than memory_limit (64K): spilled to spool_dir
local big = t.plain("BIG1", "dave@partner.com", {"bob@example.com"})
local line = string.rep("0123456789abcdef", 4) .. "\r\n"
big.body = string.rep(line, 16384)		-- 1 MiB + CRLFs
r = t.send(conn, big)
t.check(r == SMFIR_ACCEPT, "big message: " .. t.reply_name(r))
mt.disconnect(conn)

-- more than 10,000 recipients: the 10,001st is refused with 452 4.5.3
conn = t.connect("192.0.2.11")
t.ok(mt.macro(conn, SMFIC_MAIL, "i", "MANYRCPT1"), "macro")
t.ok(mt.mailfrom(conn, "<dave@partner.com>"), "mailfrom")
for i = 1, 10000 do
  t.ok(mt.rcptto(conn, "<u" .. i .. "@example.com>"), "rcptto")
  if mt.getreply(conn) ~= SMFIR_CONTINUE then t.fail("rcpt " .. i .. " refused") end
end
t.ok(mt.rcptto(conn, "<u10001@example.com>"), "rcptto")
t.expect(conn, SMFIR_REPLYCODE, "recipient 10001")
t.ok(mt.abort(conn), "abort")

-- more than 10,000 header fields: the message fails with the on_error reply
local many = t.plain("MANYHDR1", "dave@partner.com", {"bob@example.com"})
for i = 1, 10001 do table.insert(many.headers, {"X-Filler", tostring(i)}) end
r = t.send(conn, many)
t.check(r == SMFIR_REPLYCODE, "too many headers: " .. t.reply_name(r))
t.check(mt.eom_check(conn, MT_SMTPREPLY, "451", "4.3.0", t.ERROR_TEXT),
        "too many headers: no 451 4.3.0 reply")

-- the connection still works afterwards
r = t.send(conn, t.plain("AFTERFAIL1", "dave@partner.com", {"bob@example.com"}))
t.check(r == SMFIR_ACCEPT, "message after a failed one: " .. t.reply_name(r))
mt.disconnect(conn)
mt.echo("basic.lua: ok")
