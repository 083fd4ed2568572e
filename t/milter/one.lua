-- one.lua - COUNT (default 1) plain inbound messages with queue ids
-- QID, QID-2, ...; each must be accepted.  SLEEP: seconds to wait before
-- the end of the first message (to have a message in flight).
local t = dofile(os.getenv("MT_LIB"))
local qid = os.getenv("QID")
local count = tonumber(os.getenv("COUNT") or "1")
local pause = tonumber(os.getenv("SLEEP") or "0")

local conn = t.connect("192.0.2.50")
for i = 1, count do
  local q = qid
  if i > 1 then q = qid .. "-" .. i end
  t.transaction(conn, t.plain(q, "dave@partner.com", {"bob@example.com"}))
  if i == 1 and pause > 0 then mt.sleep(pause) end
  t.ok(mt.eom(conn), "eom")
  t.expect(conn, SMFIR_ACCEPT, q)
end
mt.disconnect(conn)
mt.echo("one.lua " .. qid .. ": ok")
