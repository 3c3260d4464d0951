-- collab.nvim: pair-program in a collab session from Neovim (0.7+). See :help collab.
local rpc = require("collab.rpc")
local buffers = require("collab.buffers")
local ui = require("collab.ui")
local inline = require("collab.inline")

local api = vim.api
local M = {}

M.config = { cmd = { "collab", "editor" }, name = nil,
             inline = true,           -- ghost text as you type, when the room has an AI that completes
             inline_key = "<Tab>",    -- accepts it in Insert mode (false: no mapping; :CollabAcceptInline)
             inline_debounce_ms = nil -- the pause before asking (nil: adaptive, 200-600 ms)
}
M.state = { status = nil, read_only = false, people = {}, files = {}, chat = {}, suggestions = {},
            last_suggestion = nil, following = nil, room = nil, log = {}, trash = {} }

local client = nil
local opening = {}

local function say(message, level)
  table.insert(M.state.log, message)
  vim.notify("collab: " .. message, level or vim.log.levels.INFO)
end

function M.setup(opts)
  M.config = vim.tbl_extend("force", M.config, opts or {})
end

local function send_edit(st, change)
  -- Only typing in Insert (or Replace) mode may start an inline completion after the pause.
  local mode = api.nvim_get_mode().mode:sub(1, 1)
  local typing = mode == "i" or mode == "R"
  client:request("edit", { path = st.path, revision = st.revision, changes = { change }, typing = typing }, function(err)
    if err then
      say("edit refused (" .. tostring(err.message) .. "); reloading " .. st.path, vim.log.levels.WARN)
      M.reload(st.path)
    end
  end)
end

local function buffer_name(path) return "collab://" .. path end

local function set_modifiable(buf)
  api.nvim_buf_set_option(buf, "modifiable", not M.state.read_only)
end

-- notifications from the bridge -----------------------------------------------------------------

local handlers = {}

function handlers.edit(p)
  local buf, st = buffers.find(p.path)
  if not buf then return end
  buffers.apply(buf, st, p)
end

function handlers.cursor(p)
  local buf, st = buffers.find(p.path)
  if not buf then return end
  if #p.ranges == 0 then
    ui.clear_cursor(buf, p.client)
  elseif p.revision == nil or buffers.current(st, p) then
    ui.show_cursor(buf, p)
  end
end

function handlers.people(p) M.state.people = p.people end
function handlers.files(p) M.state.files = p.paths end

function handlers.chat(p)
  if not M.state.chat[p.id] then table.insert(M.state.chat, p.id) end
  M.state.chat[p.id] = p
  if p.kind == "human" and p.author ~= M.state.name then say(p.author .. ": " .. p.text) end
end

function handlers.suggestion(p)
  M.state.suggestions[p.id] = p
  local buf, st = buffers.find(p.path)
  if buf then ui.show_suggestion(buf, st, p) end
end

function handlers.status(p)
  local before = M.state.status
  M.state.status = p.state
  M.state.read_only = p.read_only
  if before ~= p.state and before ~= nil then
    say(p.state .. (p.reason and (": " .. p.reason) or ""), p.state == "connected" and vim.log.levels.INFO or vim.log.levels.WARN)
  end
  for buf in pairs(buffers.by_buf) do set_modifiable(buf) end
end

local function follow(p)
  if M.state.following ~= p.name then return end
  if opening[p.path] then -- its buffer is on the way: place the cursor once it is there
    vim.defer_fn(function() follow(p) end, 20)
    return
  end
  local buf = buffers.find(p.path)
  if not buf then
    buf = M.open(p.path)
    if not buf then return end
  end
  if api.nvim_get_current_buf() ~= buf then api.nvim_win_set_buf(0, buf) end
  local _, st = buffers.find(p.path)
  if p.position and st and buffers.current(st, p) then
    local row, col = buffers.to_buffer(buf, p.position)
    pcall(api.nvim_win_set_cursor, 0, { row + 1, col })
  end
end

-- Later, not inside the bridge's output callback: opening a file waits for the bridge's answer,
-- which that callback would hold up.
function handlers.follow(p) vim.schedule(function() follow(p) end) end

