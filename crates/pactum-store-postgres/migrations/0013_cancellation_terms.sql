-- The provider's cancellation terms per course: a buyer may cancel free of charge until so many days
-- before the session starts; after that, the late fee (a share of the price) is kept.
ALTER TABLE courses ADD COLUMN cancel_free_days BIGINT NOT NULL DEFAULT 14;
ALTER TABLE courses ADD COLUMN cancel_late_fee_percent BIGINT NOT NULL DEFAULT 100;
