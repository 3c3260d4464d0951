"""Fan-out of room traffic between hub processes: the Broker interface and its implementations."""
