-- The department that answers a report (Open311's agency_responsible).
ALTER TABLE public_reports ADD COLUMN IF NOT EXISTS department text NOT NULL DEFAULT '';

-- Open311 API keys, as reports issued and revoked them (events.reports): their hashes only.
CREATE TABLE IF NOT EXISTS open311_keys (
    key_hash text    PRIMARY KEY,
    key_id   uuid    NOT NULL UNIQUE,
    revoked  boolean NOT NULL DEFAULT false
);

-- What an Open311 client posted about the person (email, names, phone, device and account ids),
-- sealed under the request's own subject (`open311-<report id>`): never returned, never on the bus.
CREATE TABLE IF NOT EXISTS open311_contacts (
    report_id uuid        PRIMARY KEY,
    key_id    uuid        NOT NULL,
    sealed    text        NOT NULL,
    posted_at timestamptz NOT NULL DEFAULT now()
);

-- GET requests: the newest first, most of them shown (a scan that stops at the page's end).
CREATE INDEX IF NOT EXISTS public_reports_filed ON public_reports (filed_at DESC);
