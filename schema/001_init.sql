-- 001_init.sql - the first equivd schema. Applied once, in a transaction,
-- when PRAGMA user_version < 1; later files add to it, never edit it.
-- Times are Unix seconds (REAL, with fractions). JSON is stored as TEXT.

CREATE TABLE jobs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT    NOT NULL DEFAULT '',
    spec            TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    passes_done     INTEGER NOT NULL DEFAULT 0,
    passes_total    INTEGER NOT NULL DEFAULT 0,
    progress_what   TEXT,
    verdict         TEXT    CHECK (verdict IS NULL OR verdict IN ('pass', 'fail', 'error')),
    summary         TEXT,   -- JSON object: the report's headline figures
    report          TEXT,   -- JSON object: the full report
    error_code      TEXT,
    error_message   TEXT,
    error_path      TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0, -- starts, so a requeue shows
    created_at      REAL    NOT NULL,
    started_at      REAL,
    finished_at     REAL
);
CREATE INDEX jobs_by_status  ON jobs (status, id);
CREATE INDEX jobs_by_verdict ON jobs (verdict, id);
CREATE INDEX jobs_by_name    ON jobs (name, id);
CREATE INDEX jobs_by_finish  ON jobs (finished_at);

-- The variables each mode created, in creation order.
CREATE TABLE variables (
    job_id    INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    mode      TEXT    NOT NULL CHECK (mode IN ('graph', 'eager')),
    ord       INTEGER NOT NULL,
    name      TEXT    NOT NULL,
    shape     TEXT    NOT NULL, -- JSON array
    dtype     TEXT    NOT NULL,
    trainable INTEGER NOT NULL,
    PRIMARY KEY (job_id, mode, ord)
);

-- Outputs and endpoints a check computed, per mode: summary statistics over
-- the finite elements (SQLite turns NaN into NULL, so non-finite values are
-- counted instead), and the raw little-endian elements when small enough.
CREATE TABLE tensors (
    id         INTEGER PRIMARY KEY,
    job_id     INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    check_name TEXT    NOT NULL,
    mode       TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    kind       TEXT    NOT NULL DEFAULT 'output' CHECK (kind IN ('output', 'endpoint')),
    dtype      TEXT    NOT NULL,
    shape      TEXT    NOT NULL, -- JSON array
    numel      INTEGER NOT NULL,
    min        REAL,
    max        REAL,
    mean       REAL,
    std        REAL,
    nan_count  INTEGER NOT NULL DEFAULT 0,
    inf_count  INTEGER NOT NULL DEFAULT 0,
    data       BLOB,             -- NULL when over the configured blob limit
    UNIQUE (job_id, check_name, mode, name)
);
CREATE INDEX tensors_by_name ON tensors (job_id, name);

-- One row per compared tensor: every comparator metric. kind says what was
-- compared (a model output, an endpoint, a reference tensor); mode is set
-- for reference comparisons (the mode compared against the golden tensor).
-- "actual" is the eager tensor, "expected" the graph one (docs/report.md).
CREATE TABLE diffs (
    job_id        INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    check_name    TEXT    NOT NULL,
    ord           INTEGER NOT NULL,
    kind          TEXT    NOT NULL DEFAULT 'output'
                  CHECK (kind IN ('output', 'endpoint', 'reference', 'tensor')),
    mode          TEXT,
    tensor        TEXT    NOT NULL,
    passed        INTEGER,
    max_abs       REAL,
    max_rel       REAL,
    mean_abs      REAL,
    mismatched    INTEGER,
    total         INTEGER,
    worst_index   TEXT,   -- JSON array
    worst_actual  REAL,
    worst_expected REAL,
    nan_count     INTEGER,
    inf_count     INTEGER,
    metrics       TEXT    NOT NULL, -- the comparator's object as JSON, complete
    PRIMARY KEY (job_id, check_name, ord)
);
CREATE INDEX diffs_by_tensor ON diffs (job_id, tensor);

-- Random-op traces of the random checks, per mode, in draw order.
CREATE TABLE random_traces (
    job_id     INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    check_name TEXT    NOT NULL,
    mode       TEXT    NOT NULL,
    ord        INTEGER NOT NULL,
    entry      TEXT    NOT NULL, -- JSON object (op, target, seeds, shape)
    PRIMARY KEY (job_id, check_name, mode, ord)
);

-- What happened to a job, in order (accepted, started, requeued, ...).
CREATE TABLE events (
    id      INTEGER PRIMARY KEY,
    job_id  INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    at      REAL    NOT NULL,
    kind    TEXT    NOT NULL,
    message TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX events_by_job ON events (job_id, id);

-- Uploaded checkpoints (the files live in STATE/checkpoints/NAME).
CREATE TABLE checkpoints (
    name       TEXT    PRIMARY KEY,
    size       INTEGER NOT NULL,
    sha256     TEXT    NOT NULL,
    created_at REAL    NOT NULL
);
