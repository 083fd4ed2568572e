-- refused.lua - while the milter is stopping, a new message is deferred at
-- MAIL FROM (451 4.3.2) instead of being started.
local t = dofile(os.getenv("MT_LIB"))
local conn = t.connect("192.0.2.51")
t.ok(mt.macro(conn, SMFIC_MAIL, "i", "REFUSED1"), "macro")
t.ok(mt.mailfrom(conn, "<dave@partner.com>"), "mailfrom")
t.expect(conn, SMFIR_REPLYCODE, "MAIL FROM while stopping")
mt.disconnect(conn)
mt.echo("refused.lua: ok")
