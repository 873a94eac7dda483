"""Where the sandbox's moto SQS differs from AWS in a way drflow meets: the queue URL.

moto 5.2.5 builds a queue's URL from the request's own address (`http://127.0.0.1:4566/<account>/<name>`). AWS
answers `https://sqs.<region>.amazonaws.com/<account>/<name>` (Amazon SQS Developer Guide, "Amazon SQS queue and
message identifiers": "https://sqs.us-east-2.amazonaws.com/123456789012/MyQueue"; botocore's sqs model,
CreateQueueResult.QueueUrl). An application's configuration holds that URL, with the primary's region in it:
what drflow's reference translation and audit must rewrite and find. Here a queue URL is AWS's. The client still
sends its requests to the sandbox (the URL is a parameter, not the endpoint), and moto reads the queue's name
from the URL's last part, as before.

Installed by drflow.sandbox.server (as the other shims are), so it applies to the sandbox only.
"""

from __future__ import annotations

from typing import Any

from moto.sqs.models import Queue


def _aws_url(self: Any, request_url: Any) -> str:
    return f"https://sqs.{self.region}.amazonaws.com/{self.account_id}/{self.name}"


def install() -> None:
    Queue.url = _aws_url  # type: ignore[method-assign]
