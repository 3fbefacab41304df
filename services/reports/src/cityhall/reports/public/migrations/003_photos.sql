-- The photos beside a report on the public map: staff's after-photo, and residents' photos staff
-- published after blurring faces and number plates (served by reports at an unguessable address).
CREATE TABLE IF NOT EXISTS public_photos (
    public_id uuid PRIMARY KEY,
    report_id uuid NOT NULL,
    kind      text NOT NULL CHECK (kind IN ('after', 'published'))
);
CREATE INDEX IF NOT EXISTS public_photos_report ON public_photos (report_id);
