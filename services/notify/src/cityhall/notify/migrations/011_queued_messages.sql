-- A queued request's messages as the JSON text they arrived in, serialised once when queued and
-- sent as they are: `request` is jsonb, which keeps neither the producer's key order nor its
-- text, so sending from it meant building LINE's models again for every request.
-- NULL in rows queued before this column existed: those are serialised when they are sent.
ALTER TABLE delivery_queue ADD COLUMN IF NOT EXISTS messages text;
