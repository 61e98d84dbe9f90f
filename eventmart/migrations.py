"""`eventmart migrate`: creates every table, idempotently, from one process.

Other processes run with CREATE_TABLE=n: concurrent CREATE TABLE IF NOT EXISTS races.
"""

from __future__ import annotations

import psycopg

from eventmart import idempotency_store, wishlist
from eventmart.identity import login_throttle, otp, profiles, sessions, users
from eventmart.runtime import build_applications
from eventmart.settings import Settings
from projections import READ_MODELS, notifications, tracking
from workers.policies import PAYMENT_EXPIRY, POLICIES

# Any constant works; it only has to be the same for every migrating process.
MIGRATION_LOCK = 7_311_001

FOLLOWED_APPLICATIONS = ("catalog", "commerce", "payments", "support")


def migrate(settings: Settings, database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        try:
            for app in build_applications(settings, database_url, create_table=True):
                app.close()
            with conn.transaction():
                conn.execute(users.DDL)
                conn.execute(sessions.DDL)
                conn.execute(otp.DDL)
                conn.execute(login_throttle.DDL)
                conn.execute(profiles.DDL)
                conn.execute(wishlist.DDL)
                conn.execute(idempotency_store.DDL)
                conn.execute(tracking.DDL)
                conn.execute(notifications.READS_DDL)
                for model in READ_MODELS.values():
                    conn.execute(model.create_sql)
                    tracking.ensure_follower(conn, model.name, model.application)
                for policy, app_name in POLICIES.items():
                    tracking.ensure_follower(conn, policy, app_name)
                tracking.ensure_follower(conn, PAYMENT_EXPIRY, "payments")  # its heartbeat
                for app_name in FOLLOWED_APPLICATIONS:
                    tracking.ensure_follower(conn, "kafka_relay", app_name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
