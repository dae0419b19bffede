package redis

import (
	goredis "github.com/redis/go-redis/v9"
)

// The Lua scripts. Every write runs as one script, so its checks and its
// changes are one atomic step on the server: no other command runs between
// them, on any replica's connection. The package comment lists the keys.
//
// Every write script starts with prelude: ARGV[1] is the key prefix of the
// division ("{epermit:330604}:"), ARGV[2] is "1" when the write appends an
// audit entry, ARGV[3] and ARGV[4] are that entry's deterministic protobuf
// encoding without seq, prev_hash and hash, split before field 11
// (auditParts). Script-specific arguments start at ARGV[5]. KEYS[1] is the
// division's layout key; it only routes the script to the division's slot.

// prelude holds SHA-256 in Lua (Redis 7 offers only SHA-1, as
// redis.sha1hex) and appendAudit, which chains an entry to the head of the
// log exactly as store.ChainAudit does.
const prelude = `
local P = ARGV[1]
local band, bor, bxor, ror, rshift, tobit = bit.band, bit.bor, bit.bxor, bit.ror, bit.rshift, bit.tobit
local K = {
0x428a2f98,0x71374491,0xb5c0fbcf,0xe9b5dba5,0x3956c25b,0x59f111f1,0x923f82a4,0xab1c5ed5,
0xd807aa98,0x12835b01,0x243185be,0x550c7dc3,0x72be5d74,0x80deb1fe,0x9bdc06a7,0xc19bf174,
0xe49b69c1,0xefbe4786,0x0fc19dc6,0x240ca1cc,0x2de92c6f,0x4a7484aa,0x5cb0a9dc,0x76f988da,
0x983e5152,0xa831c66d,0xb00327c8,0xbf597fc7,0xc6e00bf3,0xd5a79147,0x06ca6351,0x14292967,
0x27b70a85,0x2e1b2138,0x4d2c6dfc,0x53380d13,0x650a7354,0x766a0abb,0x81c2c92e,0x92722c85,
0xa2bfe8a1,0xa81a664b,0xc24b8b70,0xc76c51a3,0xd192e819,0xd6990624,0xf40e3585,0x106aa070,
0x19a4c116,0x1e376c08,0x2748774c,0x34b0bcb5,0x391c0cb3,0x4ed8aa4a,0x5b9cca4f,0x682e6ff3,
0x748f82ee,0x78a5636f,0x84c87814,0x8cc70208,0x90befffa,0xa4506ceb,0xbef9a3f7,0xc67178f2}

local function be32(v)
  return string.char(band(rshift(v, 24), 255), band(rshift(v, 16), 255), band(rshift(v, 8), 255), band(v, 255))
end

local function sha256(msg)
  local len = #msg
  msg = msg .. "\128" .. string.rep("\0", (55 - len) % 64) .. "\0\0\0\0" .. be32(len * 8)
  local H = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}
  local w = {}
  for i = 1, #msg, 64 do
    for j = 0, 15 do
      local a, b, c, d = string.byte(msg, i + j * 4, i + j * 4 + 3)
      w[j + 1] = tobit(a * 16777216 + b * 65536 + c * 256 + d)
    end
    for j = 17, 64 do
      local x, y = w[j - 15], w[j - 2]
      local s0 = bxor(ror(x, 7), ror(x, 18), rshift(x, 3))
      local s1 = bxor(ror(y, 17), ror(y, 19), rshift(y, 10))
      w[j] = tobit(w[j - 16] + s0 + w[j - 7] + s1)
    end
    local a, b, c, d, e, f, g, h = H[1], H[2], H[3], H[4], H[5], H[6], H[7], H[8]
    for j = 1, 64 do
      local s1 = bxor(ror(e, 6), ror(e, 11), ror(e, 25))
      local ch = bxor(g, band(e, bxor(f, g)))
      local t1 = h + s1 + ch + K[j] + w[j]
      local s0 = bxor(ror(a, 2), ror(a, 13), ror(a, 22))
      local maj = bor(band(a, b), band(c, bor(a, b)))
      h = g; g = f; f = e; e = tobit(d + t1)
      d = c; c = b; b = a; a = tobit(t1 + s0 + maj)
    end
    H[1] = tobit(H[1] + a); H[2] = tobit(H[2] + b); H[3] = tobit(H[3] + c); H[4] = tobit(H[4] + d)
    H[5] = tobit(H[5] + e); H[6] = tobit(H[6] + f); H[7] = tobit(H[7] + g); H[8] = tobit(H[8] + h)
  end
  local out = {}
  for i = 1, 8 do out[i] = be32(H[i]) end
  return table.concat(out)
end

local function varint(n)
  local s = {}
  while n >= 128 do
    s[#s + 1] = string.char(n % 128 + 128)
    n = math.floor(n / 128)
  end
  s[#s + 1] = string.char(n)
  return table.concat(s)
end

-- appendAudit appends the entry in ARGV[3..4], when ARGV[2] is "1", and
-- returns the reply of a successful write: {"OK", seq, prev_hash, hash},
-- or {"OK"} without an entry. It fails the script (before any change, as
-- every write script calls it before its first change) when the log holds
-- an entry beyond its head.
local function checkAudit()
  if ARGV[2] ~= "1" then return nil end
  local head = redis.call("HMGET", P .. "audit:head", "seq", "hash")
  local seq = tonumber(head[1] or "0")
  if redis.call("HEXISTS", P .. "audit", string.format("%d", seq + 1)) == 1 then
    return redis.error_reply("audit log holds entry " .. string.format("%d", seq + 1) .. " beyond its recorded head; the data was altered")
  end
  return nil
end

local function appendAudit()
  if ARGV[2] ~= "1" then return {"OK"} end
  local head = redis.call("HMGET", P .. "audit:head", "seq", "hash")
  local seq = tonumber(head[1] or "0") + 1
  local prev = head[2] or string.rep("\0", 32)
  local s = "\8" .. varint(seq)
  local hash = sha256("epermit-audit-v1\0" .. prev .. s .. ARGV[3] .. ARGV[4])
  local key = string.format("%d", seq)
  redis.call("HSET", P .. "audit", key, s .. ARGV[3] .. "\90\32" .. prev .. "\98\32" .. hash .. ARGV[4])
  redis.call("HSET", P .. "audit:head", "seq", key, "hash", hash)
  return {"OK", seq, prev, hash}
end

local function duplicate(rid)
  return rid ~= "" and redis.call("EXISTS", P .. "req:" .. rid) == 1
end

-- versionRefusal is the refusal of a write made over version prev (0 for
-- a new value) when the stored version is stored (nil when none), or nil.
local function versionRefusal(stored, prev)
  if stored then
    if prev == 0 or tonumber(stored) ~= prev then return {"CONFLICT"} end
  elseif prev > 0 then
    return {"NOTFOUND"}
  end
end
`

