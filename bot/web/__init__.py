"""The web console at ``/ui``: server-rendered pages, live updates, decisions."""
