-- wrk script: POST /v1/contacts with a distinct name per request.
-- TOKEN comes from the environment (a `rapport dev-token` for the tenant).
-- Usage: TOKEN=... wrk -t2 -c16 -d10s -s loadtests/wrk/create_contact.lua http://127.0.0.1:8080
local counter = 0
local token = os.getenv("TOKEN")

request = function()
  counter = counter + 1
  local body = string.format('{"given_name":"Wrk%d","family_name":"Load"}', counter)
  return wrk.format("POST", "/v1/contacts", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end

response = function(status, headers, body)
  if status ~= 201 then
    io.stderr:write("status " .. status .. ": " .. body .. "\n")
  end
end
