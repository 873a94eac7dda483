"""Lambda code downloads for the sandbox's moto (moto 5.2.5's GetFunction names a URL on an S3 host that answers
404, and GetLayerVersion gives "s3://" as the layer's location).

`install()` rewrites `Code.Location` (GetFunction) and `Content.Location` (GetLayerVersion,
ListLayerVersions) into URLs the sandbox server answers with the bytes moto holds for that function version or
layer version (see downloads.py), as AWS hands out presigned S3 URLs fetched with an unsigned GET. Test and
sandbox code only.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from moto.awslambda.models import lambda_backends
from moto.awslambda.responses import LambdaResponse

from drflow.sandbox import downloads

_installed = False


def _host(response: LambdaResponse) -> str:
    return response.headers.get("host") or response.headers.get("Host")


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    get_function = LambdaResponse.get_function
    get_layer_version = LambdaResponse.get_layer_version
    list_layer_versions = LambdaResponse.list_layer_versions

    def function(self: LambdaResponse) -> str:
        body = json.loads(get_function(self))
        if "Location" in body.get("Code", {}):
            config = body["Configuration"]
            body["Code"]["Location"] = downloads.url(_host(self), "lambda", self.current_account, self.region,
                                                     config["FunctionName"], str(config.get("Version") or "$LATEST"))
        return json.dumps(body)

    def _located(self: LambdaResponse, version: dict[str, Any]) -> dict[str, Any]:
        name = version["LayerArn"].rsplit(":", 1)[-1]
        version["Content"]["Location"] = downloads.url(_host(self), "layer", self.current_account, self.region, name,
                                                       str(version["Version"]))
        return version

    def layer_version(self: LambdaResponse) -> str:
        return json.dumps(_located(self, json.loads(get_layer_version(self))))

    def layer_versions(self: LambdaResponse) -> str:
        body = json.loads(list_layer_versions(self))
        body["LayerVersions"] = [_located(self, v) for v in body["LayerVersions"]]
        return json.dumps(body)

    def fetch_function(parts: list[str]) -> bytes | None:
        if len(parts) != 4:
            return None
        account, region, name, qualifier = parts
        try:
            fn = lambda_backends[account][region].get_function(unquote(name), qualifier)
        except Exception:  # noqa: BLE001 - any lookup failure is a 404 to the caller
            return None
        return getattr(fn, "code_bytes", None)

    def fetch_layer(parts: list[str]) -> bytes | None:
        if len(parts) != 4:
            return None
        account, region, name, version = parts
        try:
            layer = lambda_backends[account][region].get_layer_version(name, version)
        except Exception:  # noqa: BLE001
            return None
        return getattr(layer, "code_bytes", None)

    LambdaResponse.get_function = function  # type: ignore[method-assign]
    LambdaResponse.get_layer_version = layer_version  # type: ignore[method-assign]
    LambdaResponse.list_layer_versions = layer_versions  # type: ignore[method-assign]
    downloads.register("lambda", fetch_function)
    downloads.register("layer", fetch_layer)
