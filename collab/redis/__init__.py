"""Redis in one place: connecting (URL, cluster, client options), key names, reading a room's log.

Used by the Redis store (collab.store.redis), the Redis broker (collab.broker.redis) and the Redis
agent directory (collab.hub.agent_directory_redis). Importing it pulls in redis-py, which a hub
without ``--redis`` never needs: import it lazily from code that runs without Redis.
"""
