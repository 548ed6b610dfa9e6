-- Who gave an approval, as established (issue 9): `actor` is the canonical person on whose
-- authority it was given; `authenticated_as` the person whose Slack request or OS login
-- actually made it (they differ only for break-glass); `auth` how (method, team, login,
-- host); `break_glass` the operator, login, host and reason when acting for someone else.
ALTER TABLE approvals ADD COLUMN authenticated_as text;
ALTER TABLE approvals ADD COLUMN auth jsonb NOT NULL DEFAULT '{}';
ALTER TABLE approvals ADD COLUMN break_glass jsonb;
-- Rows from before this migration were given by the person named.
UPDATE approvals SET authenticated_as = actor WHERE authenticated_as IS NULL;
ALTER TABLE approvals ALTER COLUMN authenticated_as SET NOT NULL;
