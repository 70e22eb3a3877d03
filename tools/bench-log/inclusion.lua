-- Random inclusion proofs against the latest tree size (SIZE from the environment).
local size = tonumber(os.getenv("SIZE"))
function setup(thread) thread:set("seed", math.random(1, 1e9)) end
function init() math.randomseed(seed) end
function request()
  return wrk.format("GET", "/v1/log/proofs/inclusion?index=" .. math.random(0, size - 1) .. "&size=" .. size)
end
