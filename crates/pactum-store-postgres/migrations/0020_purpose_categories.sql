-- The categories a purpose holds are one column of the purpose, sorted and joined by commas
-- (category keys are policy keys: lower-case letters, digits and underscores), instead of a row
-- per category.

ALTER TABLE purpose_instances ADD COLUMN categories TEXT NOT NULL DEFAULT '';
UPDATE purpose_instances p SET categories = h.categories
    FROM (SELECT instance_id, string_agg(category, ',' ORDER BY category) AS categories
          FROM purpose_holds GROUP BY instance_id) h
    WHERE h.instance_id = p.id;
ALTER TABLE purpose_instances ALTER COLUMN categories DROP DEFAULT;
DROP TABLE purpose_holds;