// writePermitSrc is WritePermit. ARGV: 5 permit id, 6 citizen id, 7 "1"
// when final, 8 the permit's encoding, 9 PrevVersion, 10 request id, 11
// request record, 12 ResolvePending, 13 the status index ("" for none),
// 14 its status-list state (0 to 15). The status list's entry i is the
// 4-bit field #(i xor 1) of the string "status", so that the string holds
// exactly the bytes statuslist packs (even i in the low nibble).
const writePermitSrc = prelude + `
local id, citizen, final, data, prev = ARGV[5], ARGV[6], ARGV[7], ARGV[8], tonumber(ARGV[9])
local rid, rec, resolve, si, state = ARGV[10], ARGV[11], ARGV[12], ARGV[13], tonumber(ARGV[14])
if duplicate(rid) then return {"DUP"} end
local pk = P .. "permit:" .. id
local old = redis.call("HMGET", pk, "v", "c", "f", "si")
local stale = versionRefusal(old[1], prev)
if stale then return stale end
local pendingPermit
if resolve ~= "" then
  pendingPermit = redis.call("HGET", P .. "pending:" .. resolve, "permit")
  if not pendingPermit then return {"NOPENDING"} end
  if pendingPermit ~= id then return {"NOPENDING_OTHER", pendingPermit} end
end
if final == "0" then
  local holder = redis.call("GET", P .. "active:" .. citizen)
  if holder and holder ~= id then return {"ACTIVE", holder} end
end
local oldSi = old[4] or ""
if oldSi ~= "" and oldSi ~= si then return {"INDEXFIXED", oldSi} end
if si ~= "" and oldSi == "" and redis.call("GETBIT", P .. "status_held", si) == 1 then return {"INDEXTAKEN"} end
local bad = checkAudit()
if bad then return bad end

redis.call("HSET", pk, "d", data, "v", string.format("%d", prev + 1), "c", citizen, "f", final, "si", si)
if si ~= "" then
  local field = "#" .. bit.bxor(tonumber(si), 1)
  redis.call("SETBIT", P .. "status_held", si, 1)
  if redis.call("BITFIELD", P .. "status", "GET", "u4", field)[1] ~= state then
    redis.call("BITFIELD", P .. "status", "SET", "u4", field, state)
    redis.call("INCR", P .. "status:version")
  end
end
if old[1] then
  if old[2] ~= citizen then redis.call("ZREM", P .. "citizen:" .. old[2], id) end
  if old[3] == "0" and redis.call("GET", P .. "active:" .. old[2]) == id then
    redis.call("DEL", P .. "active:" .. old[2])
  end
else
  redis.call("ZADD", P .. "permits", 0, id)
end
redis.call("ZADD", P .. "citizen:" .. citizen, 0, id)
if final == "0" then redis.call("SET", P .. "active:" .. citizen, id) end
if rid ~= "" then redis.call("SET", P .. "req:" .. rid, rec) end
if resolve ~= "" then
  redis.call("DEL", P .. "pending:" .. resolve, P .. "pending_permit:" .. id)
  redis.call("SREM", P .. "pendings", resolve)
end
return appendAudit()
`

