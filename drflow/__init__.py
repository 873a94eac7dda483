"""drflow's face: the `drflow` command (cli), the demo, the runbook and the embedded sandbox.

Without PREFECT_API_URL the command runs its flows on Prefect's ephemeral server, which Prefect waits for
only 20 s by default (server.ephemeral.startup_timeout_seconds); on a loaded 2-core machine its start was
measured past that (CI's `make demo` failed with "Timed out while attempting to connect to ephemeral Prefect
API server"). The command waits up to 120 s unless the operator set the value; set here, before Prefect's
settings are first read, because this package is imported before any of its modules.
"""

import os

os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
