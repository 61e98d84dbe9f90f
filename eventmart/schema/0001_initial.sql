-- The plain (non-read-model) tables as they stood before versioned migrations: identity,
-- idempotency keys, follower positions, notification read marks. The columns once added by
-- `ALTER TABLE ... ADD COLUMN IF NOT EXISTS` are folded into their CREATE TABLE. Every
-- statement is IF NOT EXISTS, so a database created by the code before migrations were
-- numbered passes through this one unchanged and is then recorded at version 1.
-- Never edit an applied migration: `eventmart migrate` refuses a changed checksum. Add a
-- new numbered file instead.

-- Identity: accounts (secrets and personal data stay out of the event log).
CREATE TABLE IF NOT EXISTS users (
    id uuid PRIMARY KEY,
    email text UNIQUE,
    phone text UNIQUE,
    password_hash text,
    role text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    name text,
    city text,
    society text,
    basic_onboarding_done boolean NOT NULL DEFAULT false,
    role_onboarding_done boolean NOT NULL DEFAULT false,
    marketing_opt_in boolean NOT NULL DEFAULT false,
    location_allowed boolean NOT NULL DEFAULT false,
    data_sharing boolean NOT NULL DEFAULT false
);

-- Sessions and tokens: only their SHA-256 is kept.
CREATE TABLE IF NOT EXISTS sessions (
    id uuid PRIMARY KEY,
    token_hash bytea NOT NULL UNIQUE,
    user_id uuid NOT NULL REFERENCES users(id),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    kind text NOT NULL DEFAULT 'cookie',
    family_id uuid
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id);
CREATE INDEX IF NOT EXISTS sessions_family ON sessions (family_id);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    id uuid PRIMARY KEY,
    family_id uuid NOT NULL,
    user_id uuid NOT NULL REFERENCES users(id),
    token_hash bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX IF NOT EXISTS refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX IF NOT EXISTS refresh_tokens_user ON refresh_tokens (user_id);

-- One-time codes for phone sign-in, and the sends they are rate-limited by.
CREATE TABLE IF NOT EXISTS otp_codes (
    phone text PRIMARY KEY,            -- one live code per phone: a new send replaces it
    code_hash bytea NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    wrong_tries integer NOT NULL DEFAULT 0,
    consumed_at timestamptz
);
CREATE TABLE IF NOT EXISTS otp_sends (
    phone text NOT NULL,
    client_ip text NOT NULL,
    sent_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS otp_sends_phone ON otp_sends (phone, sent_at);
CREATE INDEX IF NOT EXISTS otp_sends_ip ON otp_sends (client_ip, sent_at);

-- Failed password sign-ins, per account and per address.
CREATE TABLE IF NOT EXISTS login_failures (
    subject text NOT NULL,      -- 'account:<email, lower case>' or 'ip:<address>'
    failed_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_subject ON login_failures (subject, failed_at);

-- Consumer profiles and addresses.
CREATE TABLE IF NOT EXISTS consumer_profiles (
    user_id uuid PRIMARY KEY REFERENCES users(id),
    flat_number text,
    profile_photo text,
    avatar text,
    gender text,
    birth_date date,
    preferred_language text NOT NULL DEFAULT 'en',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS consumer_addresses (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users(id),
    house_number text NOT NULL,
    street text NOT NULL,
    landmark text,
    city text NOT NULL,
    society text,
    pincode text NOT NULL,
    label text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    deleted_at timestamptz
);
CREATE INDEX IF NOT EXISTS consumer_addresses_user ON consumer_addresses (user_id);

-- Items a consumer saved for later.
CREATE TABLE IF NOT EXISTS wishlist_items (
    user_id uuid NOT NULL REFERENCES users(id),
    product_id uuid NOT NULL,
    added_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, product_id)
);

-- Idempotency keys: leases (api/idempotency.py), kept 24 h (eventmart/idempotency_store.py).
CREATE TABLE IF NOT EXISTS idempotency_keys (
    user_id uuid NOT NULL,
    endpoint text NOT NULL,
    key text NOT NULL,
    fingerprint bytea NOT NULL,
    state text NOT NULL,
    status integer,
    body jsonb,
    created_at timestamptz NOT NULL,
    claim_id uuid NOT NULL DEFAULT gen_random_uuid(),
    lease_until timestamptz,
    holder uuid,
    PRIMARY KEY (user_id, endpoint, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys (created_at);

-- Where each log follower (projection, policy, relay) has got to, and its health
-- (projections/tracking.py).
CREATE TABLE IF NOT EXISTS follower_positions (
    follower text NOT NULL,
    application text NOT NULL,
    position bigint NOT NULL DEFAULT 0,
    heartbeat_at timestamptz,
    last_error text,
    last_error_at timestamptz,
    -- The event the worker stopped on after retrying it: {position, aggregate_id, version,
    -- type, error}. Cleared when the position passes it, a skip is recorded, or a rebuild.
    poison jsonb,
    rebuild_pid integer,
    rebuild_started_at timestamptz,
    PRIMARY KEY (follower, application)
);
-- Operators' decisions to pass over an event a follower cannot apply (live and rebuilds).
CREATE TABLE IF NOT EXISTS follower_skips (
    follower text NOT NULL,
    application text NOT NULL,
    position bigint NOT NULL,
    aggregate_id uuid,
    aggregate_version integer,
    event_type text,
    decided_by text NOT NULL,
    decided_at timestamptz NOT NULL DEFAULT now(),
    reason text NOT NULL,
    PRIMARY KEY (follower, application, position)
);
-- Per user and log, the position of their last write; reads wait for it.
CREATE UNLOGGED TABLE IF NOT EXISTS user_write_positions (
    user_id uuid NOT NULL,
    application text NOT NULL,
    position bigint NOT NULL,
    PRIMARY KEY (user_id, application)
);

-- Notification read marks are user data, not a projection: a rebuild never drops them.
CREATE TABLE IF NOT EXISTS notification_reads (
    user_id uuid NOT NULL,
    notification_id uuid NOT NULL,
    read_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, notification_id)
);
