"""Test handlers for rtbuild's python runtimes (handler app.handler)."""

import os


def handler(event, context):
    return {"hello": event["name"], "runtime": "python"}


def context_info(event, context):
    """Returns what the runtime handed in, for tests of the context object."""
    return {
        "awsRequestId": context.aws_request_id,
        "functionName": context.function_name,
        "memoryLimitInMB": context.memory_limit_in_mb,
        "invokedFunctionArn": context.invoked_function_arn,
        "remainingTimeInMillis": context.get_remaining_time_in_millis(),
        "handler": os.environ.get("_HANDLER"),
        "taskRoot": os.environ.get("LAMBDA_TASK_ROOT"),
    }


class HelloError(Exception):
    pass


def fail(event, context):
    raise HelloError("hello failed for {}".format(event.get("name")))
