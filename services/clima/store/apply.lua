-- Applies a batch of reports to the Clima model, each report at most once (by id).
-- ARGV: stream_maxlen, averages_maxlen, seen_ttl_s, interval_s, interval_ttl_s, dead_letters,
-- then ARGV[7]: a JSON array of reports, each [id, event_ms, slug, name, temperature, humidity,
-- weather, iso_time] (one argument instead of 8 per report: far less to encode and parse).
-- Returns {applied, duplicates}. Runs atomically: a batch is applied whole or not at all.
local stream_maxlen = ARGV[1]
local averages_maxlen = ARGV[2]
local seen_ttl = tonumber(ARGV[3])
local interval_s = tonumber(ARGV[4])
local interval_ttl = tonumber(ARGV[5])
local dead_letters = tonumber(ARGV[6])
local applied, duplicates = 0, 0
local latest, weather_total, weather_local, intervals, seen_keys = {}, {}, {}, {}, {}

for _, r in ipairs(cjson.decode(ARGV[7])) do
  local id, event_ms, slug = r[1], r[2], r[3]
  local seen_key = 'clima:seen:' .. math.floor(event_ms / 3600000)
  if redis.call('SADD', seen_key, id) == 1 then
    seen_keys[seen_key] = true
    applied = applied + 1
    local name, temp, hum, weather, iso = r[4], r[5], r[6], r[7], r[8]
    redis.call('XADD', 'clima:' .. slug, 'MAXLEN', '~', stream_maxlen, '*',
      'ts', iso, 'temperature', temp, 'humidity', hum, 'weather', weather, 'id', id)
    latest[slug] = {name, temp, hum, weather, iso}
    weather_total[weather] = (weather_total[weather] or 0) + 1
    local wl = weather_local[slug] or {}
    wl[weather] = (wl[weather] or 0) + 1
    weather_local[slug] = wl
    local start = math.floor(event_ms / 1000 / interval_s) * interval_s
    local agg = intervals[start] or {0, 0, 0}
    agg[1] = agg[1] + tonumber(temp)
    agg[2] = agg[2] + tonumber(hum)
    agg[3] = agg[3] + 1
    intervals[start] = agg
  else
    duplicates = duplicates + 1
  end
end

for key, _ in pairs(seen_keys) do
  redis.call('EXPIRE', key, seen_ttl)
end
for slug, r in pairs(latest) do
  redis.call('HSET', 'municipality:' .. slug, 'name', r[1], 'temperature', r[2],
    'humidity', r[3], 'weather', r[4], 'last_update', r[5])
  redis.call('SADD', 'clima:municipalities', slug)
end
for weather, n in pairs(weather_total) do
  redis.call('HINCRBY', 'clima:weather_counts', weather, n)
end
for slug, counts in pairs(weather_local) do
  for weather, n in pairs(counts) do
    redis.call('HINCRBY', 'clima:weather_counts:' .. slug, weather, n)
  end
end
local starts = {}
for start, _ in pairs(intervals) do table.insert(starts, start) end
table.sort(starts)
for _, start in ipairs(starts) do
  local agg = intervals[start]
  local key = 'clima:interval:' .. start
  local tsum = tonumber(redis.call('HINCRBYFLOAT', key, 'temperature_sum', agg[1]))
  local hsum = tonumber(redis.call('HINCRBYFLOAT', key, 'humidity_sum', agg[2]))
  local count = redis.call('HINCRBY', key, 'count', agg[3])
  redis.call('EXPIRE', key, interval_ttl)
  redis.call('XADD', 'clima:averages', 'MAXLEN', '~', averages_maxlen, '*',
    'interval', start, 'temperature', string.format('%.4f', tsum / count),
    'humidity', string.format('%.4f', hsum / count), 'count', count)
end
-- all three totals exist from the first apply, so panels show 0 rather than nothing
redis.call('HINCRBY', 'clima:stats', 'applied', applied)
redis.call('HINCRBY', 'clima:stats', 'duplicates', duplicates)
redis.call('HINCRBY', 'clima:stats', 'dead_letters', dead_letters)
return {applied, duplicates}
