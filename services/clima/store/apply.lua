-- Applies a batch of reports to the Clima model, each report at most once (by id).
-- Every key comes through KEYS (named by _keys.py), none is built here:
--   KEYS[1] weather counts, KEYS[2] municipalities, KEYS[3] averages stream, KEYS[4] stats,
--   then report i's seen key at KEYS[4 + i], then each municipality's stream, latest and
--   weather counts (three in a row) and each interval once, at the indices its rows name.
-- ARGV: stream_maxlen, averages_maxlen, dedupe_window_s, interval_ttl_s, dead_letters, then
-- ARGV[6]: a JSON array of reports, each [id, name, temperature, humidity, weather, iso_time,
-- interval_start, slug, index of its stream key, index of its interval key] (one argument
-- instead of 10 per report: far less to encode and parse).
-- An id is new when `SET <seen key> 1 NX EX window` succeeds: one key per id, whatever the
-- event time, so any resend within the window counts once at any clock time.
-- Returns {applied, duplicates}. Whole or nothing: Valkey runs a script alone, but does not
-- undo the writes of one that fails half-way, so everything a write could fail on (a key of
-- another type, a count that is not a number) is checked first, for every key the batch may
-- touch, and a batch that would fail gets an error reply (WRONGTYPE or NOTNUMBER, naming the
-- key) before anything is written.
local stream_maxlen = ARGV[1]
local averages_maxlen = ARGV[2]
local window = ARGV[3]
local interval_ttl = tonumber(ARGV[4])
local dead_letters = tonumber(ARGV[5])
local applied, duplicates = 0, 0
local latest, weather_total, weather_local, intervals = {}, {}, {}, {}

local rows = cjson.decode(ARGV[6])

local function refuse(code, key, what)
  return redis.error_reply(code .. ' ' .. key .. ' ' .. what .. ': the batch is not applied')
end
local function kind_of(key, wanted)
  local found = redis.call('TYPE', key)['ok']
  if found ~= 'none' and found ~= wanted then
    return refuse('WRONGTYPE', key, 'holds a ' .. found .. ', not a ' .. wanted)
  end
end
local function whole(key, field)
  local value = redis.call('HGET', key, field)
  if value and not string.match(value, '^%-?%d+$') then
    return refuse('NOTNUMBER', key, 'field ' .. field .. ' is not an integer')
  end
end
local function number(key, field)
  local value = redis.call('HGET', key, field)
  if value and not tonumber(value) then
    return refuse('NOTNUMBER', key, 'field ' .. field .. ' is not a number')
  end
end
local function check()
  local problem = kind_of(KEYS[1], 'hash') or kind_of(KEYS[2], 'set')
    or kind_of(KEYS[3], 'stream') or kind_of(KEYS[4], 'hash')
    or whole(KEYS[4], 'applied') or whole(KEYS[4], 'duplicates')
    or whole(KEYS[4], 'dead_letters')
  if problem then return problem end
  local places, intervals_seen, weathers = {}, {}, {}
  for _, r in ipairs(rows) do
    places[r[9]], intervals_seen[r[10]], weathers[r[5]] = true, true, true
  end
  for weather, _ in pairs(weathers) do
    problem = whole(KEYS[1], weather)
    if problem then return problem end
  end
  for m, _ in pairs(places) do
    problem = kind_of(KEYS[m], 'stream') or kind_of(KEYS[m + 1], 'hash')
      or kind_of(KEYS[m + 2], 'hash')
    if problem then return problem end
    for weather, _ in pairs(weathers) do
      problem = whole(KEYS[m + 2], weather)
      if problem then return problem end
    end
  end
  for iv, _ in pairs(intervals_seen) do
    problem = kind_of(KEYS[iv], 'hash') or number(KEYS[iv], 'temperature_sum')
      or number(KEYS[iv], 'humidity_sum') or whole(KEYS[iv], 'count')
    if problem then return problem end
  end
end
local problem = check()
if problem then return problem end

for i, r in ipairs(rows) do
  local id, m, iv = r[1], r[9], r[10]
  if redis.call('SET', KEYS[4 + i], '1', 'NX', 'EX', window) then
    applied = applied + 1
    local name, temp, hum, weather, iso, start = r[2], r[3], r[4], r[5], r[6], r[7]
    redis.call('XADD', KEYS[m], 'MAXLEN', '~', stream_maxlen, '*',
      'ts', iso, 'temperature', temp, 'humidity', hum, 'weather', weather, 'id', id)
    latest[KEYS[m + 1]] = {name, temp, hum, weather, iso, r[8]}
    weather_total[weather] = (weather_total[weather] or 0) + 1
    local wl = weather_local[KEYS[m + 2]] or {}
    wl[weather] = (wl[weather] or 0) + 1
    weather_local[KEYS[m + 2]] = wl
    local agg = intervals[KEYS[iv]] or {0, 0, 0, start}
    agg[1] = agg[1] + tonumber(temp)
    agg[2] = agg[2] + tonumber(hum)
    agg[3] = agg[3] + 1
    intervals[KEYS[iv]] = agg
  else
    duplicates = duplicates + 1
  end
end

for key, r in pairs(latest) do
  redis.call('HSET', key, 'name', r[1], 'temperature', r[2],
    'humidity', r[3], 'weather', r[4], 'last_update', r[5])
  redis.call('SADD', KEYS[2], r[6])
end
for weather, n in pairs(weather_total) do
  redis.call('HINCRBY', KEYS[1], weather, n)
end
for key, counts in pairs(weather_local) do
  for weather, n in pairs(counts) do
    redis.call('HINCRBY', key, weather, n)
  end
end
local keys = {}
for key, _ in pairs(intervals) do table.insert(keys, key) end
table.sort(keys, function(a, b) return intervals[a][4] < intervals[b][4] end)
for _, key in ipairs(keys) do
  local agg = intervals[key]
  local tsum = tonumber(redis.call('HINCRBYFLOAT', key, 'temperature_sum', agg[1]))
  local hsum = tonumber(redis.call('HINCRBYFLOAT', key, 'humidity_sum', agg[2]))
  local count = redis.call('HINCRBY', key, 'count', agg[3])
  redis.call('EXPIRE', key, interval_ttl)
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', averages_maxlen, '*',
    'interval', agg[4], 'temperature', string.format('%.4f', tsum / count),
    'humidity', string.format('%.4f', hsum / count), 'count', count)
end
-- all three totals exist from the first apply, so panels show 0 rather than nothing
redis.call('HINCRBY', KEYS[4], 'applied', applied)
redis.call('HINCRBY', KEYS[4], 'duplicates', duplicates)
redis.call('HINCRBY', KEYS[4], 'dead_letters', dead_letters)
return {applied, duplicates}
