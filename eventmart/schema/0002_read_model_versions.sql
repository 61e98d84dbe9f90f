-- The version of each read model's tables (ReadModel.version). `eventmart migrate` rebuilds
-- a read model whose code version differs from the one recorded here. A read model with no
-- row has the tables of version 1 (created before versions were recorded).
CREATE TABLE read_model_versions (
    read_model text PRIMARY KEY,
    version integer NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
