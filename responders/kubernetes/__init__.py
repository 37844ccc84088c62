"""Kubernetes: rollouts, scaling, env and resources, node isolation, pods, logs, events."""
