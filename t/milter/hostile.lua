-- hostile.lua - outside data the milter must survive: the null sender,
-- addresses that try to escape cert_dir, huge and binary header values,
-- random body data, a bare message without headers, S/MIME-looking junk.
-- Every message gets a defined answer (accept, or the 451 4.3.0 failure
-- reply), and the connection keeps working.
local t = dofile(os.getenv("MT_LIB"))

local function defined(conn, r, what)
  if r == SMFIR_ACCEPT then return end
  if r == SMFIR_REPLYCODE and mt.eom_check(conn, MT_SMTPREPLY, "451", "4.3.0", t.ERROR_TEXT) then
    return
  end
  t.fail(what .. ": reply " .. t.reply_name(r))
end

for _, daemon in ipairs({"ORIGINATING", "none"}) do
  local conn = t.connect("192.0.2.60", daemon)

  -- null sender, traversal and odd recipients
  local m = t.plain("H1" .. daemon, "", {"../../../etc/passwd@example.com"})
  m.from = ""
  m.rcpts = {"../../../etc/passwd@example.com", "a/b@example.com", ".hidden@example.com",
             "x@" .. string.rep("d", 300) .. ".com", "\"quoted local\"@example.com"}
  defined(conn, t.send(conn, m), "odd addresses")

  -- a long header value (miltertest sends at most 1 KB per header),
  -- control characters and 8-bit bytes in headers
  m = t.plain("H2" .. daemon, "alice@example.com", {"bob@example.com"},
    {{"X-Long", string.rep("z", 900)},
     {"X-Binary", "\1\2\3\127\200\255 end"},
     {"Subject", "=?utf-8?B?" .. string.rep("/", 500) .. "?="}})
  defined(conn, t.send(conn, m), "long and binary headers")

  -- no headers at all, random body
  t.ok(mt.macro(conn, SMFIC_MAIL, "i", "H3" .. daemon), "macro")
  t.ok(mt.mailfrom(conn, "<alice@example.com>"), "mailfrom")
  t.ok(mt.rcptto(conn, "<bob@example.com>"), "rcptto")
  t.ok(mt.eoh(conn), "eoh")
  t.ok(mt.bodyrandom(conn, 20000), "bodyrandom")
  t.ok(mt.eom(conn), "eom")
  defined(conn, mt.getreply(conn), "no headers, random body")

  -- claims to be S/MIME but is junk
  m = t.plain("H4" .. daemon, "dave@partner.com", {"bob@example.com"})
  m.headers[7] = {"Content-Type", "application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m"}
  table.insert(m.headers, {"Content-Transfer-Encoding", "base64"})
  m.body = "MIAGCSqGSIb3DQEHA6CAMIACAQAxggE=\r\n!!!!not base64!!!!\r\n"
  defined(conn, t.send(conn, m), "junk S/MIME")

  m = t.plain("H5" .. daemon, "dave@partner.com", {"bob@example.com"})
  m.headers[7] = {"Content-Type", "multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=\"\""}
  m.body = "--\r\n--\r\n\r\n--"
  defined(conn, t.send(conn, m), "junk multipart/signed")

  -- still fine afterwards
  local r = t.send(conn, t.plain("H6" .. daemon, "dave@partner.com", {"bob@example.com"}))
  t.check(r == SMFIR_ACCEPT, "plain message after the hostile ones: " .. t.reply_name(r))
  mt.disconnect(conn)
end
mt.echo("hostile.lua: ok")