function handlers.renamed(p)
  local buf, st = buffers.find(p.old)
  if buf then
    st.path = p.new
    pcall(api.nvim_buf_set_name, buf, buffer_name(p.new))
  end
end

function handlers.closed(p)
  local buf = buffers.find(p.path)
  if buf then
    buffers.by_buf[buf] = nil
    api.nvim_buf_set_option(buf, "modifiable", false)
    say(p.path .. ": " .. p.reason, vim.log.levels.WARN)
  end
end

function handlers.log(p) say(p.message, vim.log.levels.WARN) end
function handlers.inline(p) inline.show(p) end
function handlers.inline_clear(p)
  inline.cleared(p)
  -- Why none came (rate limited, off for the room, ...): in the log, not a message at every pause.
  if p.error then table.insert(M.state.log, "inline completion: " .. p.error) end
end

local function on_notification(method, params)
  local handler = handlers[method]
  if handler then
    local ok, err = pcall(handler, params)
    if not ok then table.insert(M.state.log, method .. ": " .. tostring(err)) end
  end
end

local function on_exit(code, stderr)
  client = nil
  M.state.status = "stopped"
  for buf in pairs(buffers.by_buf) do pcall(api.nvim_buf_set_option, buf, "modifiable", false) end
  if code ~= 0 then
    say("the bridge exited (" .. code .. "): " .. table.concat(stderr, " | "), vim.log.levels.ERROR)
  end
end

-- commands --------------------------------------------------------------------------------------

local function need_client()
  if not client then
    say("not in a session: :CollabJoin {link} first", vim.log.levels.ERROR)
    return false
  end
  return true
end

function M.join(link, name)
  if client then
    say("already in a session: :CollabLeave first", vim.log.levels.ERROR)
    return
  end
  client = rpc.start(M.config.cmd, on_notification, on_exit)
  local err = client:request_sync("initialize", { protocol = 1 })
  if err then return say("the bridge did not start: " .. err.message, vim.log.levels.ERROR) end
  local params = { name = name or M.config.name }
  if link and link ~= "" then params.link = link end
  client:request("join", params, function(e, result)
    if e then
      say(e.message, vim.log.levels.ERROR)
      M.leave()
      return
    end
    M.state.room, M.state.name, M.state.read_only = result.room, result.name, result.read_only
    M.state.files = result.paths
    say("joined " .. result.room .. " as " .. result.name .. (result.read_only and " (read-only)" or ""))
    client:request("inline_enable", { enabled = M.config.inline ~= false, debounce_ms = M.config.inline_debounce_ms })
  end)
end

function M.open(path)
  if not need_client() then return nil end
  local buf = buffers.find(path)
  if buf then
    api.nvim_win_set_buf(0, buf)
    return buf
  end
  if opening[path] then return nil end -- asked again while waiting for the answer (a follow)
  opening[path] = true
  local err, result = client:request_sync("open", { path = path, create = true })
  opening[path] = nil
  if err then
    say(err.message, vim.log.levels.ERROR)
    return nil
  end
  buf = api.nvim_create_buf(true, false)
  api.nvim_buf_set_name(buf, buffer_name(result.path))
  api.nvim_buf_set_option(buf, "buftype", "acwrite")
  api.nvim_buf_set_option(buf, "swapfile", false)
  api.nvim_buf_set_option(buf, "fixendofline", false)
  api.nvim_buf_set_option(buf, "endofline", false)
  buffers.attach(buf, result.path, result.text, result.revision, result.editor_revision, send_edit)
  M.state.read_only = result.read_only or M.state.read_only
  set_modifiable(buf)
  pcall(function()
    local ft = vim.filetype.match(result.path, buf)
    if ft then api.nvim_buf_set_option(buf, "filetype", ft) end
  end)
  local group = api.nvim_create_augroup("collab_buffer_" .. buf, { clear = true })
  api.nvim_create_autocmd("BufWriteCmd", { group = group, buffer = buf, callback = function()
    api.nvim_buf_set_option(buf, "modified", false)
    say(result.path .. ": edits go to the session as you type")
  end })
  api.nvim_create_autocmd({ "CursorMoved", "CursorMovedI" }, { group = group, buffer = buf, callback = function()
    M.send_cursor(buf)
  end })
  api.nvim_create_autocmd("InsertLeave", { group = group, buffer = buf, callback = function()
    inline.dismiss(client)
  end })
  if M.config.inline_key then
    local key = M.config.inline_key
    vim.keymap.set("i", key, function()
      if not (inline.showing(buf) and inline.accept(client)) then
        api.nvim_feedkeys(api.nvim_replace_termcodes(key, true, false, true), "n", false)
      end
    end, { buffer = buf, desc = "collab: accept the inline completion" })
  end
  api.nvim_create_autocmd("BufWipeout", { group = group, buffer = buf, callback = function()
    local st = buffers.by_buf[buf]
    buffers.by_buf[buf] = nil
    if st and client then client:request("close", { path = st.path }) end
  end })
  for _, s in pairs(M.state.suggestions) do
    if s.path == result.path then ui.show_suggestion(buf, buffers.by_buf[buf], s) end
  end
  api.nvim_win_set_buf(0, buf)
  return buf
