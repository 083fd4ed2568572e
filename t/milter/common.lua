-- common.lua - helpers for the cryptofilter-milter miltertest scripts.
-- Loaded with  local t = dofile(os.getenv("MT_LIB"))
local t = {}

function t.fail(msg)
  mt.echo("FAIL: " .. msg)
  error(msg)
end

-- mt.* calls return nil on success, an error string otherwise.
function t.ok(rc, what)
  if rc ~= nil then t.fail(what .. ": " .. tostring(rc)) end
end

function t.check(cond, what)
  if not cond then t.fail(what) end
end

local names = {}
names[SMFIR_CONTINUE] = "continue"; names[SMFIR_ACCEPT] = "accept"
names[SMFIR_REJECT] = "reject"; names[SMFIR_TEMPFAIL] = "tempfail"
names[SMFIR_DISCARD] = "discard"; names[SMFIR_REPLYCODE] = "replycode"
function t.reply_name(r) return names[r] or tostring(r) end

function t.expect(conn, want, what)
  local got = mt.getreply(conn)
  if got ~= want then
    t.fail(what .. ": reply " .. t.reply_name(got) .. ", expected " .. t.reply_name(want))
  end
end

-- Connect and send connect + HELO.  DAEMON sets {daemon_name}; TLS =
-- {version, cipher, bits} sends the TLS macros with HELO.
function t.connect(ip, daemon, tls)
  local conn = mt.connect(os.getenv("MT_SOCKET"), 40, 0.05)
  if conn == nil then t.fail("cannot connect to " .. tostring(os.getenv("MT_SOCKET"))) end
  if daemon then t.ok(mt.macro(conn, SMFIC_CONNECT, "{daemon_name}", daemon), "macro") end
  t.ok(mt.conninfo(conn, "client.test", ip), "conninfo")
  t.expect(conn, SMFIR_CONTINUE, "connect")
  if tls then
    t.ok(mt.macro(conn, SMFIC_HELO, "{tls_version}", tls[1], "{cipher}", tls[2],
                  "{cipher_bits}", tls[3]), "macro")
  end
  t.ok(mt.helo(conn, "client.test"), "helo")
  t.expect(conn, SMFIR_CONTINUE, "helo")
  return conn
end

-- Everything up to (not including) end of message.
-- m = { qid=, from=, rcpts={...}, headers={{name, value}, ...}, body=, auth= }
function t.transaction(conn, m)
  if m.auth then
    t.ok(mt.macro(conn, SMFIC_MAIL, "i", m.qid, "{auth_authen}", m.auth), "macro")
  else
    t.ok(mt.macro(conn, SMFIC_MAIL, "i", m.qid), "macro")
  end
  t.ok(mt.mailfrom(conn, "<" .. m.from .. ">"), "mailfrom")
  t.expect(conn, SMFIR_CONTINUE, "mailfrom")
  for _, r in ipairs(m.rcpts) do
    t.ok(mt.rcptto(conn, "<" .. r .. ">"), "rcptto")
    t.expect(conn, SMFIR_CONTINUE, "rcptto " .. r)
  end
  for _, h in ipairs(m.headers) do
    t.ok(mt.header(conn, h[1], h[2]), "header")
    t.expect(conn, SMFIR_CONTINUE, "header " .. h[1])
  end
  t.ok(mt.eoh(conn), "eoh")
  t.expect(conn, SMFIR_CONTINUE, "eoh")
  -- libmilter refuses packets over 64K: send the body in pieces
  local pos = 1
  while m.body and pos <= #m.body do
    t.ok(mt.bodystring(conn, string.sub(m.body, pos, pos + 32767)), "body")
    t.expect(conn, SMFIR_CONTINUE, "body")
    pos = pos + 32768
  end
end

-- A whole message; returns the end-of-message reply.
function t.send(conn, m)
  t.transaction(conn, m)
  t.ok(mt.eom(conn), "eom")
  return mt.getreply(conn)
end

-- A plain text message from FROM to the list RCPTS.
function t.plain(qid, from, rcpts, extra)
  local h = {
    {"From", "<" .. from .. ">"},
    {"To", "<" .. rcpts[1] .. ">"},
    {"Subject", "test " .. qid},
    {"Date", "Thu, 03 Dec 2026 17:00:00 +0000"},
    {"Message-ID", "<" .. qid .. "@example.com>"},
    {"MIME-Version", "1.0"},
    {"Content-Type", "text/plain; charset=us-ascii"},
  }
  for _, x in ipairs(extra or {}) do table.insert(h, x) end
  return { qid = qid, from = from, rcpts = rcpts, headers = h,
           body = "Hello " .. qid .. ".\r\nSecond line.\r\n" }
end

-- The SMTP reply the milter set for the failure action.
t.ERROR_TEXT = "Temporary failure in message processing, try again later"

return t
