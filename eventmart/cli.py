"""The `eventmart` command."""

from __future__ import annotations

import signal
import threading
from typing import Annotated, Any

import typer

from runtime.settings import Settings, get_settings

cli = typer.Typer(help="EventMart: event-sourced marketplace backend.", no_args_is_help=True)


def _setup() -> tuple[Settings, str]:
    from api.logging import configure_logging
    from runtime import resolve_database_url

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    return settings, resolve_database_url(settings)


@cli.command()
def migrate() -> None:
    """Create the event stores, apply the numbered schema migrations not yet applied, create
    read models and rebuild those whose version changed (blue/green: the old generation serves
    until the new one has caught up). Idempotent."""
    from eventmart.migrations import MigrationError
    from eventmart.migrations import migrate as run
    from projections import READ_MODELS

    settings, url = _setup()
    try:
        done = run(settings, url)  # type: ignore[arg-type]
    except MigrationError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    for name in done.applied:
        typer.echo(f"applied {name}")
    for name in done.rebuilt:
        typer.echo(f"rebuilt read model {name} (blue/green, version {READ_MODELS[name].version})")
    typer.echo("migrated")


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port")] = 8000,
    processes: Annotated[int, typer.Option(
        "--workers", min=1,
        help="API processes; the followers run once, in the parent process")] = 1,
    no_workers: Annotated[bool, typer.Option(
        "--no-workers", help="run no projections, policies or relay here (run `eventmart worker`)")] = False,
    migrate_first: Annotated[
        bool, typer.Option("--migrate/--no-migrate", help="create missing tables first")
    ] = True,
) -> None:
    """Migrate, then serve the API: N processes (1 by default), with the workers once in this,
    the parent, process unless --no-workers (eventmart/serving.py). Read models whose version
    changed are rebuilt blue/green in the background meanwhile."""
    import psycopg
    import uvicorn

    from api.app import create_app
    from eventmart.migrations import migrate as run_migrations
    from eventmart.migrations import stale_read_models
    from eventmart.serving import serve_processes, uvicorn_options
    from runtime import open_runtime
    from workers.bluegreen import BackgroundRebuilds

    settings, url = _setup()
    if migrate_first:
        stale = run_migrations(settings, url, rebuild_stale=False).stale  # type: ignore[arg-type]
    else:
        with psycopg.connect(url, autocommit=True) as conn:  # type: ignore[arg-type]
            stale = stale_read_models(conn)
    if processes > 1 or not no_workers:
        serve_processes(settings, url, host=host, port=port, processes=processes,
                        followers=not no_workers, stale=stale)
        return
    # One API process and no workers: nothing to keep apart, so this process serves.
    runtime = open_runtime(settings, database_url=url)  # type: ignore[arg-type]
    app = create_app(runtime)
    background = BackgroundRebuilds(runtime, stale).start()
    try:
        uvicorn.run(app, host=host, port=port, **uvicorn_options(settings))
    finally:
        background.stop()
        runtime.close()


@cli.command()
def worker(
    names: Annotated[list[str], typer.Argument(help="workers to run, e.g. cart_view")],
    skip: Annotated[int | None, typer.Option(
        help="first record that NAME passes over the event at this log position (an event it "
             "stopped on), now and in rebuilds; needs --reason")] = None,
    reason: Annotated[str | None, typer.Option(help="why the event is skipped (with --skip)")] = None,
    by: Annotated[str | None, typer.Option(help="who decides (with --skip); default $USER")] = None,
    application: Annotated[str | None, typer.Option(
        help="whose log --skip means, when NAME follows several (kafka_relay)")] = None,
) -> None:
    """Run chosen workers (projections, policies, payment_expiry, kafka_relay) until SIGINT/SIGTERM."""
    from runtime import open_runtime
    from workers import KNOWN_WORKERS, build_followers
    from workers.log_follower import Supervisor

    unknown = [n for n in names if n not in KNOWN_WORKERS]
    if unknown:
        raise typer.BadParameter(f"unknown worker {unknown[0]!r}; known: {', '.join(KNOWN_WORKERS)}")
    if "all" in names and len(names) > 1:
        raise typer.BadParameter("'all' runs every worker: give it alone")
    settings, url = _setup()
    if "kafka_relay" in names and not settings.kafka_bootstrap_servers:
        raise typer.BadParameter("kafka_relay needs KAFKA_BOOTSTRAP_SERVERS (host:port of a broker)")
    if skip is not None:
        record_skip(names, skip, reason, by, application, url)
    runtime = open_runtime(settings, database_url=url)  # type: ignore[arg-type]
    supervisor = Supervisor(build_followers(runtime, names))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    supervisor.start()
    stop.wait()
    supervisor.stop()
    runtime.close()


