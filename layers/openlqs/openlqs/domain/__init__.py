"""Domain rules of openlqs: no boto3, no environment, no HTTP. Adapters implement ``ports``."""
