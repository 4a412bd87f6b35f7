--
-- trust: the conninfo policy, one role per node, node identity in
-- deliver(), the peer functions' checks, and the pinned search_path of
-- backends and the worker.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ordering;
RESET client_min_messages;

\set ECHO none
\i test/regress_helpers.sql
\set ECHO all

-- A consenter's conninfo carries addressing and TLS verification only:
-- anything naming a local file or a secret, a Unix socket, a dbname libpq
-- would expand, no user, or a byte that is not ASCII (nodes' encodings may
-- differ) is refused with 22023, and nothing is created.
SELECT conninfo, public.regress_error_of(format(
	$$SELECT ordering.create_channel('trust-bad', %L::jsonb)$$,
	jsonb_build_object('n1', conninfo))) AS create_channel
FROM (VALUES
	('host=10.0.0.1 dbname=x user=o passfile=/etc/passwd'),
	('host=10.0.0.1 dbname=x user=o password=secret'),
	('host=10.0.0.1 dbname=x user=o sslkey=/etc/ssl/private/server.key'),
	('host=10.0.0.1 dbname=x user=o sslcert=/etc/ssl/certs/server.crt'),
	('host=10.0.0.1 dbname=x user=o service=admin'),
	('host=10.0.0.1 dbname=x user=o options=''-c search_path=public'''),
	('host=10.0.0.1 dbname=x user=o connect_timeout=1'),
	('host=10.0.0.1 dbname=x user=o application_name=n9'),
	('host=/var/run/postgresql dbname=x user=o'),
	('host=@abstract dbname=x user=o'),
	('host=10.0.0.1,/tmp dbname=x user=o'),
	('host=10.0.0.1, dbname=x user=o'),
	('host='''' dbname=x user=o'),
	('host=10.0.0.1 dbname=postgresql://evil/x user=o'),
	('host=10.0.0.1 dbname=postgres://evil/x user=o'),
	('host=10.0.0.1 ''dbname=host=evil'' user=o'),
	('host=10.0.0.1 dbname=x'),
	('host=10.0.0.1 dbname=x user='''''),
	('host=10.0.0.1 port=abc dbname=x user=o'),
	('host=10.0.0.1 port=5432,70000 dbname=x user=o'),
	('host=10.0.0.1 port=0 dbname=x user=o'),
	('host=10.0.0.1 dbname=x user=o sslmode=bogus'),
	('host=10.0.0.1 dbname=x user=o gssencmode=always'),
	('host=10.0.0.1 dbname=x user=o channel_binding=maybe'),
	('postgresql://o@10.0.0.1/x?passfile=/etc/passwd'),
	('postgresql://%2Ftmp/x?user=o')
) AS c(conninfo);
-- (not ASCII: shown without the conninfo, whose width psql counts by the
-- database's encoding)
SELECT public.regress_error_of($$SELECT ordering.create_channel('trust-bad',
	'{"n1": "host=10.0.0.1 dbname=café user=o"}')$$) AS create_channel;
SELECT public.regress_error_of($$SELECT ordering.create_channel('trust-bad',
	'{"n1": "host=10.0.0.1 dbname=x user=o sslrootcert=/etc/ssl/ç.crt"}')$$) AS create_channel;
SELECT count(*) AS channels_created FROM ordering.channels
WHERE channel = 'trust-bad';

-- The same rules for add_consenter and join_channel.
SELECT ordering.create_channel('trust-a',
	'{"n1": "host=127.0.0.1 port=1 dbname=contrib_regression user=regress_n1"}');
SELECT public.regress_error_of($$SELECT ordering.add_consenter('trust-a', 'n2',
	'host=10.0.0.2 dbname=x user=o sslkey=/etc/ssl/private/server.key')$$) AS add_consenter;
SELECT public.regress_error_of($$SELECT ordering.add_consenter('trust-a', 'n2',
	'host=/tmp dbname=x user=o')$$) AS add_consenter;
SELECT public.regress_error_of($$SELECT ordering.add_consenter('trust-a', 'n2',
	'host=10.0.0.2 dbname=x')$$) AS add_consenter;
SELECT public.regress_error_of($$SELECT ordering.join_channel('trust-j',
	'host=10.0.0.2 dbname=x user=o passfile=/tmp/pass')$$) AS join_channel;
SELECT public.regress_error_of($$SELECT ordering.join_channel('trust-j',
	'host=10.0.0.2 dbname=x')$$) AS join_channel;

-- Every allowed keyword is accepted.
SELECT ordering.create_channel('trust-allowed', jsonb_build_object('n1',
	'host=n1.example.net hostaddr=127.0.0.1 port=1 dbname=contrib_regression'
	' user=regress_n1 sslmode=verify-full sslrootcert=/etc/ca.crt'
	' sslcrl=/etc/ca.crl sslcrldir=/etc/crl sslsni=1'
	' ssl_min_protocol_version=TLSv1.2 ssl_max_protocol_version=TLSv1.3'
	' channel_binding=prefer gssencmode=disable'));
SELECT ordering.drop_channel('trust-allowed');

-- One role per node per server: this node connects as regress_n1 in
-- trust-a, so another role for it in another channel is refused.
SELECT public.regress_error_of($$SELECT ordering.create_channel('trust-b',
	'{"n1": "host=127.0.0.1 port=1 dbname=x user=someone_else"}')$$) AS second_role;
SELECT count(*) AS channels_created FROM ordering.channels
WHERE channel = 'trust-b';

-- deliver(): a caller whose session user is not the role of the node it
-- claims to be gets 42501 once the worker has published the channel's
-- members; an unknown node or the right role gets through to the
-- envelope check (22P03 for these bytes).
SELECT ordering.create_channel('trust-id', '{
	"n1": "host=127.0.0.1 port=1 dbname=contrib_regression user=regress_n1",
	"n2": "host=127.0.0.1 port=1 dbname=contrib_regression user=regress_n2"}');
CREATE ROLE regress_n2 IN ROLE ordering_peer;
CREATE ROLE regress_n3 IN ROLE ordering_peer;
CREATE ROLE regress_nobody;
CREATE FUNCTION pg_temp.deliver_as_n2_refused() RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	outcome text;
BEGIN
	FOR i IN 1..300 LOOP
		SET SESSION AUTHORIZATION regress_n3;
		outcome := public.regress_error_of($q$SELECT ordering.deliver('n2', '\x02'::bytea)$q$);
		RESET SESSION AUTHORIZATION;
		IF outcome LIKE '42501%' THEN
			RETURN outcome;
		END IF;
		PERFORM pg_sleep(0.1);
	END LOOP;
	RETURN outcome;
END
$$;
SELECT pg_temp.deliver_as_n2_refused() AS n3_as_n2;
SET SESSION AUTHORIZATION regress_n3;
SELECT public.regress_error_of($$SELECT ordering.deliver('n9', '\x02'::bytea)$$) AS n3_as_unknown;
RESET SESSION AUTHORIZATION;
-- SET ROLE changes no identity: the session is still its login role's.
SET ROLE regress_n2;
SELECT public.regress_error_of($$SELECT ordering.deliver('n2', '\x02'::bytea)$$) AS set_role_n2;
RESET ROLE;
SET SESSION AUTHORIZATION regress_n2;
SELECT public.regress_error_of($$SELECT ordering.deliver('n2', '\x02'::bytea)$$) AS n2_as_n2;
RESET SESSION AUTHORIZATION;
SELECT refused_deliveries >= 2 AS refusals_counted FROM ordering.transport_stats();

-- The peer functions: ordering_peer only, and only a member's role.
SET SESSION AUTHORIZATION regress_nobody;
SELECT public.regress_error_of($$SELECT * FROM ordering.peer_blocks('trust-id', 0, 10)$$) AS nobody_blocks;
SELECT public.regress_error_of($$SELECT ordering.peer_block_hash('trust-id', 0)$$) AS nobody_hash;
SELECT public.regress_error_of($$SELECT ordering.peer_term('trust-id')$$) AS nobody_term;
SELECT public.regress_error_of($$SELECT ordering.relay_admin('n2', 'trust-id', 'transfer_leadership', 'n1', '')$$) AS nobody_relay;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_n3;
SELECT public.regress_error_of($$SELECT * FROM ordering.peer_blocks('trust-id', 0, 10)$$) AS n3_blocks;
SELECT public.regress_error_of($$SELECT ordering.peer_block_hash('trust-id', 0)$$) AS n3_hash;
SELECT public.regress_error_of($$SELECT ordering.peer_term('trust-id')$$) AS n3_term;
SELECT public.regress_error_of($$SELECT ordering.relay_admin('n2', 'trust-id', 'transfer_leadership', 'n1', '')$$) AS n3_relay;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_n2;
SELECT number, is_config, tx_count, tx_ids, length(config) > 0 AS has_config
FROM ordering.peer_blocks('trust-id', 0, 10);
SELECT encode(ordering.peer_block_hash('trust-id', 0), 'hex') AS block0_hash \gset
SELECT ordering.peer_block_hash('trust-id', 99) IS NULL AS no_such_block;
SELECT ordering.peer_term('trust-id') AS term \gset
SELECT public.regress_error_of($$SELECT ordering.peer_term('trust-none')$$) AS unknown_channel_term;
SELECT public.regress_error_of($$SELECT * FROM ordering.peer_blocks('trust-id', 0, 0)$$) AS zero_blocks;
SELECT public.regress_error_of($$SELECT * FROM ordering.peer_blocks('trust-none', 0, 1)$$) AS unknown_channel;
SELECT public.regress_error_of($$SELECT ordering.relay_admin('n1', 'trust-id', 'transfer_leadership', 'n1', '')$$) AS n2_relays_for_n1;
SELECT public.regress_error_of($$SELECT ordering.relay_admin('n2', 'trust-id', 'drop_everything', '', '')$$) AS unknown_request;
RESET SESSION AUTHORIZATION;
SELECT :'block0_hash' = encode(hash, 'hex') AS same_hash
FROM ordering.blocks WHERE channel = 'trust-id' AND number = 0;
SELECT :'term' = term::text AS same_term
FROM ordering.raft_state WHERE channel = 'trust-id';

-- A role that is no longer a member's reads up to the block that removed
-- its node, and no further.
SELECT public.regress_wait_for_leader('trust-a');
SELECT ordering.add_consenter('trust-a', 'n2',
	'host=127.0.0.1 port=1 dbname=contrib_regression user=regress_n2') AS added;
SELECT ordering.remove_consenter('trust-a', 'n2') AS removed;
SELECT ordering.submit_tx('trust-a', 'after n2 left') IS NOT NULL AS submitted;
SET SESSION AUTHORIZATION regress_n2;
SELECT number, is_config FROM ordering.peer_blocks('trust-a', 0, 100);
SELECT ordering.peer_block_hash('trust-a', 2) IS NOT NULL AS removal_block_hash,
	   ordering.peer_block_hash('trust-a', 3) IS NULL AS later_block_hidden;
-- The term is for the members who may vote.
SELECT public.regress_error_of($$SELECT ordering.peer_term('trust-a')$$) AS former_member_term;
RESET SESSION AUTHORIZATION;

-- Records of channels this node does not serve are counted.
SELECT unknown_channel_records >= 0 AS counted FROM ordering.transport_stats();

-- The pinned search_path: functions and operators planted in public with
-- the exact names and argument types the extension's SQL uses are never
-- called, by backends (even with public first in their caller's
-- search_path, set only around the calls below) nor by the worker.
CREATE TABLE public.regress_planted_calls (name text, query text);
CREATE FUNCTION public.regress_planted(name text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS $$
	INSERT INTO public.regress_planted_calls VALUES (name, current_query())
$$;
GRANT EXECUTE ON FUNCTION public.regress_planted(text) TO PUBLIC;
CREATE FUNCTION public.unnest(text[]) RETURNS SETOF text
LANGUAGE sql AS $$
	SELECT public.regress_planted('unnest(text[])');
	SELECT x FROM pg_catalog.unnest($1) x
$$;
CREATE FUNCTION public.sha256(bytea) RETURNS bytea
LANGUAGE sql AS $$
	SELECT public.regress_planted('sha256(bytea)');
	SELECT pg_catalog.sha256($1)
$$;
CREATE FUNCTION public.convert_from(bytea, name) RETURNS text
LANGUAGE sql AS $$
	SELECT public.regress_planted('convert_from(bytea, name)');
	SELECT pg_catalog.convert_from($1, $2)
$$;
CREATE FUNCTION public.regress_planted_texteq(text, text) RETURNS boolean
LANGUAGE sql AS $$
	SELECT public.regress_planted('=(text, text)');
	SELECT $1 OPERATOR(pg_catalog.=) $2
$$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text,
						  FUNCTION = public.regress_planted_texteq);
CREATE FUNCTION public.regress_planted_int8eq(bigint, bigint) RETURNS boolean
LANGUAGE sql AS $$
	SELECT public.regress_planted('=(bigint, bigint)');
	SELECT $1 OPERATOR(pg_catalog.=) $2
$$;
CREATE OPERATOR public.= (LEFTARG = bigint, RIGHTARG = bigint,
						  FUNCTION = public.regress_planted_int8eq);
SELECT ordering.create_channel('trust-sp',
	'{"n1": "host=127.0.0.1 port=1 dbname=contrib_regression user=regress_n1"}');
SELECT public.regress_wait_for_leader('trust-sp');
BEGIN;
SET LOCAL search_path = public, pg_catalog;
SELECT count(*) AS submitted FROM ordering.submit_txs('trust-sp', ARRAY['a', 'b']::bytea[]);
SELECT ordering.wait_for_block('trust-sp', 1, 10000) AS waited;
SELECT ok FROM ordering.verify_chain('trust-sp');
SELECT count(*) AS listed FROM ordering.list_channels();
SELECT count(*) AS status_rows FROM ordering.status;
COMMIT;
BEGIN;
SET LOCAL search_path = public, pg_catalog;
SELECT ordering.add_consenter('trust-sp', 'n1', 'host=x dbname=x user=regress_n1');
ROLLBACK;
SET SESSION AUTHORIZATION regress_n2;
BEGIN;
SET LOCAL search_path = public, pg_catalog;
SELECT count(*) AS block_rows FROM ordering.peer_blocks('trust-a', 0, 10);
SELECT ordering.peer_block_hash('trust-a', 0) IS NOT NULL AS has_hash;
COMMIT;
RESET SESSION AUTHORIZATION;
SELECT ordering.drop_channel('trust-sp');
SELECT name, query FROM public.regress_planted_calls;

DROP OPERATOR public.= (text, text);
DROP OPERATOR public.= (bigint, bigint);
DROP FUNCTION public.unnest(text[]), public.sha256(bytea),
	public.convert_from(bytea, name), public.regress_planted_texteq(text, text),
	public.regress_planted_int8eq(bigint, bigint), public.regress_planted(text);
DROP TABLE public.regress_planted_calls;
SELECT ordering.drop_channel('trust-a');
SELECT ordering.drop_channel('trust-id');
DROP ROLE regress_n2, regress_n3, regress_nobody;
