-- Reports as the public sees them: no resident, nothing a resident wrote or photographed. Kept
-- from events.reports (every report, with its status; the map shows the moderated ones).
CREATE TABLE IF NOT EXISTS public_reports (
    report_id  uuid             PRIMARY KEY,
    number     text             NOT NULL,
    category   text             NOT NULL,
    district   text             NOT NULL,
    latitude   double precision NOT NULL,
    longitude  double precision NOT NULL,
    status     text             NOT NULL,
    filed_at   timestamptz      NOT NULL,
    updated_at timestamptz      NOT NULL
);
CREATE INDEX IF NOT EXISTS public_reports_status ON public_reports (status, filed_at DESC);
