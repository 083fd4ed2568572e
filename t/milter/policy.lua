-- policy.lua - one S/MIME inbound policy action (env ACTION) on an unsigned
-- message: the reply, quarantine or recipient changes it must cause.
local t = dofile(os.getenv("MT_LIB"))
local action = os.getenv("ACTION")
local why = os.getenv("WHY")		-- the engine's reason text
-- the rule name as it appears in the raw reply ('%' doubled for libmilter)
local rule = os.getenv("RULE") or "q"
local text = 'S/MIME policy "' .. rule .. '": ' .. why

local conn = t.connect("192.0.2.30")
local m = t.plain("POL" .. string.gsub(action, "-", ""), "dave@partner.com",
                  {"bob@example.com", "carol@example.com"})
local r = t.send(conn, m)
local what = action .. ": "

if action == "reject" or action == "ndr" then
  t.check(r == SMFIR_REPLYCODE, what .. t.reply_name(r))
  t.check(mt.eom_check(conn, MT_SMTPREPLY, "550", "5.7.1", text),
          what .. "no 550 5.7.1 reply")
elseif action == "tempfail" then
  t.check(r == SMFIR_REPLYCODE, what .. t.reply_name(r))
  t.check(mt.eom_check(conn, MT_SMTPREPLY, "451", "4.7.1", text),
          what .. "no 451 4.7.1 reply")
elseif action == "discard" then
  t.check(r == SMFIR_DISCARD, what .. t.reply_name(r))
elseif action == "hold" then
  t.check(r == SMFIR_ACCEPT, what .. t.reply_name(r))
  t.check(mt.eom_check(conn, MT_QUARANTINE, text), what .. "not quarantined")
  t.check(not mt.eom_check(conn, MT_RCPTDELETE, "<bob@example.com>"), what .. "recipient deleted")
elseif action == "forward-postmaster" or action == "encapsulate-postmaster" then
  t.check(r == SMFIR_ACCEPT, what .. t.reply_name(r))
  t.check(mt.eom_check(conn, MT_RCPTDELETE, "<bob@example.com>"), what .. "bob not deleted")
  t.check(mt.eom_check(conn, MT_RCPTDELETE, "<carol@example.com>"), what .. "carol not deleted")
  t.check(mt.eom_check(conn, MT_RCPTADD, "<postmaster@example.com>"), what .. "postmaster not added")
  t.check(not mt.eom_check(conn, MT_QUARANTINE), what .. "quarantined")
  if action == "encapsulate-postmaster" then
    t.check(mt.eom_check(conn, MT_BODYCHANGE), what .. "body not replaced")
    local ct = mt.getheader(conn, "Content-Type", 0)
    t.check(ct ~= nil and string.find(ct, "multipart/mixed", 1, true), what .. "Content-Type " .. tostring(ct))
  else
    t.check(not mt.eom_check(conn, MT_BODYCHANGE), what .. "body replaced")
  end
elseif action == "encapsulate-recipient" then
  t.check(r == SMFIR_ACCEPT, what .. t.reply_name(r))
  t.check(mt.eom_check(conn, MT_BODYCHANGE), what .. "body not replaced")
  t.check(mt.eom_check(conn, MT_RCPTADD, "<bob@example.com>"), what .. "bob not re-added")
else
  t.fail("unknown ACTION " .. tostring(action))
end
if r == SMFIR_ACCEPT then
  t.check(mt.eom_check(conn, MT_HDRADD, "X-CryptoFilter-SMIME-Verify-Status"), what .. "no status header")
else
  t.check(not mt.eom_check(conn, MT_HDRADD), what .. "headers added to a refused message")
end

-- the next message on the connection is unaffected by the last one's state
r = t.send(conn, t.plain("POLNEXT", "dave@partner.com", {"bob@example.com"}))
mt.disconnect(conn)
mt.echo("policy.lua " .. action .. ": ok")
