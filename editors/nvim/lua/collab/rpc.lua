-- JSON-RPC 2.0 with Content-Length framing to the bridge (`collab editor`), over a job's stdio.
local M = {}

local Client = {}
Client.__index = Client

function M.start(cmd, on_notification, on_exit)
  local self = setmetatable({ pending = "", next_id = 0, callbacks = {}, stderr = {} }, Client)
  self.on_notification = on_notification
  local ok, job = pcall(vim.fn.jobstart, cmd, {
    -- The job splits its output at "\n" into a list; joining the list with "\n" gives the bytes back.
    on_stdout = function(_, data) self:_feed(table.concat(data, "\n")) end,
    on_stderr = function(_, data)
      for _, line in ipairs(data) do
        if line ~= "" then
          table.insert(self.stderr, line)
          if #self.stderr > 200 then table.remove(self.stderr, 1) end
        end
      end
    end,
    on_exit = function(_, code)
      self.job = nil
      for _, callback in pairs(self.callbacks) do
        callback({ code = -32099, message = "the bridge exited" }, nil)
      end
      self.callbacks = {}
      on_exit(code, self.stderr)
    end,
  })
  if not ok or job <= 0 then
    error("collab: cannot start the bridge (" .. table.concat(cmd, " ") .. "): is collab on PATH?")
  end
  self.job = job
  return self
end

function Client:_feed(chunk)
  self.pending = self.pending .. chunk
  while true do
    local header_end = self.pending:find("\r\n\r\n", 1, true)
    if not header_end then return end
    local header = self.pending:sub(1, header_end - 1)
    local length = tonumber(header:lower():match("content%-length:%s*(%d+)"))
    if not length then
      self.pending = self.pending:sub(header_end + 4)
    else
      local body_start = header_end + 4
      if #self.pending < body_start + length - 1 then return end
      local body = self.pending:sub(body_start, body_start + length - 1)
      self.pending = self.pending:sub(body_start + length)
      local ok, message = pcall(vim.json.decode, body)
      if ok and type(message) == "table" then self:_dispatch(message) end
    end
  end
end

function Client:_dispatch(message)
  if message.method ~= nil then
    self.on_notification(message.method, message.params or {})
  elseif message.id ~= nil and message.id ~= vim.NIL then
    local callback = self.callbacks[message.id]
    self.callbacks[message.id] = nil
    if callback then
      local err = message.error
      if err == vim.NIL then err = nil end
      callback(err, message.result)
    end
  end
end

local function frame(message)
  local body = vim.json.encode(message)
  return "Content-Length: " .. #body .. "\r\n\r\n" .. body
end

-- Send a request; callback(err, result) runs when the answer comes.
function Client:request(method, params, callback)
  if not self.job then
    if callback then callback({ message = "the bridge is not running" }, nil) end
    return
  end
  self.next_id = self.next_id + 1
  self.callbacks[self.next_id] = callback or function() end
  -- An empty Lua table encodes as a JSON array; params must be an object.
  if params == nil or next(params) == nil then params = vim.empty_dict() end
  vim.fn.chansend(self.job, frame({ jsonrpc = "2.0", id = self.next_id, method = method, params = params }))
end

-- The same, waiting for the answer (for commands that need it at once).
function Client:request_sync(method, params, timeout)
  local done, err, result = false, nil, nil
  self:request(method, params, function(e, r) done, err, result = true, e, r end)
  vim.wait(timeout or 30000, function() return done end, 10)
  if not done then return { message = "no answer from the bridge in time" }, nil end
  return err, result
end

function Client:stop()
  if self.job then vim.fn.jobstop(self.job) end
end

return M
