-- POST {"message":"hi"} to the URL wrk is given (the echo custom route):
-- a static request, so wrk runs no Lua per request. No arguments.
wrk.method = "POST"
wrk.body = '{"message":"hi"}'
wrk.headers["Content-Type"] = "application/json"
