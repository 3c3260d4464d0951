"""Local models: the registry of named GGUF files, the cache they live in, and their download."""
