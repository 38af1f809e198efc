"""The development workspaces (VSCode, Jupyter) require authentication and are fenced in.

They hold the team's GCP key and volume, so: a password or token from a Kubernetes secret,
no cross-origin access to Jupyter, and a NetworkPolicy that admits only Polyaxon's gateway
to the pods the service specs label. (The image tests start both images and check that they
refuse requests without the password or token.)
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

SPECS = "aisg-context/polyaxon/polyaxonfiles"
POLICY = "aisg-context/k8s/workspaces/workspaces-network-policy.yml"


def _spec(project: Path, name: str) -> dict:
    # The specs hold Polyaxon's own {{ }} expressions: plain YAML still parses them as strings.
    return yaml.safe_load((project / SPECS / name).read_text(encoding="utf-8"))


def _secret_env(container: dict) -> dict[str, tuple[str, str]]:
    return {
        item["name"]: (item["valueFrom"]["secretKeyRef"]["name"], item["valueFrom"]["secretKeyRef"]["key"])
        for item in container.get("env", [])
        if "secretKeyRef" in item.get("valueFrom", {})
    }


def test_vscode_service_requires_a_password_from_a_secret(baked_default: Path) -> None:
    container = _spec(baked_default, "vscode-service.yml")["run"]["container"]
    args = container.get("args", [])
    assert args[args.index("--auth") + 1] == "password", args
    assert _secret_env(container)["PASSWORD"] == ("workspace-credentials", "password")


def test_jupyter_service_requires_a_token_from_a_secret_and_its_own_origin(baked_default: Path) -> None:
    container = _spec(baked_default, "jupyter-service.yml")["run"]["container"]
    args = " ".join(container.get("args", []))
    assert not re.search(r"token=(\s|$)", args), args
    assert "allow_origin" not in args and "disable_check_xsrf" not in args, args
    assert _secret_env(container)["JUPYTER_TOKEN"] == ("workspace-credentials", "password")


def test_workspace_images_do_not_turn_authentication_off(baked_default: Path) -> None:
    for dockerfile in (baked_default / "docker").glob("*-poly-*.Dockerfile"):
        text = dockerfile.read_text(encoding="utf-8")
        assert '"--auth", "none"' not in text and "token=" not in text, dockerfile.name


def test_network_policy_admits_only_the_gateway_to_the_labelled_services(baked_default: Path) -> None:
    policy = yaml.safe_load((baked_default / POLICY).read_text(encoding="utf-8"))
    selected = policy["spec"]["podSelector"]["matchLabels"]
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    assert [set(peer) for peer in rule["from"]] == [{"podSelector"}]
    assert "gateway" in str(rule["from"][0]["podSelector"])
    assert {port["port"] for port in rule["ports"]} == {8080, 8888}
    for name in ("vscode-service.yml", "jupyter-service.yml"):
        environment = _spec(baked_default, name)["run"]["environment"]
        labels = environment.get("labels", {})
        assert selected.items() <= labels.items(), (name, labels, selected)
        assert environment["securityContext"].get("runAsNonRoot") is True, name
