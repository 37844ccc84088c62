"""Alembic migrations of the store schema, applied by every replica at startup.

``versions/`` holds one revision per schema change, oldest first; ``bot/store/schema.py``
is the schema they build (a test checks that the two agree). New revision:
``alembic -c bot/store/migrations/alembic.ini revision -m "what changes"``, then write its
``upgrade()`` by hand with ``op``; revisions never import tables from ``schema.py``.
"""
