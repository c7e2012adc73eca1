"""Adapters: AWS implementations of the domain's ports (DynamoDB, S3, Step Functions)."""
