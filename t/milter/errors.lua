-- errors.lua - milter.on_error (env MODE) when the body cannot be spooled:
-- spool_dir does not exist and memory_limit is 1K, so only a message over
-- 1K fails, which also shows that the spill happens at memory_limit.
local t = dofile(os.getenv("MT_LIB"))
local mode = os.getenv("MODE")

local function big(qid, from, extra)
  local m = t.plain(qid, from, {"bob@example.com"}, extra)
  m.body = string.rep("x", 78) .. "\r\n"
  m.body = string.rep(m.body, 100)		-- 8000 bytes > 1K
  return m
end

local conn = t.connect("192.0.2.40")
local r = t.send(conn, t.plain("SMALL1", "dave@partner.com", {"bob@example.com"}))
t.check(r == SMFIR_ACCEPT, "small message: " .. t.reply_name(r))

r = t.send(conn, big("BIGERR1", "dave@partner.com",
  {{"X-CryptoFilter-SMIME-Verify-Status", "valid; forged"}}))
if mode == "tempfail" then
  t.check(r == SMFIR_REPLYCODE, "tempfail: " .. t.reply_name(r))
  t.check(mt.eom_check(conn, MT_SMTPREPLY, "451", "4.3.0", t.ERROR_TEXT), "no 451 4.3.0")
elseif mode == "reject" then
  t.check(r == SMFIR_REPLYCODE, "reject: " .. t.reply_name(r))
  t.check(mt.eom_check(conn, MT_SMTPREPLY, "554", "5.3.0", "Message could not be processed"),
          "no 554 5.3.0")
elseif mode == "accept" then
  t.check(r == SMFIR_ACCEPT, "accept: " .. t.reply_name(r))
  t.check(mt.eom_check(conn, MT_HDRDELETE, "X-CryptoFilter-SMIME-Verify-Status"),
          "accept: forged status header kept")
  t.check(mt.eom_check(conn, MT_HDRADD, "X-CryptoFilter-Error", "cannot spool the message body"),
          "accept: no X-CryptoFilter-Error")
else
  t.fail("unknown MODE " .. tostring(mode))
end
t.check(not mt.eom_check(conn, MT_BODYCHANGE), "failed message: body changed")

-- the connection goes on working
r = t.send(conn, t.plain("SMALL2", "dave@partner.com", {"bob@example.com"}))
t.check(r == SMFIR_ACCEPT, "small message after the failure: " .. t.reply_name(r))
mt.disconnect(conn)

if mode == "accept" then
  -- outbound, and a sign rule applies: never passed unsigned, tempfail
  conn = t.connect("192.0.2.41", "ORIGINATING")
  r = t.send(conn, big("BIGSIGN1", "alice@example.com"))
  t.check(r == SMFIR_REPLYCODE, "accept refused: " .. t.reply_name(r))
  t.check(mt.eom_check(conn, MT_SMTPREPLY, "451", "4.3.0", t.ERROR_TEXT), "accept refused: no 451 4.3.0")
  -- outbound, no sign/encrypt rule: passed, marked
  r = t.send(conn, big("BIGOUT1", "dave@partner.com"))
  t.check(r == SMFIR_ACCEPT, "outbound without rules: " .. t.reply_name(r))
  t.check(mt.eom_check(conn, MT_HDRADD, "X-CryptoFilter-Error"), "outbound: no X-CryptoFilter-Error")
  mt.disconnect(conn)
end
mt.echo("errors.lua " .. mode .. ": ok")
