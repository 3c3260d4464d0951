"""Subcommands of the `collab` CLI: each module has HELP, add_arguments(parser) and run(args)."""
