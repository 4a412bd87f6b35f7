--
-- Helpers of the pg_regress tests (sql/*.sql), which read this file with
--   \set ECHO none
--   \i test/regress_helpers.sql
--   \set ECHO all
-- In schema public, so that they work under SET ROLE too.
--

-- regress_error_of(statement): 'no error', or the SQLSTATE, message and
-- detail of the error the statement raises.
CREATE OR REPLACE FUNCTION public.regress_error_of(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	state text;
	message text;
	detail text;
BEGIN
	EXECUTE statement;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE,
		message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
	RETURN state || ': ' || message || coalesce(' (' || nullif(detail, '') || ')', '');
END
$$;

-- regress_wait_for_leader(channel): 'leader' once this node leads the
-- channel, 'no leader' after 30 s.
CREATE OR REPLACE FUNCTION public.regress_wait_for_leader(channel_name text)
RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..300 LOOP
		IF EXISTS (SELECT 1 FROM ordering.status s
				   WHERE s.channel = channel_name AND s.is_leader) THEN
			RETURN 'leader';
		END IF;
		PERFORM pg_sleep(0.1);
	END LOOP;
	RETURN 'no leader';
END
$$;
