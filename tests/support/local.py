"""What the tests of the local stack share."""

#: An ApiFunction handler that answers with what it received (and fails on request), for stacks of a
#: test project.
ECHO_HANDLER = """
import base64
import json


def lambda_handler(event, context):
    path = event["path"]
    if path == "/boom":
        raise RuntimeError("the handler failed")
    if path == "/not-a-proxy-response":
        return ["nope"]
    if path == "/binary":
        return {
            "statusCode": 200,
            "headers": {"Content-Type": "application/octet-stream"},
            "body": base64.b64encode(bytes(range(256))).decode(),
            "isBase64Encoded": True,
        }
    if path == "/created":
        return {
            "statusCode": 201,
            "headers": {"Content-Type": "application/json", "X-Single": "one", "Set-Cookie": "b=2"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": "{}",
        }
    if path == "/no-content":
        return {"statusCode": 204, "headers": {}, "body": None}
    context_fields = {
        "function_name": context.function_name,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "invoked_function_arn": context.invoked_function_arn,
        "aws_request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"event": event, "context": context_fields}),
    }
"""