// writePendingSrc is WritePending. ARGV: 5 "put" or "delete", 6 pending
// id, 7 permit id, 8 permit version, 9 the pending cancellation's
// encoding, 10 request id, 11 request record (for a delete, its header:
// the stored pending cancellation follows).
const writePendingSrc = prelude + `
local mode, id, permit, version, data, rid = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
if duplicate(rid) then return {"DUP"} end
local rec = ARGV[11]
local pk = P .. "pending:" .. id
if mode == "put" then
  local v = redis.call("HGET", P .. "permit:" .. permit, "v")
  if not v then return {"NOTFOUND"} end
  if tonumber(v) ~= tonumber(version) then return {"CONFLICT"} end
  local other = redis.call("GET", P .. "pending_permit:" .. permit)
  if other then return {"PENDINGEXISTS", other} end
  if redis.call("EXISTS", pk) == 1 then return {"CONFLICT"} end
  local bad = checkAudit()
  if bad then return bad end
  redis.call("HSET", pk, "d", data, "permit", permit)
  redis.call("SET", P .. "pending_permit:" .. permit, id)
  redis.call("SADD", P .. "pendings", id)
else
  local cur = redis.call("HMGET", pk, "d", "permit")
  if not cur[1] then return {"NOPENDING"} end
  local bad = checkAudit()
  if bad then return bad end
  rec = rec .. cur[1]
  redis.call("DEL", pk, P .. "pending_permit:" .. cur[2])
  redis.call("SREM", P .. "pendings", id)
end
if rid ~= "" then redis.call("SET", P .. "req:" .. rid, rec) end
return appendAudit()
`

