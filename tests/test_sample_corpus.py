"""The sample corpus shipped in the generated project is the generator's output."""

from __future__ import annotations

import subprocess
import sys

from helpers import TEMPLATE_DIR


def test_committed_corpus_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(TEMPLATE_DIR / "tools" / "make_sample_corpus.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
