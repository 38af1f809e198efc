"""Read the guide's ``docker build`` and ``docker run`` commands out of the generated README.

They are taken from the README's bash blocks the way ``guide.py`` takes the local steps: a
command is one logical line (backslash continuations joined). The tests run these commands,
changed only in ways every container test needs and listed in :func:`for_test`:
``--network host`` (containers reach each other and PostgreSQL over loopback), a name and
labels so that everything made is found and removed, and the guide's ``<PLACEHOLDERS>``
filled in.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

BASH_BLOCK = re.compile(r"```bash\n(.*?)```", re.DOTALL)
PLACEHOLDER = re.compile(r"<[A-Z][A-Z0-9_]*>")
#: Label on every container, image and volume the image tests make (removed at the end).
TEST_LABEL = "aisg.template.image-test=true"


@dataclass(frozen=True)
class DockerCommand:
    """One ``docker build`` or ``docker run`` command of the guide: its text and its words."""

    line: str

    @property
    def words(self) -> list[str]:
        """The command split as the shell would (without expansions)."""
        return shlex.split(self.line, comments=True)

    @property
    def verb(self) -> str:
        """``build`` or ``run``."""
        return self.words[1]

    @property
    def image(self) -> str:
        """The image tag built (``-t``) or run (the first word after the options)."""
        words = self.words
        if self.verb == "build":
            return words[words.index("-t") + 1]
        return run_image(words)

    @property
    def dockerfile(self) -> str:
        """The Dockerfile of a build (``-f``)."""
        words = self.words
        return words[words.index("-f") + 1]


#: docker run options that take a value (the image is the first word that is not one).
RUN_OPTIONS_WITH_VALUE = {
    "-e", "--env", "-v", "--volume", "-p", "--publish", "--name", "--network", "--entrypoint",
    "--tmpfs", "-u", "--user", "-w", "--workdir", "--label", "--mount", "--stop-timeout",
}


def run_image(words: list[str]) -> str:
    """The image of a ``docker run`` word list."""
    index = 2
    while index < len(words):
        word = words[index]
        if word in RUN_OPTIONS_WITH_VALUE:
            index += 2
        elif word.startswith("-"):
            index += 1
        else:
            return word
    raise ValueError(f"no image in: {' '.join(words)}")


def docker_commands(readme: str) -> list[DockerCommand]:
    """Every ``docker build`` and ``docker run`` of the guide's bash blocks, in order."""
    commands = []
    for body in BASH_BLOCK.findall(readme):
        for line in body.replace("\\\n", " ").splitlines():
            if re.match(r"\s*docker (build|run)\b", line):
                commands.append(DockerCommand(line.strip()))
    return commands


def builds(readme: str) -> dict[str, DockerCommand]:
    """The guide's ``docker build`` commands by Dockerfile (``docker/<name>.Dockerfile``)."""
    found: dict[str, DockerCommand] = {}
    for command in docker_commands(readme):
        if command.verb == "build":
            found.setdefault(command.dockerfile, command)
    return found


def runs(readme: str, image: str) -> list[DockerCommand]:
    """The guide's ``docker run`` commands of one image, in order."""
    return [c for c in docker_commands(readme) if c.verb == "run" and c.image == image]


def for_test(
    command: DockerCommand,
    *,
    name: str = "",
    values: dict[str, str] | None = None,
    detach: bool = False,
    extra_options: str = "",
    extra_args: str = "",
    replace: dict[str, str] | None = None,
    build_args: dict[str, str] | None = None,
) -> str:
    """The command as the tests run it, a line for ``bash -c`` in the project folder.

    Each ``<PLACEHOLDER>`` is taken from ``values`` (a missing one is an error, so a new
    placeholder in the guide is noticed), and each key of ``replace`` (such as the guide's
    ``localhost:5005``) becomes its value (a free port of the test). A build gets
    ``--network host`` and the test label (the tests set ``DOCKER_BUILDKIT=0``). A run gets
    ``--network host`` unless the guide gives it, a name and the test label; ``detach`` runs
    it in the background and keeps the container after it stops, so that its log can be read
    (the tests remove it). ``build_args`` become ``--build-arg`` of a build. ``extra_options`` go before the image (test-only settings such as
    a free port), ``extra_args`` after the whole command (arguments for the entry point).
    """
    line = command.line
    for placeholder in dict.fromkeys(PLACEHOLDER.findall(line)):
        if placeholder not in (values or {}):
            raise KeyError(f"no test value for {placeholder} in: {line}")
        line = line.replace(placeholder, (values or {})[placeholder])
    for old, new in (replace or {}).items():
        line = line.replace(old, new)
    verb = f"docker {command.verb} "
    assert line.startswith(verb), line
    rest = line[len(verb):]
    if command.verb == "build":
        args = "".join(f" --build-arg {k}={shlex.quote(v)}" for k, v in (build_args or {}).items())
        return f"docker build --network host --label {TEST_LABEL}{args} {rest}"
    options = [] if "--network host" in rest else ["--network host"]
    if detach:
        rest = re.sub(r"(^|\s)--rm(?=\s)", " ", rest, count=1).strip()
        options.append("--detach")
    options += [f"--name {shlex.quote(name)}", f"--label {TEST_LABEL}"]
    image = shlex.quote(command.image)
    at = rest.rfind(" " + command.image) if image == command.image else -1
    if extra_options:
        if at < 0:
            raise ValueError(f"cannot place options before the image in: {line}")
        rest = f"{rest[:at]} {extra_options}{rest[at:]}"
    return " ".join(["docker run", *options, rest, extra_args]).strip()
