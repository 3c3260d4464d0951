-- Inline completions: the bridge decides when to ask and whether what you type still matches
-- (docs/editor-protocol.md, "Inline completions"); this draws the ghost text it sends, for you
-- only, and asks it to insert the completion on <Tab> (or :CollabAcceptInline).
local api = vim.api
local buffers = require("collab.buffers")
local ui = require("collab.ui")

local M = {}

api.nvim_set_hl(0, "CollabInline", { default = true, link = "Comment" })

-- Neovim 0.10 draws virtual text inside the line; before it, a ghost at the end of its line is
-- drawn over the empty space there, one elsewhere after the line's end.
local INLINE = vim.fn.has("nvim-0.10") == 1
local MARK = 1

M.current = nil -- { id, buf, text, done, model }

function M.clear(buf)
  if buf then pcall(api.nvim_buf_del_extmark, buf, ui.inline, MARK) end
end

local function forget()
  if M.current then M.clear(M.current.buf) end
  M.current = nil
end

function M.show(p)
  local buf, st = buffers.find(p.path)
  if not buf then return end
  -- Made for a buffer we have moved on from (a keystroke in flight): the bridge sends it again.
  if not buffers.current(st, p) then return end
  if M.current and M.current.buf ~= buf then M.clear(M.current.buf) end
  M.current = { id = p.id, buf = buf, text = p.text, done = p.done, model = p.model }
  local row, col = buffers.to_buffer(buf, p.position)
  local line = api.nvim_buf_get_lines(buf, row, row + 1, false)[1] or ""
  local lines = vim.split(p.text, "\n", { plain = true })
  local opts = { id = MARK, virt_text = { { lines[1], "CollabInline" } }, hl_mode = "combine" }
  if INLINE then
    opts.virt_text_pos = "inline"
  elseif col >= #line then
    opts.virt_text_pos = "overlay"
  else
    opts.virt_text_pos = "eol"
  end
  if #lines > 1 then
    local extra = {}
    for i = 2, #lines do table.insert(extra, { { lines[i], "CollabInline" } }) end
    opts.virt_lines = extra
  end
  pcall(api.nvim_buf_set_extmark, buf, ui.inline, row, col, opts)
end

function M.cleared(p)
  if M.current and M.current.id == p.id then forget() end
end

-- Is a completion showing in this buffer?
function M.showing(buf)
  return M.current ~= nil and M.current.buf == buf and M.current.text ~= ""
end

-- Insert it (for everyone, through the bridge) and put the cursor after it.
function M.accept(client)
  local c = M.current
  if not c or not client then return false end
  local err, result = client:request_sync("inline_accept", { id = c.id })
  forget()
  if err then return false end
  -- The bridge's edit came before this answer and is applied: place the cursor after the insertion.
  local _, st = buffers.find(result.path)
  if st and buffers.current(st, result) then
    local row, col = buffers.to_buffer(c.buf, result.position)
    pcall(api.nvim_win_set_cursor, 0, { row + 1, col })
  end
  return true
end

function M.dismiss(client)
  if not M.current then return false end
  local id = M.current.id
  forget()
  if client then client:request("inline_dismiss", { id = id }) end
  return true
end

function M.reset()
  forget()
end

return M
