"""HTTP plumbing shared by every endpoint: errors, middleware, request helpers."""
