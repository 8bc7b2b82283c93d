"""The web adapter: Flask app factory, blueprints (pages, API, stream, ingest), auth, history, servers."""
