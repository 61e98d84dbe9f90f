"""Command-line options the bench scripts share (argparse only: the bench servers import this
in every process they start)."""

from __future__ import annotations

import argparse


def server_options(port: int) -> argparse.Namespace:
    """Where a bench server listens and how many processes serve: the same options for our app
    and its baseline, so that `make bench` starts both alike."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--processes", type=int, default=1)
    return parser.parse_args()


def counts(**defaults: int) -> argparse.Namespace:
    """`--name N` for each keyword (underscores as dashes), defaulting to its value."""
    parser = argparse.ArgumentParser()
    for name, default in defaults.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=default)
    return parser.parse_args()
