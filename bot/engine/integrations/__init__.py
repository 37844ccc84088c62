"""What the engine offers integrations (the desk) and calls on them (hooks)."""
