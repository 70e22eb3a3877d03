-- Random consistency proofs from a random older size to the latest (SIZE from the environment).
local size = tonumber(os.getenv("SIZE"))
function setup(thread) thread:set("seed", math.random(1, 1e9)) end
function init() math.randomseed(seed) end
function request()
  return wrk.format("GET", "/v1/log/proofs/consistency?from=" .. math.random(1, size) .. "&to=" .. size)
end