end

-- After a refused edit: take the session's text again (rare: a bug or a file gone read-only).
function M.reload(path)
  local buf, st = buffers.find(path)
  if not buf or not client then return end
  local err, result = client:request_sync("open", { path = path })
  if err then return say(err.message, vim.log.levels.ERROR) end
  buffers.attach(buf, result.path, result.text, result.revision, result.editor_revision, send_edit)
  st.revision, st.sent = result.revision, result.editor_revision
  set_modifiable(buf)
end

function M.send_cursor(buf)
  local st = buffers.by_buf[buf]
  if not st or not client then return end
  local cursor = api.nvim_win_get_cursor(0)
  local head = buffers.to_position(buf, cursor[1] - 1, cursor[2])
  local anchor = head
  local mode = api.nvim_get_mode().mode
  if mode == "v" or mode == "V" then
    local v = vim.fn.getpos("v")
    anchor = buffers.to_position(buf, v[2] - 1, v[3] - 1)
  end
  client:request("cursor", { path = st.path, revision = st.revision, ranges = { { start = anchor, ["end"] = head } } })
end

function M.files()
  if not need_client() then return end
  local err, result = client:request_sync("files", {})
  if err then return say(err.message, vim.log.levels.ERROR) end
  M.state.files = result.paths
  api.nvim_echo({ { table.concat(result.paths, "\n") } }, false, {})
  return result.paths
end

function M.follow(name)
  if not need_client() then return end
  M.state.following = name
  client:request("follow", { name = name }, function(err) if err then say(err.message, vim.log.levels.ERROR) end end)
end

function M.unfollow()
  if not need_client() then return end
  M.state.following = nil
  client:request("unfollow", {})
end

function M.suggest()
  if not need_client() then return end
  local buf = api.nvim_get_current_buf()
  local st = buffers.by_buf[buf]
  if not st then return say("this buffer is not a session file", vim.log.levels.ERROR) end
  local cursor = api.nvim_win_get_cursor(0)
  local col = cursor[2]
  local line = api.nvim_buf_get_lines(buf, cursor[1] - 1, cursor[1], false)[1] or ""
  if api.nvim_get_mode().mode == "n" and col + #vim.fn.strcharpart(line:sub(col + 1), 0, 1) == #line then
    col = #line -- normal mode on the line's last character: at the line's end, as `A` would type
  end
  local position = buffers.to_position(buf, cursor[1] - 1, col)
  client:request("suggest", { path = st.path, revision = st.revision, position = position }, function(err, result)
    if err then return say(err.message, vim.log.levels.ERROR) end
    M.state.last_suggestion = result.id
  end)
end

local function decide(method, id)
  if not need_client() then return end
  id = (id and id ~= "") and id or ui.latest_open(M.state.suggestions, M.state.last_suggestion)
  if not id then return say("no suggestion to " .. method, vim.log.levels.WARN) end
  client:request(method, { id = id }, function(err) if err then say(err.message, vim.log.levels.ERROR) end end)
end

function M.accept(id) decide("accept", id) end
function M.reject(id) decide("reject", id) end

