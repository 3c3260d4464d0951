-- Session files in buffers: local edits out as ranged changes, remote edits in, revisions
-- (docs/editor-protocol.md, "Revisions": this side never transforms, it drops a remote edit made
-- for a buffer without its latest edit; the bridge sends it again, rebased).
local M = {}

local api = vim.api

-- buf -> { path, revision, sent, shadow (lines as the bridge knows them), applying }
M.by_buf = {}
-- remote edits dropped because the buffer had moved on (each comes again, rebased)
M.dropped = 0

function M.find(path)
  for buf, st in pairs(M.by_buf) do
    if st.path == path then return buf, st end
  end
  return nil, nil
end

local function is_continuation(byte)
  return byte ~= nil and byte >= 0x80 and byte < 0xC0
end

-- UTF-16 units of line[1..col bytes]
local function utf16_col(line, col)
  if col <= 0 then return 0 end
  if col >= #line then
    local _, units = vim.str_utfindex(line)
    return units
  end
  local _, units = vim.str_utfindex(line, col)
  return units
end

-- byte column of UTF-16 character `units` in `line` (clamped to the line's end)
local function byte_col(line, units)
  local _, total = vim.str_utfindex(line)
  if units >= total then return #line end
  if units <= 0 then return 0 end
  return vim.str_byteindex(line, units, true)
end
M.byte_col = byte_col
M.utf16_col = utf16_col

-- text offset (bytes, lines joined by "\n" plus one final "\n") -> LSP position in `lines`
local function position_of(lines, offset)
  local start = 0
  for row, line in ipairs(lines) do
    if offset <= start + #line then
      return { line = row - 1, character = utf16_col(line, offset - start) }
    end
    start = start + #line + 1
  end
  local last = lines[#lines] or ""
  return { line = math.max(#lines - 1, 0), character = utf16_col(last, #last) }
end

-- Lines [first, last) of `old` became `new`: one minimal change, its range in the old text.
function M.change_of(old, first, last, new)
  local start = 0
  for row = 1, first do start = start + #old[row] + 1 end
  local old_seg, new_seg = {}, {}
  for row = first + 1, last do table.insert(old_seg, old[row] .. "\n") end
  for _, line in ipairs(new) do table.insert(new_seg, line .. "\n") end
  local a, b = table.concat(old_seg), table.concat(new_seg)
  local p, limit = 0, math.min(#a, #b)
  while p < limit and a:byte(p + 1) == b:byte(p + 1) do p = p + 1 end
  while p > 0 and (is_continuation(a:byte(p + 1)) or is_continuation(b:byte(p + 1))) do p = p - 1 end
  local q = 0
  limit = limit - p
  while q < limit and a:byte(#a - q) == b:byte(#b - q) do q = q + 1 end
  while q > 0 and (is_continuation(a:byte(#a - q + 1)) or is_continuation(b:byte(#b - q + 1))) do q = q - 1 end
  local from, to = start + p, start + #a - q
  local text = b:sub(p + 1, #b - q)
  if from == to and text == "" then return nil end
  local total = 0
  for _, line in ipairs(old) do total = total + #line + 1 end
  if to > total - 1 then
    -- The change reaches the final "\n" that only joins the model: the same change one byte
    -- earlier (that byte is a "\n" too) stays inside the text.
    from, to = from - 1, to - 1
    text = "\n" .. text:sub(1, -2)
  end
  return { range = { start = position_of(old, from), ["end"] = position_of(old, to) }, text = text }
end

function M.attach(buf, path, text, revision, editor_revision, send_edit)
  local lines = vim.split(text, "\n", { plain = true })
  local before = M.by_buf[buf]
  local st = { path = path, revision = revision, sent = editor_revision, applying = false, shadow = nil,
               attached = before and before.attached }
  M.by_buf[buf] = st
  st.applying = true
  local modifiable = api.nvim_buf_get_option(buf, "modifiable")
  api.nvim_buf_set_option(buf, "modifiable", true)
  api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  api.nvim_buf_set_option(buf, "modifiable", modifiable)
  api.nvim_buf_set_option(buf, "modified", false)
  st.applying = false
  st.shadow = api.nvim_buf_get_lines(buf, 0, -1, false)
  if st.attached then return st end
  st.attached = true
  api.nvim_buf_attach(buf, false, {
    on_lines = function(_, b, _, first, last, new_last)
      local s = M.by_buf[b]
      if not s then return true end -- detach
      local new = api.nvim_buf_get_lines(b, first, new_last, false)
      if not s.applying then
        local change = M.change_of(s.shadow, first, last, new)
        if change then
          s.sent = s.sent + 1
          send_edit(s, change)
        end
      end
      for _ = first + 1, last do table.remove(s.shadow, first + 1) end
      for i, line in ipairs(new) do table.insert(s.shadow, first + i, line) end
    end,
    on_detach = function(_, b) M.by_buf[b] = nil end,
  })
  return st
end

-- A remote edit; false when it was made for an older buffer (the bridge sends it again).
function M.apply(buf, st, params)
  if params.editor_revision ~= st.sent then
    M.dropped = M.dropped + 1
    return false
  end
  local modifiable = api.nvim_buf_get_option(buf, "modifiable")
  st.applying = true
  local ok, err = pcall(function()
    api.nvim_buf_set_option(buf, "modifiable", true)
    for _, change in ipairs(params.changes) do
      local s, e = change.range.start, change.range["end"]
      local srow = api.nvim_buf_get_lines(buf, s.line, s.line + 1, false)[1] or ""
      local erow = api.nvim_buf_get_lines(buf, e.line, e.line + 1, false)[1] or ""
      api.nvim_buf_set_text(buf, s.line, byte_col(srow, s.character), e.line, byte_col(erow, e.character),
        vim.split(change.text, "\n", { plain = true }))
    end
  end)
  api.nvim_buf_set_option(buf, "modifiable", modifiable)
  st.applying = false
  st.revision = params.revision
  if not ok then error(err) end
  return true
end

-- Does a notification stamped with revisions match this buffer now?
function M.current(st, params)
  return params.revision == st.revision and params.editor_revision == st.sent
end

-- LSP position -> (row, byte col) in the buffer now
function M.to_buffer(buf, position)
  local line = api.nvim_buf_get_lines(buf, position.line, position.line + 1, false)[1] or ""
  return position.line, byte_col(line, position.character)
end

-- (row 0-based, byte col) -> LSP position
function M.to_position(buf, row, col)
  local line = api.nvim_buf_get_lines(buf, row, row + 1, false)[1] or ""
  return { line = row, character = utf16_col(line, col) }
end

return M