def record_skip(names: list[str], position: int, reason: str | None, by: str | None,
                application: str | None, url: str) -> dict[str, object]:
    """`worker NAME --skip POSITION`: records the operator's decision (who, when, why)."""
    import getpass

    import psycopg

    from projections import tracking
    from workers.audit_seal import FOLLOWER as AUDIT_SEAL
    from workers.health import logs_followed

    if len(names) != 1:
        raise typer.BadParameter("--skip applies to one worker: give exactly one NAME")
    if not reason or not reason.strip():
        raise typer.BadParameter("--skip needs --reason: why this event is passed over")
    name = names[0]
    if name == AUDIT_SEAL:
        raise typer.BadParameter(
            "audit_seal chains every stored event as it is stored (it never decodes one, so no "
            "event stops it); a seal chain with a gap would not verify: nothing to skip")
    apps = logs_followed(name)
    if not apps:
        raise typer.BadParameter(f"{name!r} follows no log; nothing to skip")
    if application is None and len(apps) > 1:
        raise typer.BadParameter(f"{name} follows several logs: give --application ({', '.join(apps)})")
    app = application or apps[0]
    if app not in apps:
        raise typer.BadParameter(f"{name} does not follow the {app} log ({', '.join(apps)})")
    who = by or getpass.getuser()
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            decision = tracking.record_skip(conn, name, app, position, by=who, reason=reason.strip())
        except (LookupError, tracking.AlreadyAppliedError) as e:
            raise typer.BadParameter(str(e)) from None
    typer.echo(
        f"skip recorded: {name}/{app} passes over position {decision['position']} "
        f"({decision['event_type']}, aggregate {decision['aggregate_id']} version "
        f"{decision['aggregate_version']}), by {decision['decided_by']} at "
        f"{decision['decided_at']:%Y-%m-%d %H:%M:%S%z}: {decision['reason']}"
    )
    return decision


