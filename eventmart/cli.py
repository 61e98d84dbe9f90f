"""The `eventmart` command."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from eventmart.settings import get_settings

cli = typer.Typer(help="EventMart: event-sourced marketplace backend.", no_args_is_help=True)


def _setup() -> tuple[object, str]:
    from api.logging import configure_logging
    from eventmart.runtime import resolve_database_url

    settings = get_settings()
    configure_logging(settings.log_level)
    return settings, resolve_database_url(settings)


@cli.command()
def migrate() -> None:
    """Create every table (event stores, identity, read models). Idempotent."""
    from eventmart.migrations import migrate as run

    settings, url = _setup()
    run(settings, url)  # type: ignore[arg-type]
    typer.echo("migrated")


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[bool, typer.Option(help="run all workers in this process")] = True,
    migrate_first: Annotated[
        bool, typer.Option("--migrate/--no-migrate", help="create missing tables first")
    ] = True,
) -> None:
    """Migrate, then serve the API (with all workers in-process unless --no-workers)."""
    import uvicorn

    from api.app import create_app
    from eventmart.migrations import migrate as run_migrations
    from eventmart.runtime import open_runtime

    settings, url = _setup()
    if migrate_first:
        run_migrations(settings, url)  # type: ignore[arg-type]
    runtime = open_runtime(settings, database_url=url)  # type: ignore[arg-type]
    app = create_app(runtime, run_workers=workers)
    try:
        uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)
    finally:
        runtime.close()


@cli.command()
def worker(names: Annotated[list[str], typer.Argument(help="workers to run, e.g. cart_view")]) -> None:
    """Run chosen workers (projections, kafka_relay) until SIGINT/SIGTERM."""
    from eventmart.runtime import open_runtime
    from workers import build_followers
    from workers.log_follower import Supervisor

    settings, url = _setup()
    runtime = open_runtime(settings, database_url=url)  # type: ignore[arg-type]
    supervisor = Supervisor(build_followers(runtime, names))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    supervisor.start()
    stop.wait()
    supervisor.stop()
    runtime.close()


@cli.command()
def status() -> None:
    """Each follower's position, lag behind its log, and last heartbeat."""
    import psycopg
    from psycopg import sql

    _, url = _setup()
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT follower, application, position, heartbeat_at FROM follower_positions "
            "ORDER BY follower, application"
        ).fetchall()
        for follower, app, position, beat in rows:
            head = conn.execute(
                sql.SQL("SELECT coalesce(max(notification_id), 0) FROM {}").format(
                    sql.Identifier(f"{app}_events")
                )
            ).fetchone()[0]  # type: ignore[index]
            typer.echo(
                f"{follower:<14} {app:<10} position={position:<8} lag={head - position:<6} "
                f"heartbeat={beat.isoformat() if beat else 'never'}"
            )


@cli.command()
def rebuild(name: str) -> None:
    """Drop a read model and rebuild it from its log (safe while workers run)."""
    from eventmart.runtime import open_runtime
    from projections import READ_MODELS
    from workers.projection import rebuild as run

    if name not in READ_MODELS:
        raise typer.BadParameter(f"unknown read model; known: {', '.join(READ_MODELS)}")
    settings, url = _setup()
    runtime = open_runtime(settings, database_url=url)  # type: ignore[arg-type]
    try:
        count = run(runtime, READ_MODELS[name])
    finally:
        runtime.close()
    typer.echo(f"rebuilt {name} from {count} events")


@cli.command("seed-demo")
def seed_demo(
    scale: Annotated[int, typer.Option(min=1, max=1000, help="multiply shops and items")] = 1,
) -> None:
    """Create a realistic demo marketplace (idempotent): cities, shops, items, users, offers."""
    from eventmart.demo import DEMO_PASSWORD
    from eventmart.demo import seed_demo as run
    from eventmart.runtime import open_runtime

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
    from eventmart.identity import otp, users
    from eventmart.runtime import utcnow

    if users.canonical_role(role) not in users.ALL_ROLES:
        raise typer.BadParameter(f"role must be one of {', '.join(sorted(users.ALL_ROLES))}")
    if not (email or phone):
        raise typer.BadParameter("give --email or --phone")
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


def main() -> None:
    cli()