// createAccountSrc is CreateAccount. ARGV: 5 name, 6 the account's JSON,
// 7 the token hash in hex ("" for none).
const createAccountSrc = prelude + `
local name, data, token = ARGV[5], ARGV[6], ARGV[7]
if redis.call("EXISTS", P .. "account:" .. name) == 1 then return {"EXISTS_NAME"} end
if token ~= "" and redis.call("EXISTS", P .. "token:" .. token) == 1 then return {"EXISTS_TOKEN"} end
local bad = checkAudit()
if bad then return bad end
redis.call("SET", P .. "account:" .. name, data)
redis.call("ZADD", P .. "accounts", 0, name)
if token ~= "" then redis.call("SET", P .. "token:" .. token, name) end
return appendAudit()
`

// updateAccountSrc is UpdateAccount's compare-and-set. ARGV: 5 name, 6
// the JSON the update was computed from, 7 the new JSON, 8 the old token
// hash in hex, 9 the new one ("" for none).
const updateAccountSrc = prelude + `
local name, from, data, oldToken, newToken = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local cur = redis.call("GET", P .. "account:" .. name)
if not cur then return {"NOTFOUND"} end
if cur ~= from then return {"RETRY"} end
if newToken ~= oldToken and newToken ~= "" then
  local owner = redis.call("GET", P .. "token:" .. newToken)
  if owner then return {"EXISTS_TOKEN", owner} end
end
local bad = checkAudit()
if bad then return bad end
redis.call("SET", P .. "account:" .. name, data)
if newToken ~= oldToken then
  if oldToken ~= "" then redis.call("DEL", P .. "token:" .. oldToken) end
  if newToken ~= "" then redis.call("SET", P .. "token:" .. newToken, name) end
end
return appendAudit()
`

// appendAuditSrc is AppendAudit.
const appendAuditSrc = prelude + `
local bad = checkAudit()
if bad then return bad end
return appendAudit()
`

// writeApplicationSrc is WriteApplication. ARGV: 5 id, 6 encoding, 7
// PrevVersion, 8 version, 9 deadline index member ("" for none), 10 state
// number, 11 request id, 12 request record.
const writeApplicationSrc = prelude + `
local id, data, prev, version, deadline, state, rid, rec = ARGV[5], ARGV[6], tonumber(ARGV[7]), ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12]
if duplicate(rid) then return {"DUP"} end
local k = P .. "app:" .. id
local old = redis.call("HMGET", k, "v", "dl", "st")
local stale = versionRefusal(old[1], prev)
if stale then return stale end
local bad = checkAudit()
if bad then return bad end
redis.call("HSET", k, "d", data, "v", version, "dl", deadline, "st", state)
if not old[1] then redis.call("ZADD", P .. "apps", 0, id) end
local oldDeadline = old[2] or ""
if oldDeadline ~= deadline then
  if oldDeadline ~= "" then redis.call("ZREM", P .. "app_deadlines", oldDeadline) end
  if deadline ~= "" then redis.call("ZADD", P .. "app_deadlines", 0, deadline) end
end
if old[3] ~= state then
  if old[3] then redis.call("ZREM", P .. "app_state:" .. old[3], id) end
  redis.call("ZADD", P .. "app_state:" .. state, 0, id)
end
if rid ~= "" then redis.call("SET", P .. "req:" .. rid, rec) end
return appendAudit()
`

// writeServiceRequestSrc is WriteServiceRequest. ARGV: 5 id, 6 encoding,
// 7 PrevVersion, 8 version, 9 outbox member ("" for none), 10 permit id,
// 11 "1" to append an event, 12 request id, 13 request record.
const writeServiceRequestSrc = prelude + `
local id, data, prev, version, outbox, permit, event, rid, rec = ARGV[5], ARGV[6], tonumber(ARGV[7]), ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12], ARGV[13]
if duplicate(rid) then return {"DUP"} end
local k = P .. "sr:" .. id
local old = redis.call("HMGET", k, "v", "ob", "pm")
local stale = versionRefusal(old[1], prev)
if stale then return stale end
local bad = checkAudit()
if bad then return bad end
redis.call("HSET", k, "d", data, "v", version, "ob", outbox, "pm", permit)
redis.call("HDEL", k, "cl")
if not old[1] then redis.call("ZADD", P .. "srs", 0, id) end
local oldOutbox = old[2] or ""
if oldOutbox ~= outbox then
  if oldOutbox ~= "" then redis.call("ZREM", P .. "outbox", oldOutbox) end
  if outbox ~= "" then redis.call("ZADD", P .. "outbox", 0, outbox) end
end
local oldPermit = old[3] or ""
if oldPermit ~= permit then
  if oldPermit ~= "" then redis.call("ZREM", P .. "sr_permit:" .. oldPermit, id) end
  if permit ~= "" then redis.call("ZADD", P .. "sr_permit:" .. permit, 0, id) end
end
if event == "1" then
  local seq = redis.call("INCR", P .. "sr_events:head")
  redis.call("HSET", P .. "sr_events", string.format("%d", seq), data)
end
if rid ~= "" then redis.call("SET", P .. "req:" .. rid, rec) end
return appendAudit()
`

