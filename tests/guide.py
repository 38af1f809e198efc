"""Read the runnable steps out of the generated README (the guide).

Convention, in the README's Markdown source: a fenced ``bash`` block directly
preceded by an HTML comment is a step the tests know about.

- ``<!-- guide-test: local -->``: run it, in order, in one bash session.
- ``<!-- guide-test: server URL -->``: start it in the background (its own
  process group); the following blocks run once ``URL`` answers; it is
  stopped by its process id when the session ends.
- ``<!-- guide-test: setup -->``: installation steps; the tests have already
  done them (the ``project_venv`` fixture), so they are not run.
- ``<!-- guide-test: suite -->``: the project's test suite, run on the same bake and
  venv by ``test_baked_project.py`` (which checks the command is the same), so not a
  second time here (it is the longest step: about ten minutes on two cores).

Blocks without a marker need a cluster, a cloud account or Docker and are
never run; the file paths they name are checked to exist instead.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

MARKED_BLOCK = re.compile(
    r"<!-- guide-test: (?P<kind>[a-z]+)(?: (?P<arg>\S+))? -->\n```bash\n(?P<body>.*?)```",
    re.DOTALL,
)
ANY_MARKER = re.compile(r"<!-- guide-test:.*?-->")
KINDS = {"local", "server", "setup", "suite"}
#: Paths of project files (conf/local/ holds files the user writes, so it is left out).
NAMED_FILE = re.compile(
    r"(?<![\w/.$-])(?!conf/local/)((?:docker|scripts|aisg-context|conf|src|docs)/[\w./-]*?"
    r"(?:\.Dockerfile|\.ya?ml|\.sh|\.py|\.toml|\.json|\.rst))\b"
)


@dataclass(frozen=True)
class Block:
    """One marked bash block of the guide."""

    kind: str
    body: str
    arg: str | None = None


def marked_blocks(readme: str) -> list[Block]:
    """The marked bash blocks of the guide, in order; fail on a malformed marker."""
    blocks = [Block(m["kind"], m["body"], m["arg"]) for m in MARKED_BLOCK.finditer(readme)]
    markers = ANY_MARKER.findall(readme)
    if len(markers) != len(blocks):
        raise ValueError(f"{len(markers)} guide-test markers but {len(blocks)} marked bash blocks")
    unknown = sorted({b.kind for b in blocks} - KINDS)
    if unknown:
        raise ValueError(f"unknown guide-test kinds: {unknown}")
    return blocks


def named_files(readme: str) -> set[str]:
    """Relative paths of project files that the guide names anywhere."""
    return {m.group(1) for m in NAMED_FILE.finditer(readme)}


def session_script(
    blocks: list[Block], state_dir: Path, port: int, second_port: int | None = None
) -> str:
    """One bash script running the local and server blocks, stopping servers on exit.

    The guide's ports 8080 and 8081 are replaced with ``port`` and ``second_port``,
    and servers bind to 127.0.0.1. Each block's stdout and stderr go to
    ``state_dir/block-<n>.out`` and ``.err``; ``state_dir/current`` holds the number
    of the running block; ``state_dir/server-pids`` the servers' process ids.
    """
    state = shlex.quote(str(state_dir))
    lines = [
        "set -euo pipefail",
        "SERVER_PIDS=()",
        "stop_servers() {",
        '  for pid in ${SERVER_PIDS[@]+"${SERVER_PIDS[@]}"}; do',
        '    kill -TERM -- "-$pid" 2>/dev/null || true',
        "    for _ in $(seq 1 40); do",
        '      kill -0 -- "-$pid" 2>/dev/null || break',
        "      sleep 0.5",
        "    done",
        '    kill -KILL -- "-$pid" 2>/dev/null || true',
        '    wait "$pid" 2>/dev/null || true',
        '    echo "$pid" >> ' + state + "/stopped",
        "  done",
        "}",
        "trap stop_servers EXIT",
        "wait_ready() {",
        "  for _ in $(seq 1 360); do",
        '    kill -0 "$2" 2>/dev/null || { echo "server exited before answering $1" >&2; return 1; }',
        '    curl -sf -o /dev/null "$1" && return 0',
        "    sleep 0.5",
        "  done",
        '  echo "no answer from $1" >&2; return 1',
        "}",
    ]
    for number, block in enumerate(blocks, 1):
        if block.kind in ("setup", "suite"):
            continue
        body = localise(block.body, port, second_port)
        script = state_dir / f"block-{number}.sh"
        script.write_text(body, encoding="utf-8")
        out = f"{state}/block-{number}"
        lines.append(f"echo {number} > {state}/current")
        if block.kind == "local":
            lines.append(f"source {shlex.quote(str(script))} > {out}.out 2> {out}.err")
        else:
            url = localise(block.arg or "", port, second_port)
            lines += [
                f"setsid bash -e {shlex.quote(str(script))} > {out}.out 2> {out}.err &",
                "SERVER_PIDS+=($!)",
                f'echo "$!" >> {state}/server-pids',
                f'wait_ready {shlex.quote(url)} "$!"',
            ]
    lines.append(f"echo done > {state}/current")
    return "\n".join(lines) + "\n"


def localise(text: str, port: int, second_port: int | None = None) -> str:
    """Swap the guide's ports 8080 and 8081 for these and bind servers to 127.0.0.1 only."""
    for guide, ours in (("8080", port), ("8081", second_port or port + 1)):
        text = text.replace(f"0.0.0.0:{guide}", f"127.0.0.1:{ours}")
        text = text.replace(f"localhost:{guide}", f"localhost:{ours}")
    return text


BASH_BLOCK = re.compile(r"```bash\n(.*?)```", re.DOTALL)


def polyaxon_runs(readme: str) -> list[tuple[str, set[str]]]:
    """Each ``polyaxon run`` of the guide's bash blocks: (polyaxonfile, names passed with -P)."""
    runs = []
    for body in BASH_BLOCK.findall(readme):
        for command in body.replace("\\\n", " ").splitlines():
            if not command.strip().startswith("polyaxon run"):
                continue
            words = shlex.split(command, comments=True)
            spec = words[words.index("-f") + 1]
            names = {words[i + 1].split("=", 1)[0] for i, w in enumerate(words) if w == "-P"}
            runs.append((spec, names))
    return runs

