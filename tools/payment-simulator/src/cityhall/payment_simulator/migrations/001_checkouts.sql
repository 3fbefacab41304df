-- The simulated payment provider's own records (it stands for a company outside the city hall).
CREATE TABLE IF NOT EXISTS checkouts (
    checkout_id     text        PRIMARY KEY,
    idempotency_key text        NOT NULL UNIQUE,
    reference       text        NOT NULL,
    amount          integer     NOT NULL CHECK (amount >= 0),
    return_url      text        NOT NULL,
    callback_url    text        NOT NULL,
    status          text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paid', 'failed', 'cancelled')),
    payment_id      text        UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz
);

CREATE TABLE IF NOT EXISTS refunds (
    refund_id  text        PRIMARY KEY,
    payment_id text        NOT NULL UNIQUE,
    amount     integer     NOT NULL CHECK (amount >= 0),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Signed notices to the merchant's callback URL, retried until it answers 2xx.
CREATE TABLE IF NOT EXISTS notices (
    notice_id       text        PRIMARY KEY,
    checkout_id     text        NOT NULL REFERENCES checkouts (checkout_id),
    callback_url    text        NOT NULL,
    body            text        NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    gave_up_at      timestamptz,
    last_error      text
);
CREATE INDEX IF NOT EXISTS notices_due ON notices (next_attempt_at) WHERE delivered_at IS NULL AND gave_up_at IS NULL;
