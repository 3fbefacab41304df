-- The sender walks the code table in the order rows were added (`n`, never changed), which is
-- about the order they lie on disk: a batch reads pages in sequence instead of one page per
-- resident, as walking by user_id did.
ALTER TABLE audience ADD COLUMN IF NOT EXISTS n bigint GENERATED ALWAYS AS IDENTITY;
CREATE UNIQUE INDEX IF NOT EXISTS audience_n ON audience (n);
ALTER TABLE notice_sends ADD COLUMN IF NOT EXISTS position bigint NOT NULL DEFAULT 0;
-- Chunks are written once and read once: compressing 17 KB of ids costs more than it saves.
ALTER TABLE notice_chunks ALTER COLUMN recipients SET STORAGE EXTERNAL;
-- The user_id cursor it replaces.
ALTER TABLE notice_sends DROP COLUMN IF EXISTS cursor;
