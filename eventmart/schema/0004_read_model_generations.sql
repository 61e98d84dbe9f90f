-- Blue/green rebuilds (workers/bluegreen.py). A read model's tables of generation N are built
-- in the schema `<read model>_g<N>` by the follower `<read model>@g<N>` while generation
-- `live` serves; the swap moves them into the serving schema in one transaction. `building`
-- survives a crash (advisory locks do not): the next rebuild drops that generation's schema
-- and starts a new one. A read model with no row serves generation 1.
CREATE TABLE read_model_generations (
    read_model text PRIMARY KEY,
    live integer NOT NULL DEFAULT 1,
    building integer,
    building_version integer,
    building_started_at timestamptz,
    swapped_at timestamptz
);
