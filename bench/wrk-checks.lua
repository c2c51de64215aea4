-- wrk script for saturation runs (docs/performance.md): cycles through the
-- check requests written by `http_load --write-bodies FILE` (one line per
-- request: path, a tab, the JSON body). Set BODIES to the file.
local requests = {}
local next_index = 1

function init(args)
  local file = assert(io.open(os.getenv("BODIES") or "bodies.tsv"))
  for line in file:lines() do
    local path, body = line:match("^([^\t]+)\t(.*)$")
    if path then
      requests[#requests + 1] = wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
    end
  end
  file:close()
  next_index = math.random(#requests)
end

function request()
  next_index = next_index % #requests + 1
  return requests[next_index]
end

function response(status, headers, body)
  if status ~= 200 then
    wrk.thread:stop()
  end
end
