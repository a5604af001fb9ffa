#!/usr/bin/env python3
"""The cluster's one source of configuration: infra/docker-compose.yml.

The cluster (infra/cluster/up.sh) runs the same services as compose, as processes in network
namespaces instead of containers. Rather than keep a second copy of every setting, it asks this
script for a compose service's environment, exactly as compose would hand it to the container
(YAML anchors merged, `${VAR:-default}` interpolated from this process's environment), with the
container paths it mounts mapped to directories of the cluster (`--map /run/secrets/episante=DIR`).
Host names stay as compose writes them (`auth:8081`, `kafka:9092`, `vault:8200`): each namespace's
/etc/hosts (ip netns' /etc/netns/NAME/hosts) maps them to the cluster's addresses, several for a
service with several instances.

  compose_env.py env SERVICE [--map CONTAINER_PATH=DIR ...]   -> NAME=VALUE lines (shell-quoted)
  compose_env.py render TEMPLATE                                -> TEMPLATE with ${NAME} from the environment
"""
import os
import re
import shlex
import sys

import yaml

COMPOSE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docker-compose.yml")
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")


def load():
    with open(COMPOSE) as f:
        return yaml.safe_load(f)


def interpolate(value):
    """Compose's interpolation: ${VAR}, ${VAR:-default}; `$$` is a literal `$`."""
    def sub(m):
        name, default = m.group(1), m.group(2)
        got = os.environ.get(name)
        if got:
            return got
        if default is not None:
            return default
        sys.exit(f"compose_env: ${{{name}}} is not set and has no default")
    parts = str(value).split("$$")
    return "$".join(PLACEHOLDER.sub(sub, part) for part in parts)


def environment(service, maps):
    spec = load()["services"].get(service)
    if spec is None:
        sys.exit(f"compose_env: no service {service!r} in {COMPOSE}")
    env = spec.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    out = {}
    for name, value in env.items():
        value = "" if value is None else interpolate(value)
        for container_path, directory in maps:
            if value == container_path or value.startswith(container_path + "/"):
                value = directory + value[len(container_path):]
                break
        out[name] = value
    return out


def render(template):
    """The nginx image's template step: `${NAME}` (upper case) from the environment; nginx's own
    `$variables` are left alone. A missing variable is an error, never an empty string."""
    text = open(template).read()

    def sub(m):
        name = m.group(1)
        if name not in os.environ:
            sys.exit(f"compose_env: {template} needs ${{{name}}}")
        return os.environ[name]
    return re.sub(r"\$\{([A-Z_][A-Z0-9_]*)\}", sub, text)


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd = argv[1]
    if cmd == "env" and len(argv) >= 3:
        maps = []
        rest = argv[3:]
        while rest:
            if rest[0] != "--map" or len(rest) < 2 or "=" not in rest[1]:
                sys.exit(__doc__)
            container_path, directory = rest[1].split("=", 1)
            maps.append((container_path.rstrip("/"), directory.rstrip("/")))
            rest = rest[2:]
        for name, value in environment(argv[2], maps).items():
            print(f"{name}={shlex.quote(value)}")
    elif cmd == "render" and len(argv) == 3:
        sys.stdout.write(render(argv[2]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
