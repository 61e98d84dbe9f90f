"""Background processes: projections and the Kafka relay, by name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from projections import READ_MODELS
from runtime import Runtime
from workers.audit_seal import FOLLOWER as AUDIT_SEAL
from workers.audit_seal import seal_followers
from workers.kafka_relay import FOLLOWER as KAFKA_RELAY
from workers.kafka_relay import relay_follower
from workers.log_follower import LogFollower, Supervisor
from workers.policies import FACTORIES, PAYMENT_EXPIRY, POLICIES
from workers.projection import projection_follower

# Every name `eventmart worker` takes ("all": those this runtime runs).
KNOWN_WORKERS = (*READ_MODELS, *FACTORIES, KAFKA_RELAY, AUDIT_SEAL, "all")


def worker_names(runtime: Runtime) -> list[str]:
    names = [*READ_MODELS, *POLICIES, PAYMENT_EXPIRY, AUDIT_SEAL]
    if runtime.settings.kafka_bootstrap_servers:
        names.append(KAFKA_RELAY)
    return names


def build_followers(runtime: Runtime, names: Sequence[str]) -> list[LogFollower]:
    followers: list[Any] = []
    if list(names) == ["all"]:
        names = worker_names(runtime)
    for name in names:
        if name in READ_MODELS:
            followers.append(projection_follower(runtime, READ_MODELS[name]))
        elif name in FACTORIES:
            followers.append(FACTORIES[name](runtime))
        elif name == KAFKA_RELAY:
            followers.extend(relay_follower(runtime, app) for app in runtime.applications)
        elif name == AUDIT_SEAL:
            followers.extend(seal_followers(runtime))
        else:
            raise ValueError(f"unknown worker {name!r}; known: {', '.join(KNOWN_WORKERS)}")
    return followers


def start_workers(runtime: Runtime, names: Sequence[str] | None = None) -> Supervisor:
    supervisor = Supervisor(build_followers(runtime, names or worker_names(runtime)))
    supervisor.start()
    return supervisor