@cli.command()
def status() -> None:
    """Every worker's position, lag, heartbeat, last error and the event it stopped on;
    rebuilds in progress; the schema's and each read model's version; recorded skips. Exits 1
    when a worker that should run is not."""
    import psycopg

    from eventmart.migrations import recorded_versions, schema_version
    from projections import READ_MODELS, tracking
    from workers.health import expected_workers, rebuilds, worker_states

    settings, url = _setup()
    with psycopg.connect(url, autocommit=True) as conn:
        states = worker_states(conn, expected_workers(settings), everything=True)  # type: ignore[arg-type]
        building = rebuilds(conn)
        skips = tracking.skips(conn)
        schema = schema_version(conn)
        versions = recorded_versions(conn) if schema >= 2 else {}
    unhealthy = False
    for s in states:
        problem = s.problem() if s.expected else None
        unhealthy = unhealthy or problem is not None
        state = "not expected" if not s.expected else (
            "STOPPED" if s.poison else ("FAILING" if problem else "running"))
        lag = "-" if s.lag is None else str(s.lag)
        beat = s.heartbeat_at.isoformat(timespec="seconds") if s.heartbeat_at else "never"
        typer.echo(f"{s.follower:<22} {s.application:<9} {state:<12} position={s.position:<8} "
                   f"lag={lag:<6} heartbeat={beat}")
        if s.rebuilding_since:
            typer.echo(f"    rebuild in progress since {s.rebuilding_since.isoformat(timespec='seconds')}")
        if problem:
            typer.echo(f"    problem: {problem}")
        if s.poison:
            typer.echo(f"    to pass over it: eventmart worker {s.follower} --skip {s.poison.get('position')}"
                       f"{' --application ' + s.application if s.kind == 'relay' else ''} --reason '...'")
        if s.last_error and not s.poison and s.last_error_at:
            typer.echo(f"    last error at {s.last_error_at.isoformat(timespec='seconds')}: {s.last_error}")
    typer.echo(f"schema: migration {schema:04d}" if schema else "schema: not migrated")
    typer.echo("read models (version in the code, version of the tables):")
    for model in READ_MODELS.values():
        tables = versions.get(model.name)
        note = ("" if (tables or 1) == model.version else "  (migrate rebuilds it)"
                if (tables or 1) < model.version else "  (newer tables: this code's worker holds still)")
        typer.echo(f"  {model.name:<22} version {model.version} tables {tables or '-'}{note}")
    if building:
        typer.echo("rebuilds in progress (the serving generation answers meanwhile):")
    for r in building:
        since = r.started_at.isoformat(timespec="seconds") if r.started_at else "?"
        state = "running" if r.running else f"INTERRUPTED (eventmart rebuild {r.read_model} starts it again)"
        typer.echo(f"  {r.read_model:<22} generation {r.generation} (version {r.version}) beside "
                   f"generation {r.serving}: position {r.position}/{r.head} since {since}, {state}")
    if skips:
        typer.echo("skipped events:")
        for k in skips:
            typer.echo(f"  {k['follower']}/{k['application']} position {k['position']} "
                       f"({k['event_type']}, aggregate {k['aggregate_id']} version {k['aggregate_version']}) "
                       f"by {k['decided_by']} at {k['decided_at']:%Y-%m-%d %H:%M:%S%z}: {k['reason']}")
    if unhealthy:
        raise typer.Exit(1)


@cli.command()
def rebuild(name: str) -> None:
    """Rebuild a read model (or `all`) blue/green from its log, with a progress bar: a new
    generation replays the log beside the serving one and takes over in one transaction once
    caught up (safe while workers and readers run); recorded skips are passed over. Refused
    while another process rebuilds the same read model."""
    import time

    import psycopg
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from projections import READ_MODELS
    from runtime import open_runtime
    from workers.bluegreen import RebuildRunning
    from workers.bluegreen import rebuild as run
    from workers.log_follower import EventFailed
    from workers.projection import replayed

    names = list(READ_MODELS) if name == "all" else [name]
    unknown = [n for n in names if n not in READ_MODELS]
    if unknown:
        raise typer.BadParameter(f"unknown read model; known: all, {', '.join(READ_MODELS)}")
    settings, url = _setup()
    runtime = open_runtime(settings, database_url=url)
    try:
        for current in names:
            model = READ_MODELS[current]
            started = time.monotonic()
            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                       TextColumn("{task.fields[rate]:>8,.0f} events/s"), TimeElapsedColumn(),
                       TimeRemainingColumn())
            with Progress(*columns, transient=True) as bar:
                task = bar.add_task(current, total=None, rate=0.0)

                def show(position: int, head: int, task: Any = task, bar: Any = bar,
                         started: float = started) -> None:
                    bar.update(task, completed=position, total=head,
                               rate=position / max(time.monotonic() - started, 1e-6))

                try:
                    done = run(runtime, model, progress=show)
                except EventFailed as failed:
                    typer.echo(f"error: rebuild stopped: {failed}\nto pass over it: eventmart worker "
                               f"{current} --skip {failed.position} --reason '...', then rebuild again "
                               f"(the serving generation is untouched)", err=True)
                    raise typer.Exit(1) from None
                except (RebuildRunning, LookupError) as refused:
                    typer.echo(f"error: {refused}", err=True)
                    raise typer.Exit(1) from None
            seconds = time.monotonic() - started
            assert done is not None  # only a stopped or an up-to-date upgrade does nothing
            with psycopg.connect(url, autocommit=True) as conn:
                # The events of the log up to where the new generation took over (the log has
                # gaps: not the position itself).
                count = replayed(conn, model.application, done.position)
            typer.echo(f"rebuilt {current}: {count} events (log position {done.position}) in "
                       f"{seconds:.1f}s, {count / max(seconds, 1e-6):,.0f} events/s, "
                       f"generation {done.generation} serves")
    finally:
        runtime.close()


