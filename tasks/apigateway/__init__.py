"""API Gateway: HTTP APIs (apigatewayv2), REST APIs (apigateway) and custom domain names, recovered in front of the
recovered functions, queues and load balancers."""

from .domains import DomainNameHandler
from .http_apis import HttpApiHandler
from .rest_apis import RestApiHandler

__all__ = ["DomainNameHandler", "HttpApiHandler", "RestApiHandler"]
