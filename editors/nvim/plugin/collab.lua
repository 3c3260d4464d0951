-- :Collab* commands (lua/collab/init.lua does the work; :help collab).
if vim.g.loaded_collab then return end
vim.g.loaded_collab = true

local function collab() return require("collab") end
local command = vim.api.nvim_create_user_command

command("CollabJoin", function(o) collab().join(o.fargs[1], o.fargs[2]) end, { nargs = "*" })
command("CollabOpen", function(o) collab().open(o.args) end,
  { nargs = 1, complete = function(lead) return collab().complete_paths(lead) end })
command("CollabFiles", function() collab().files() end, { nargs = 0 })
command("CollabFollow", function(o) collab().follow(o.args) end,
  { nargs = 1, complete = function(lead) return collab().complete_people(lead) end })
command("CollabUnfollow", function() collab().unfollow() end, { nargs = 0 })
command("CollabSuggest", function() collab().suggest() end, { nargs = 0 })
command("CollabAccept", function(o) collab().accept(o.args) end, { nargs = "?" })
command("CollabReject", function(o) collab().reject(o.args) end, { nargs = "?" })
command("CollabAcceptInline", function() collab().accept_inline() end, { nargs = 0 })
command("CollabDismissInline", function() collab().dismiss_inline() end, { nargs = 0 })
command("CollabInline", function(o) collab().set_inline(o.args) end,
  { nargs = "?", complete = function() return { "on", "off" } end })
command("CollabTrash", function() collab().trash() end, { nargs = 0 })
command("CollabRestore", function(o) collab().restore(o.fargs[1], o.fargs[2]) end,
  { nargs = "+", complete = function(lead) return collab().complete_trash(lead) end })
command("CollabChat", function(o) collab().chat(o.args) end, { nargs = "*" })
command("CollabLeave", function() collab().leave() end, { nargs = 0 })

vim.api.nvim_create_autocmd("VimLeavePre", { callback = function()
  if package.loaded["collab"] then require("collab").leave() end
end })
