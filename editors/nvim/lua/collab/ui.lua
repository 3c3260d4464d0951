-- Remote cursors and AI suggestions as extmarks.
local api = vim.api
local M = {}

M.cursors = api.nvim_create_namespace("collab_cursors")
M.selections = api.nvim_create_namespace("collab_selections")
M.suggestions = api.nvim_create_namespace("collab_suggestions")
M.inline = api.nvim_create_namespace("collab_inline")

local OPEN = { requested = true, streaming = true, ready = true }

api.nvim_set_hl(0, "CollabSuggestion", { default = true, link = "Comment" })

local function color_group(color)
  local hex = (color or ""):match("^#(%x%x%x%x%x%x)$") or "888888"
  local name = "CollabPeer" .. hex
  if vim.fn.hlexists(name) == 0 then
    api.nvim_set_hl(0, name, { bg = "#" .. hex, fg = "#000000" })
    api.nvim_set_hl(0, name .. "Sel", { bg = "#" .. hex, blend = 60 })
  end
  return name
end

local function to_buffer(buf, position)
  local line = api.nvim_buf_get_lines(buf, position.line, position.line + 1, false)[1] or ""
  return position.line, require("collab.buffers").byte_col(line, position.character), line
end

function M.show_cursor(buf, p)
  local group = color_group(p.color)
  local head = p.ranges[1]["end"]
  local anchor = p.ranges[1].start
  local row, col, line = to_buffer(buf, head)
  local width = #(vim.fn.strcharpart(line:sub(col + 1), 0, 1))
  local opts = { id = p.client, virt_text = { { " " .. p.name .. " ", group } }, virt_text_pos = "eol",
                 hl_mode = "combine" }
  if width > 0 then
    opts.end_row, opts.end_col, opts.hl_group = row, col + width, group
  end
  pcall(api.nvim_buf_set_extmark, buf, M.cursors, row, col, opts)
  local arow, acol = to_buffer(buf, anchor)
  if arow ~= row or acol ~= col then
    local sr, sc, er, ec = arow, acol, row, col
    if arow > row or (arow == row and acol > col) then sr, sc, er, ec = row, col, arow, acol end
    pcall(api.nvim_buf_set_extmark, buf, M.selections, sr, sc,
      { id = p.client, end_row = er, end_col = ec, hl_group = group .. "Sel" })
  else
    pcall(api.nvim_buf_del_extmark, buf, M.selections, p.client)
  end
end

function M.clear_cursor(buf, client)
  pcall(api.nvim_buf_del_extmark, buf, M.cursors, client)
  pcall(api.nvim_buf_del_extmark, buf, M.selections, client)
end

-- extmark ids for suggestions: small integers per suggestion id
local ids, next_id = {}, 1
local function mark_id(id)
  if not ids[id] then
    ids[id], next_id = next_id, next_id + 1
  end
  return ids[id]
end

function M.show_suggestion(buf, st, p)
  local id = mark_id(p.id)
  if not OPEN[p.status] then
    pcall(api.nvim_buf_del_extmark, buf, M.suggestions, id)
    return
  end
  local row, col
  if p.position and st and p.revision == st.revision and p.editor_revision == st.sent then
    row, col = to_buffer(buf, p.position)
  else
    local at = api.nvim_buf_get_extmark_by_id(buf, M.suggestions, id, {})
    if not at or #at == 0 then return end
    row, col = at[1], at[2]
  end
  local text = p.text ~= "" and p.text or "…"
  local lines = vim.split(text, "\n", { plain = true })
  local label = p.status == "ready" and "  [" .. (p.model ~= "" and p.model or "AI") .. ": :CollabAccept]" or ""
  local opts = { id = id, virt_text = { { lines[1] .. (#lines == 1 and label or ""), "CollabSuggestion" } },
                 virt_text_pos = "eol" }
  if #lines > 1 then
    local extra = {}
    for i = 2, #lines do
      table.insert(extra, { { lines[i] .. (i == #lines and label or ""), "CollabSuggestion" } })
    end
    opts.virt_lines = extra
  end
  pcall(api.nvim_buf_set_extmark, buf, M.suggestions, row, col, opts)
end

-- The suggestion :CollabAccept means: the last one asked for here while open, else a ready one.
function M.latest_open(suggestions, last)
  if last and suggestions[last] and OPEN[suggestions[last].status] then return last end
  for id, s in pairs(suggestions) do
    if s.status == "ready" then return id end
  end
  return last
end

function M.clear(buf)
  for _, ns in ipairs({ M.cursors, M.selections, M.suggestions, M.inline }) do
    pcall(api.nvim_buf_clear_namespace, buf, ns, 0, -1)
  end
end

return M
