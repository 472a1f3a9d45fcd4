"""The durabletask ``TaskHubSidecarService`` protocol over gRPC."""
