-- one.lua - COUNT (default 1) plain messages with queue ids QID, QID-2,
-- ...; each must be accepted.  SLEEP: seconds to wait before the end of
-- the first message (to have a message in flight).  FROM, TO, DAEMON
-- ({daemon_name}) and BODYKB (body size) change the message.
local t = dofile(os.getenv("MT_LIB"))
local qid = os.getenv("QID")
local count = tonumber(os.getenv("COUNT") or "1")
local pause = tonumber(os.getenv("SLEEP") or "0")

local from = os.getenv("FROM") or "dave@partner.com"
local to = os.getenv("TO") or "bob@example.com"
local bodykb = tonumber(os.getenv("BODYKB") or "0")

local conn = t.connect("192.0.2.50", os.getenv("DAEMON"))
for i = 1, count do
  local q = qid
  if i > 1 then q = qid .. "-" .. i end
  local m = t.plain(q, from, {to})
  if bodykb > 0 then
    m.body = string.rep(string.rep("y", 1022) .. "\r\n", bodykb)
  end
  t.transaction(conn, m)
  if i == 1 and pause > 0 then mt.sleep(pause) end
  t.ok(mt.eom(conn), "eom")
  t.expect(conn, SMFIR_ACCEPT, q)
end
mt.disconnect(conn)
mt.echo("one.lua " .. qid .. ": ok")
