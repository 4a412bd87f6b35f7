--
-- privileges: the four roles, least privilege, nothing for PUBLIC.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ordering;
RESET client_min_messages;

\set ECHO none
\i test/regress_helpers.sql
\set ECHO all

-- The roles exist, and an admin is also a reader and a writer.
SELECT rolname, rolcanlogin FROM pg_roles
WHERE rolname LIKE 'ordering\_%' ORDER BY rolname;
SELECT pg_has_role('ordering_admin', 'ordering_reader', 'MEMBER') AS admin_reads,
	   pg_has_role('ordering_admin', 'ordering_writer', 'MEMBER') AS admin_writes,
	   pg_has_role('ordering_writer', 'ordering_reader', 'MEMBER') AS writer_reads;

-- No function of the extension is executable by PUBLIC.
SELECT p.oid::regprocedure AS executable_by_public
FROM pg_proc p
WHERE p.pronamespace = 'ordering'::regnamespace
  AND (p.proacl IS NULL
	   OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) a
				  WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'))
ORDER BY 1::text;

-- Who may execute what.
SELECT p.proname,
	   string_agg(r.rolname, ', ' ORDER BY r.rolname) AS granted_to
FROM pg_proc p
CROSS JOIN LATERAL aclexplode(p.proacl) a
JOIN pg_roles r ON r.oid = a.grantee
WHERE p.pronamespace = 'ordering'::regnamespace
  AND a.privilege_type = 'EXECUTE'
  AND r.rolname LIKE 'ordering\_%'
GROUP BY p.proname ORDER BY p.proname;

-- Who may read which table or view.
SELECT c.relname,
	   string_agg(r.rolname, ', ' ORDER BY r.rolname) AS select_granted_to
FROM pg_class c
CROSS JOIN LATERAL aclexplode(c.relacl) a
JOIN pg_roles r ON r.oid = a.grantee
WHERE c.relnamespace = 'ordering'::regnamespace
  AND a.privilege_type = 'SELECT'
  AND r.rolname LIKE 'ordering\_%'
GROUP BY c.relname ORDER BY c.relname;
SELECT c.relname, a.privilege_type
FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a
WHERE c.relnamespace = 'ordering'::regnamespace AND a.grantee = 0;
SELECT has_schema_privilege('public', 'ordering', 'USAGE') AS public_schema_usage;

-- One test role per role, and one with none.
CREATE ROLE regress_ordering_admin IN ROLE ordering_admin;
CREATE ROLE regress_ordering_writer IN ROLE ordering_writer;
CREATE ROLE regress_ordering_reader IN ROLE ordering_reader;
CREATE ROLE regress_ordering_peer IN ROLE ordering_peer;
CREATE ROLE regress_ordering_nobody;

-- An admin creates and drops channels.
SET ROLE regress_ordering_admin;
SELECT ordering.create_channel('privileges-ch', '{"n1": "dbname=contrib_regression user=orderer"}');
SELECT count(*) >= 0 AS reads_log FROM ordering.log WHERE channel = 'privileges-ch';
SELECT count(*) AS raft_state_rows FROM ordering.raft_state WHERE channel = 'privileges-ch';
RESET ROLE;

-- Each role tries each kind of call.
CREATE TABLE public.regress_ordering_attempts (call text, statement text);
GRANT SELECT ON public.regress_ordering_attempts TO PUBLIC;
INSERT INTO public.regress_ordering_attempts VALUES
	('create_channel', $$SELECT ordering.create_channel('privileges-x', '{"n1": "dbname=x user=orderer"}')$$),
	('drop_channel', $$SELECT ordering.drop_channel('no-such-channel')$$),
	('update_channel_config', $$SELECT ordering.update_channel_config('no-such-channel', '{}')$$),
	('add_consenter', $$SELECT ordering.add_consenter('no-such-channel', 'n9', 'dbname=x user=orderer')$$),
	('remove_consenter', $$SELECT ordering.remove_consenter('no-such-channel', 'n9')$$),
	('update_consenter', $$SELECT ordering.update_consenter('no-such-channel', 'n9', 'dbname=x user=orderer')$$),
	('transfer_leadership', $$SELECT ordering.transfer_leadership('no-such-channel', 'n9')$$),
	('submit_tx', $$SELECT ordering.submit_tx('no-such-channel', 'x')$$),
	('submit_tx_async', $$SELECT ordering.submit_tx_async('no-such-channel', 'x')$$),
	('submit_txs', $$SELECT ordering.submit_txs('no-such-channel', ARRAY['x'::bytea])$$),
	('select blocks', $$SELECT count(*) FROM ordering.blocks$$),
	('select transactions', $$SELECT count(*) FROM ordering.transactions$$),
	('select status', $$SELECT count(*) FROM ordering.status$$),
	('select log', $$SELECT count(*) FROM ordering.log$$),
	('verify_chain', $$SELECT ordering.verify_chain('privileges-ch')$$),
	('wait_for_block', $$SELECT ordering.wait_for_block('privileges-ch', 0, 0)$$),
	('list_channels', $$SELECT count(*) FROM ordering.list_channels()$$),
	('insert blocks', $$INSERT INTO ordering.blocks SELECT * FROM ordering.blocks LIMIT 0$$),
	('deliver', $$SELECT ordering.deliver('n9', ''::bytea)$$);

-- 42501 is "insufficient privilege"; 42704 means the call got through to
-- validation (the channel does not exist).
SET ROLE regress_ordering_nobody;
SELECT call, public.regress_error_of(statement) AS nobody FROM public.regress_ordering_attempts;
SET ROLE regress_ordering_peer;
SELECT call, public.regress_error_of(statement) AS peer FROM public.regress_ordering_attempts
WHERE call <> 'deliver';
SET ROLE regress_ordering_reader;
SELECT call, public.regress_error_of(statement) AS reader FROM public.regress_ordering_attempts;
SET ROLE regress_ordering_writer;
SELECT call, public.regress_error_of(statement) AS writer FROM public.regress_ordering_attempts
WHERE call NOT LIKE 'submit%';
SELECT public.regress_error_of($$SELECT ordering.submit_tx('no-such-channel', 'x')$$) AS writer_submits;
SET ROLE regress_ordering_admin;
SELECT call, public.regress_error_of(statement) AS admin FROM public.regress_ordering_attempts
WHERE call NOT IN ('create_channel', 'deliver') AND call NOT LIKE 'submit%';
SELECT ordering.drop_channel('privileges-ch');
RESET ROLE;

DROP TABLE public.regress_ordering_attempts;
DROP ROLE regress_ordering_admin, regress_ordering_writer,
	regress_ordering_reader, regress_ordering_peer, regress_ordering_nobody;
