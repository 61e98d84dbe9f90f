-- Tamper evidence (README, Operations, Auditing): a SHA-256 chain over every stored event of
-- each application's log, sealed every N events or T seconds by the `audit_seal` follower.
--
-- audit_seals: one row per seal, contiguous per application: a seal covers the events after
-- the previous seal's position up to its own. `digests` holds the first 8 bytes of each
-- covered event's own SHA-256, in position order: the chain hash proves, the digests only
-- locate the event that changed.
CREATE TABLE audit_seals (
    application text NOT NULL,
    seq integer NOT NULL,
    from_position bigint NOT NULL,
    position bigint NOT NULL,
    events integer NOT NULL,
    chain_hash text NOT NULL,
    digests bytea NOT NULL,
    sealed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (application, seq),
    UNIQUE (application, position)
);

-- Where each application's chain has got to (the follower's position, in the same
-- transaction) and the events chained since the last seal.
CREATE TABLE audit_chain_heads (
    application text PRIMARY KEY,
    position bigint NOT NULL DEFAULT 0,
    chain_hash text,
    seq integer NOT NULL DEFAULT 0,
    sealed_position bigint NOT NULL DEFAULT 0,
    pending_digests bytea NOT NULL DEFAULT ''::bytea,
    last_sealed_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO audit_chain_heads (application)
VALUES ('catalog'), ('commerce'), ('payments'), ('support')
ON CONFLICT DO NOTHING;

INSERT INTO follower_positions (follower, application)
VALUES ('audit_seal', 'catalog'), ('audit_seal', 'commerce'), ('audit_seal', 'payments'),
       ('audit_seal', 'support')
ON CONFLICT DO NOTHING;
