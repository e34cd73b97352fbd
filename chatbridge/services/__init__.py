"""Forum services: domain logic over the store (threads, likes, profiles, trophies, ingest)."""
