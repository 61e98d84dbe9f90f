-- A follower's place in its log is the pair (transaction id, notification id) of the last
-- event it passed: logs are appended without a table lock and read in that order, only
-- below the oldest running transaction (adapters/recorder.py). `position` stays the
-- notification id. Existing positions were reached in id order over events that carry the
-- backfilled transaction id 0, so (0, position) is where each follower already is.
ALTER TABLE follower_positions ADD COLUMN position_xid xid8 NOT NULL DEFAULT '0';