@cli.command("seed-demo")
def seed_demo(
    scale: Annotated[int, typer.Option(min=1, max=1000, help="multiply shops and items")] = 1,
) -> None:
    """Create a realistic demo marketplace (idempotent): cities, shops, items, users, offers."""
    from eventmart.demo import DEMO_PASSWORD
    from eventmart.demo import seed_demo as run
    from runtime import open_runtime

    settings, url = _setup()
    runtime = open_runtime(settings, database_url=url)  # type: ignore[arg-type]
    try:
        with runtime.pool.connection() as conn:
            seeded = run(runtime.catalog, conn, runtime.passwords, scale=scale, commerce=runtime.commerce)
    finally:
        runtime.close()
    typer.echo(f"{seeded.shops} shops and {seeded.products} items "
               f"({seeded.added} new), {seeded.categories} new categories, {seeded.offers} new offers")
    typer.echo(f"sign in with any of these (password {DEMO_PASSWORD}):")
    for email in seeded.users:
        typer.echo(f"  {email}")


users_cli = typer.Typer(help="User accounts (staff roles are created only here).")
cli.add_typer(users_cli, name="users")


@users_cli.command("create")
def users_create(
    role: Annotated[str, typer.Option(help="customer, vendor, support, admin or auditor")],
    email: Annotated[str | None, typer.Option(help="sign in with email and password")] = None,
    phone: Annotated[str | None, typer.Option(help="sign in by OTP, E.164")] = None,
    password: Annotated[
        str | None, typer.Option(help="prompted for when --email is given without it")
    ] = None,
) -> None:
    """Create an account with any role, e.g. the first admin."""
    import psycopg

    from domain.errors import DomainError
    from identity import otp, users
    from runtime import utcnow

    if users.canonical_role(role) not in users.ALL_ROLES:
        raise typer.BadParameter(f"role must be one of {', '.join(sorted(users.ALL_ROLES))}")
    if not (email or phone):
        raise typer.BadParameter("give --email or --phone")
    if email:
        # The rule sign-up applies (pydantic's EmailStr): an address no one can type at sign-in
        # would make an account no one can use.
        from email_validator import EmailNotValidError, validate_email

        try:
            validate_email(email, check_deliverability=False)
        except EmailNotValidError as e:
            raise typer.BadParameter(f"--email: {e}") from None
    if email and password is None:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    settings, url = _setup()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            password_hash = None
            if email:
                assert password is not None
                users.check_password_strength(password)
                password_hash = users.Passwords(settings.password_hash_memory_kib).hash(password)  # type: ignore[attr-defined]
            user = users.create_user(
                conn, role=role, email=email, password_hash=password_hash,
                phone=otp.check_phone(phone) if phone else None, now=utcnow(),
            )
    except DomainError as e:
        typer.echo(f"error: {e.detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"created {user.role} {user.id} {user.email or ''} {user.phone or ''}".rstrip())


from eventmart.audit import register as _register_audit  # noqa: E402

_register_audit(cli)


def main() -> None:
    cli()
