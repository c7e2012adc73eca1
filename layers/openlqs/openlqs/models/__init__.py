"""LogQS wire models (pydantic only: shared by the API and the Python client)."""