// rangeSrc reads one page of an index and the values it names, in one
// step. KEYS[1] is the index (a sorted set of members with score 0, read
// by lex range). ARGV: 1 the value key prefix, 2 the hash field holding
// the value, 3 and 4 the lex range (min then max; max then min when
// reversed), 5 the limit, 6 "1" to read in reverse, 7 how many bytes of a
// member precede the id. Returns member, value, member, value, …; a value
// that is missing is "".
const rangeSrc = `
local cmd = "ZRANGEBYLEX"
if ARGV[6] == "1" then cmd = "ZREVRANGEBYLEX" end
local ids = redis.call(cmd, KEYS[1], ARGV[3], ARGV[4], "LIMIT", 0, tonumber(ARGV[5]))
local skip = tonumber(ARGV[7])
local out = {}
for i, m in ipairs(ids) do
  out[2 * i - 1] = m
  out[2 * i] = redis.call("HGET", ARGV[1] .. string.sub(m, skip + 1), ARGV[2]) or ""
end
return out
`

// listPendingSrc returns the encoding of every pending cancellation.
// KEYS[1] is the set of pending ids; ARGV[1] the key prefix.
const listPendingSrc = `
local out = {}
for i, id in ipairs(redis.call("SMEMBERS", KEYS[1])) do
  out[i] = redis.call("HGET", ARGV[1] .. "pending:" .. id, "d") or ""
end
return out
`

// listAccountsSrc returns every account's JSON in name order. KEYS[1] is
// the sorted set of names; ARGV[1] the key prefix.
const listAccountsSrc = `
local out = {}
for i, name in ipairs(redis.call("ZRANGE", KEYS[1], 0, -1)) do
  out[i] = redis.call("GET", ARGV[1] .. "account:" .. name) or ""
end
return out
`

// accountByTokenSrc returns the JSON of the account whose token hash is
// ARGV[2] (hex), false when none, in one step. KEYS[1] is the token key;
// ARGV[1] the key prefix.
const accountByTokenSrc = `
local name = redis.call("GET", KEYS[1])
if not name then return false end
local a = redis.call("GET", ARGV[1] .. "account:" .. name)
if not a then return redis.error_reply("token index names missing account " .. name) end
return a
`

// The scripts, loaded by hash (EVALSHA) and sent whole (EVAL) when the
// server does not know them yet.
var (
	writePermitScript         = goredis.NewScript(writePermitSrc)
	writePendingScript        = goredis.NewScript(writePendingSrc)
	createAccountScript       = goredis.NewScript(createAccountSrc)
	updateAccountScript       = goredis.NewScript(updateAccountSrc)
	appendAuditScript         = goredis.NewScript(appendAuditSrc)
	writeApplicationScript    = goredis.NewScript(writeApplicationSrc)
	writeServiceRequestScript = goredis.NewScript(writeServiceRequestSrc)
	rangeScript               = goredis.NewScript(rangeSrc)
	listPendingScript         = goredis.NewScript(listPendingSrc)
	listAccountsScript        = goredis.NewScript(listAccountsSrc)
	accountByTokenScript      = goredis.NewScript(accountByTokenSrc)
)
