"""The Dapr workflow HTTP API, health and metadata."""
