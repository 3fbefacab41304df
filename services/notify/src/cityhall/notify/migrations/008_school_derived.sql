-- A 学区 is derived from the district when a segment names it (`town.school_districts`), never
-- stored: a town that redraws its 学区 changes no resident's row.
ALTER TABLE audience DROP COLUMN IF EXISTS school;
