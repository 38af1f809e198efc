"""Check many polyaxonfiles in one process, as ``polyaxon --offline check --strict-params`` does.

Run with the validators' interpreter (polyaxon is not installed next to pytest)::

    python polyaxon_check_many.py < checks.json

where ``checks.json`` is ``[{"file": PATH, "params": ["NAME=value", ...]}, ...]``. Prints a
JSON list of ``{"file", "ok", "error"}``. This is the function behind the CLI command
(``polyaxon._cli.check.check``); one process instead of one per file saves ~1.5 s per file.
"""

from __future__ import annotations

import json
import os
import sys
import traceback

os.environ.setdefault("POLYAXON_NO_API", "true")
os.environ.setdefault("POLYAXON_DISABLE_ERRORS_REPORTING", "true")

from polyaxon.polyaxonfile import check_polyaxonfile  # noqa: E402  (after the environment)


def main() -> None:
    results = []
    for check in json.load(sys.stdin):
        try:
            check_polyaxonfile(
                polyaxonfile=check["file"],
                params=check["params"],
                strict_params=True,
                validate_params=True,
                is_cli=False,
                to_op=True,
            )
            results.append({"file": check["file"], "ok": True, "error": ""})
        except Exception as error:  # noqa: BLE001  (report every failure, keep going)
            chain = "".join(traceback.format_exception(error))[-3000:]
            results.append({"file": check["file"], "ok": False, "error": chain})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
