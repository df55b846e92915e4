package redislimit

import "github.com/redis/go-redis/v9"

// acquireScript checks every limit and commits them only if all admit the
// request. Times are microseconds. ARGV: now (µs since limits.Epoch; 0 = Redis TIME), lease id,
// lease ttl, then per key: kind ("g" GCRA, "c" concurrency, "b" budget),
// limit, interval, cost, period end. It returns {1, remaining1, reset1, ...}
// or {0, index of the rejecting check, retry after}.
// The GCRA arithmetic is limits.GCRA's.
var acquireScript = redis.NewScript(`
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = (tonumber(t[1]) - 1735689600) * 1000000 + tonumber(t[2])
end
local lease = ARGV[2]
local ttl = tonumber(ARGV[3])
local eps = 1e-6
local out = {1}
local tats = {}
for i = 1, #KEYS do
  local b = 3 + (i - 1) * 5
  local kind = ARGV[b + 1]
  local limit = tonumber(ARGV[b + 2])
  local interval = tonumber(ARGV[b + 3])
  local cost = tonumber(ARGV[b + 4])
  local pend = tonumber(ARGV[b + 5])
  local key = KEYS[i]
  if kind == 'g' then
    local tat = tonumber(redis.call('GET', key) or '0') or 0
    if tat < now then tat = now end
    local nxt = tat + interval * cost
    local allow = nxt - interval * limit
    if now + eps < allow then
      return {0, i, math.ceil(allow - now)}
    end
    tats[i] = nxt
    out[2 * i] = math.max(0, math.floor((now - allow) / interval + eps))
    out[2 * i + 1] = math.ceil(nxt - now)
  elseif kind == 'c' then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    if redis.call('ZCARD', key) + 1 > limit then
      return {0, i, 1000000}
    end
    out[2 * i] = 0
    out[2 * i + 1] = 0
  else
    local used = tonumber(redis.call('GET', key) or '0') or 0
    if used + cost > limit then
      return {0, i, math.ceil(pend - now)}
    end
    out[2 * i] = limit - used - cost
    out[2 * i + 1] = math.ceil(pend - now)
  end
end
for i = 1, #KEYS do
  local b = 3 + (i - 1) * 5
  local kind = ARGV[b + 1]
  local key = KEYS[i]
  if kind == 'g' then
    redis.call('SET', key, string.format('%.3f', tats[i]), 'PX', math.ceil((tats[i] - now) / 1000) + 1)
  elseif kind == 'c' then
    redis.call('ZADD', key, now + ttl, lease)
    redis.call('PEXPIRE', key, math.ceil(ttl / 1000) + 1000)
  else
    redis.call('INCRBY', key, tonumber(ARGV[b + 4]))
    redis.call('PEXPIRE', key, math.ceil((tonumber(ARGV[b + 5]) - now) / 1000) + 86400000)
  end
end
return out
`)

// releaseScript reconciles a lease. ARGV: now (µs since limits.Epoch; 0 = Redis TIME), lease id,
// token difference (used minus reserved), then per key: kind ("g" token
// GCRA, "c" concurrency, "b" budget) and interval.
var releaseScript = redis.NewScript(`
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = (tonumber(t[1]) - 1735689600) * 1000000 + tonumber(t[2])
end
local lease = ARGV[2]
local diff = tonumber(ARGV[3])
for i = 1, #KEYS do
  local kind = ARGV[3 + (i - 1) * 2 + 1]
  local interval = tonumber(ARGV[3 + (i - 1) * 2 + 2])
  local key = KEYS[i]
  if kind == 'c' then
    redis.call('ZREM', key, lease)
  elseif diff ~= 0 and kind == 'g' then
    local tat = tonumber(redis.call('GET', key) or '0') or 0
    if tat < now then tat = now end
    tat = tat + diff * interval
    if tat > now then
      redis.call('SET', key, string.format('%.3f', tat), 'PX', math.ceil((tat - now) / 1000) + 1)
    else
      redis.call('DEL', key)
    end
  elseif diff ~= 0 and kind == 'b' and redis.call('EXISTS', key) == 1 then
    if redis.call('INCRBY', key, diff) < 0 then
      redis.call('SET', key, 0, 'KEEPTTL')
    end
  end
end
return 1
`)
