"""API Gateway: HTTP APIs (apigatewayv2) and their custom domain names, recovered in front of the recovered
functions and queues."""

from .domains import DomainNameHandler
from .http_apis import HttpApiHandler

__all__ = ["DomainNameHandler", "HttpApiHandler"]
