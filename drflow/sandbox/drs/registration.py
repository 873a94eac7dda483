"""Makes moto serve `drs` with this package, without touching moto's files.

moto resolves a service in two steps, both done here at import time:
- the URL: `moto.backend_index.backend_url_patterns` (a list of (service, regex)), read per request by
  the in-process stubber (`moto.core.botocore_stubber`) and by the server's `DomainDispatcherApplication`
  (which keeps a reference to the same list);
- the backend: `moto.backends.get_backend("drs")` imports `moto.drs` and reads its `drs_backends`,
  so this package's models module is installed in `sys.modules` under that name.
"""

from __future__ import annotations

import re
import sys

import moto.backend_index as backend_index

URL_PATTERN = ("drs", re.compile(r"https?://drs\.(.+)\.amazonaws\.com"))


def register() -> None:
    from drflow.sandbox.drs import models

    sys.modules.setdefault("moto.drs", models)
    if not any(name == "drs" for name, _ in backend_index.backend_url_patterns):
        backend_index.backend_url_patterns.append(URL_PATTERN)
