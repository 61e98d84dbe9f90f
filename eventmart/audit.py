"""Auditors' and operators' commands: `eventmart audit verify|export-seals|reconcile`,
`eventmart replay` and `eventmart export-events` (registered on the main CLI by `register`).

They read the events tables directly (server-side cursors: memory stays flat) and need no
running worker; only the seals come from the `audit_seal` follower."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated
from uuid import UUID

import typer

audit_cli = typer.Typer(help="Tamper evidence and reconciliation of the event log.",
                        no_args_is_help=True)

ApplicationOption = Annotated[str | None, typer.Option(
    "--application", "-a", help="one log (catalog, commerce, payments, support); default all")]


def _url() -> str:
    from eventmart.cli import _setup

    return _setup()[1]


def _applications(application: str | None) -> list[str]:
    from projections.audit_chain import APPLICATIONS

    if application is None:
        return list(APPLICATIONS)
    if application not in APPLICATIONS:
        raise typer.BadParameter(f"unknown application; known: {', '.join(APPLICATIONS)}")
    return [application]


@audit_cli.command("verify")
def verify(
    application: ApplicationOption = None,
    seals: Annotated[Path | None, typer.Option(
        exists=True, dir_okay=False, readable=True,
        help="seals kept elsewhere (a file written by export-seals): verify the log against "
             "them instead of the audit_seals table, and report where the table disagrees")] = None,
) -> None:
    """Recompute each log's SHA-256 chain from the events table and compare it with the
    seals: "verified up to P", or the first position where the log differs (exit code 1)."""
    import psycopg

    from projections import audit_chain

    apps = _applications(application)
    try:
        kept = audit_chain.read_seal_file(
            seals.read_text(encoding="utf-8").splitlines()) if seals else None
    except (audit_chain.SealFileError, UnicodeDecodeError) as error:
        raise typer.BadParameter(f"{seals}: {error}", param_hint="--seals") from None
    failed = False
    with psycopg.connect(_url(), autocommit=True) as conn:
        if kept is not None:
            for difference in audit_chain.compare_seals(
                    (s for app in apps for s in audit_chain.iter_seals(conn, app)),
                    (s for s in kept if s.application in apps)):
                typer.echo(f"seal table differs from {seals}: {difference}")
                failed = True
        for app in apps:
            sealed = kept if kept is not None else audit_chain.iter_seals(conn, app)
            result = audit_chain.verify(conn, app, sealed)
            if not result.ok:
                failed = True
                typer.echo(f"{app}: DIFFERS at position {result.position}: {result.problem} "
                           f"(verified up to {result.verified_up_to} before it)")
                continue
            after = audit_chain.unsealed_events(conn, app, result.verified_up_to)
            typer.echo(f"{app}: verified up to {result.verified_up_to} ({result.seals} seals, "
                       f"{result.events} events; {after} later events not sealed yet)")
    if failed:
        raise typer.Exit(1)


@audit_cli.command("export-seals")
def export_seals(
    application: ApplicationOption = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="file; default stdout")] = None,
) -> None:
    """Write every seal as JSON lines (position, chain hash, time, per-event digests), to be
    kept outside this database: `verify --seals FILE` checks the log against them."""
    import psycopg

    from projections import audit_chain

    apps = _applications(application)
    try:
        out = output.open("w", encoding="utf-8") if output else sys.stdout
    except OSError as error:
        raise typer.BadParameter(f"cannot write {output}: {error.strerror}",
                                 param_hint="--output") from None
    try:
        with psycopg.connect(_url(), autocommit=True) as conn:
            for app in apps:
                for seal in audit_chain.iter_seals(conn, app):
                    out.write(json.dumps(seal.as_json(), separators=(",", ":")) + "\n")
    finally:
        if output:
            out.close()


@audit_cli.command("reconcile")
def reconcile(
    as_json: Annotated[bool, typer.Option("--json", help="one JSON document")] = False,
) -> None:
    """Fold every wallet, reward ledger and order stream and compare with the wallet_balance,
    rewards and order_history read models: each drift, the totals, conservation. Exit code 1
    on any drift."""
    import psycopg

    from eventmart.cli import _setup
    from projections.reconcile import reconcile as run
    from runtime import build_applications

    settings, url = _setup()
    apps = build_applications(settings, url)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            report = run(conn, apps[1].mapper)
    finally:
        for app in apps:
            app.close()
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2, default=str))
    else:
        for line in report.lines():
            typer.echo(line)
    if not report.ok:
        raise typer.Exit(1)


def replay(
    aggregate_id: Annotated[UUID, typer.Argument(help="any aggregate's id")],
    version: Annotated[int | None, typer.Option(min=1, help="stop at this version")] = None,
    as_of: Annotated[datetime | None, typer.Option(
        "--as-of", help="stop at the last event at or before this time (ISO 8601; UTC if no zone)",
        formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S",
                 "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%d"])] = None,
) -> None:
    """Print an aggregate's events (public types) and the state they fold to, with the domain's
    own aggregate classes: all of them, up to --version N, or as of --as-of T."""
    from projections.event_export import UnreplayableError
    from projections.event_export import replay as run
    from runtime import open_runtime

    if version is not None and as_of is not None:
        raise typer.BadParameter("give --version or --as-of, not both")
    from eventmart.cli import _setup

    settings, url = _setup()
    runtime = open_runtime(settings, database_url=url)
    try:
        found = run(runtime, aggregate_id, version=version, as_of=as_of)
    except UnreplayableError as error:
        for event in error.events:  # what could be replayed, for the auditor to see
            typer.echo(json.dumps(event, default=str, separators=(",", ":")))
        typer.echo(f"error: aggregate {aggregate_id}: {error}", err=True)
        raise typer.Exit(1) from None
    finally:
        runtime.close()
    if found is None:
        typer.echo(f"error: no aggregate {aggregate_id} in any log"
                   + ("" if version is None and as_of is None else " at that version or time"), err=True)
        raise typer.Exit(1)
    for event in found.events:
        typer.echo(json.dumps(event, default=str, separators=(",", ":")))
    typer.echo(f"state of {found.kind} {aggregate_id} at version {found.version} "
               f"({found.application} log):")
    typer.echo(json.dumps(found.state, default=str, indent=2, sort_keys=True))


def export_events(
    application: ApplicationOption = None,
    after: Annotated[int, typer.Option(min=0, help="start after this position")] = 0,
    until: Annotated[int | None, typer.Option(min=0, help="stop at this position (included)")] = None,
    cursor: Annotated[str | None, typer.Option(
        help="export in the workers' order, (transaction id, position), after this cursor "
             "(0-0: from the start; then the one the last export printed): resumed this way an "
             "export never misses an event that committed late. One --application; not with "
             "--after or --until")] = None,
) -> None:
    """Stream the log as JSON lines (application, position, aggregate_id, version, public
    type, timestamp, data), in position order per application, for jq, DuckDB or pandas."""
    import psycopg

    from eventmart.cli import _setup
    from projections.event_export import export, export_from
    from projections.event_log import parse_cursor
    from runtime import build_applications

    start: tuple[int, int] | None = None
    if cursor is not None:
        try:
            start = parse_cursor(cursor)
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--cursor") from None
        if application is None or after or until is not None:
            raise typer.BadParameter("--cursor reads one log: give --application, not --after or --until",
                                     param_hint="--cursor")
    settings, url = _setup()
    apps = {a.name: a for a in build_applications(settings, url)}
    failed: list[str] = []
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            for name in _applications(application):
                if start is not None:
                    done = export_from(conn, apps[name], sys.stdout, start)
                    assert done.cursor is not None
                    go_on = f"--cursor {done.cursor[0]}-{done.cursor[1]}"
                else:
                    done = export(conn, apps[name], sys.stdout, after=after, until=until)
                    go_on = f"--after {done.upto}"
                failed += [f"{name}:{position}" for position in done.failed]
                sys.stdout.flush()
                typer.echo(f"exported the {name} log up to position {done.upto} (to go on: "
                           f"{go_on})", err=True)
    except BrokenPipeError:  # `| head`: the reader has what it wanted
        # What Python's docs advise: nothing more may reach the closed pipe at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        for a in apps.values():
            a.close()
    if failed:
        # Every line is written, those rows' with their error: a script must not take the
        # export for a clean one.
        shown = ", ".join(failed[:20]) + (f" and {len(failed) - 20} more" if len(failed) > 20 else "")
        typer.echo(f"error: {len(failed)} stored events could not be read (written with an "
                   f"\"error\" and no \"data\"): {shown}", err=True)
        raise typer.Exit(1)


def register(cli: typer.Typer) -> None:
    cli.add_typer(audit_cli, name="audit")
    cli.command("replay")(replay)
    cli.command("export-events")(export_events)