function M.accept_inline()
  if not need_client() then return end
  if not inline.accept(client) then say("no inline completion to accept", vim.log.levels.WARN) end
end

function M.dismiss_inline()
  if client then inline.dismiss(client) end
end

-- :CollabInline on|off (nothing: say whether it is on and who completes)
function M.set_inline(arg)
  if not need_client() then return end
  local params = {}
  if arg == "on" or arg == "off" then
    M.config.inline = arg == "on"
    params.enabled = M.config.inline
  else
    params.enabled = M.config.inline ~= false
  end
  local err, result = client:request_sync("inline_enable", params)
  if err then return say(err.message, vim.log.levels.ERROR) end
  if not result.enabled then
    inline.reset()
    say("inline completions are off")
  elseif result.agent then
    say("inline completions by " .. result.agent.name .. (result.agent.model ~= "" and (" (" .. result.agent.model .. ")") or "")
      .. (result.available and "" or ": not available here (a read-only link, or off for this room)"))
  else
    say("inline completions are on, but no AI in this session completes inline")
  end
  return result
end

-- The trash: deleted files anyone can restore.
function M.trash()
  if not need_client() then return end
  local err, result = client:request_sync("trash", {})
  if err then return say(err.message, vim.log.levels.ERROR) end
  M.state.trash = result.entries
  if #result.entries == 0 then
    api.nvim_echo({ { "the trash is empty" } }, false, {})
  else
    local lines = {}
    for _, e in ipairs(result.entries) do
      table.insert(lines, string.format("%s  (deleted by %s, %s)", e.path, e.by ~= "" and e.by or "someone",
        os.date("%Y-%m-%d %H:%M", math.floor(e.ts))))
    end
    api.nvim_echo({ { table.concat(lines, "\n") } }, false, {})
  end
  return result.entries
end

-- :CollabRestore {path} [{new path}]: the newest deleted file of that path (or trash entry id).
function M.restore(which, target)
  if not need_client() then return end
  local err, result = client:request_sync("trash", {})
  if err then return say(err.message, vim.log.levels.ERROR) end
  M.state.trash = result.entries
  local entry = nil
  for _, e in ipairs(result.entries) do
    if e.path == which or e.id == which then entry = e break end
  end
  if not entry then return say("nothing in the trash is " .. tostring(which), vim.log.levels.ERROR) end
  local params = { id = entry.id }
  if target and target ~= "" then params.path = target end
  local e2, restored = client:request_sync("restore", params)
  if e2 then return say(e2.message, vim.log.levels.ERROR) end
  say("restored " .. restored.path)
  return restored.path
end

function M.complete_trash(lead)
  local out = {}
  for _, e in ipairs(M.state.trash or {}) do
    if e.path:sub(1, #lead) == lead then table.insert(out, e.path) end
  end
  return out
end

function M.chat(text)
  if not need_client() then return end
  if not text or text == "" then
    local lines = {}
    for _, id in ipairs(M.state.chat) do
      local m = M.state.chat[id]
      if m then table.insert(lines, m.author .. ": " .. m.text) end
    end
    api.nvim_echo({ { table.concat(lines, "\n") } }, false, {})
    return
  end
  client:request("chat", { text = text }, function(err) if err then say(err.message, vim.log.levels.ERROR) end end)
end

function M.leave()
  if not client then return end
  local c = client
  c:request_sync("shutdown", {}, 10000)
  c:stop()
  client = nil
  inline.reset()
  for buf in pairs(buffers.by_buf) do
    pcall(api.nvim_buf_set_option, buf, "modifiable", false)
    ui.clear(buf)
  end
  buffers.by_buf = {}
  M.state.status = "left"
end

function M.statusline()
  if not M.state.status then return "" end
  return "collab: " .. M.state.status .. (M.state.read_only and " (read-only)" or "")
end

function M.complete_paths(lead)
  local out = {}
  for _, path in ipairs(M.state.files or {}) do
    if path:sub(1, #lead) == lead then table.insert(out, path) end
  end
  return out
end

function M.complete_people(lead)
  local out = {}
  for _, person in ipairs(M.state.people or {}) do
    if person.name:sub(1, #lead) == lead then table.insert(out, person.name) end
  end
  return out
end

return M
