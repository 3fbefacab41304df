-- Where each resident is in the booking dialog; written with the turn's events and reply.
CREATE TABLE IF NOT EXISTS reservations_sessions (
    user_id    text        PRIMARY KEY,
    draft      uuid        NOT NULL,
    step       text        NOT NULL,
    category   text        NOT NULL DEFAULT '',
    resource   text        NOT NULL DEFAULT '',
    start      text        NOT NULL DEFAULT '',
    answers    text        NOT NULL DEFAULT '',
    waiting    boolean     NOT NULL DEFAULT false,
    replaces   text        NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The bookings whose day-before reminder was sent, written with the reminder itself.
CREATE TABLE IF NOT EXISTS reservations_reminded (
    booking_id uuid        PRIMARY KEY,
    sent_at    timestamptz NOT NULL DEFAULT now()
);
