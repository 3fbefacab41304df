-- A weekly notice: each week's send is its own row (own chunks, own retry keys), `notice_id`
-- naming the notice; the next week's row is written when a week's send finishes.
ALTER TABLE notice_sends ADD COLUMN IF NOT EXISTS notice_id uuid;
ALTER TABLE notice_sends ADD COLUMN IF NOT EXISTS weekly boolean NOT NULL DEFAULT false;
UPDATE notice_sends SET notice_id = send_id WHERE notice_id IS NULL AND series IS NULL;
CREATE INDEX IF NOT EXISTS notice_sends_notice ON notice_sends (notice_id);
