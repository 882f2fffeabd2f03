-- The values a person gave when a purpose began, by item id (16 bytes each, one after the other), so
-- that what is shown or passed on for that sign-up is what was given for it, even when the same
-- address later signs up with other values. NULL where the purpose began over no values of its own.
ALTER TABLE purpose_instances ADD COLUMN item_ids BYTEA;
