-- The two conversions between timestamps and whole microseconds since 1970 are written so that
-- PostgreSQL inlines them into the statements that use them, instead of calling an SQL function for
-- every value. A SQL function is inlined only when its body is no more volatile than it is declared:
-- `extract(epoch FROM <timestamptz>)` is STABLE (other fields of it depend on the time zone), so
-- `hubnet_micros`, declared IMMUTABLE, was called once per timestamp of every record the change log
-- writes. Measured on the scale preset's first two days: 204,485 calls, 2.9 s of the 31 s PostgreSQL
-- spent executing statements; the inline form takes under a quarter of the time per value.
--
-- `t - TIMESTAMPTZ 'epoch'` is an exact interval (days and microseconds, no months), and the epoch of
-- an interval is exact: the result is the same integer, which the migration's test checks against
-- the previous form across two centuries.
CREATE OR REPLACE FUNCTION hubnet_micros(t TIMESTAMPTZ) RETURNS BIGINT
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT (extract(epoch FROM t - TIMESTAMPTZ 'epoch') * 1000000)::BIGINT $$;

-- Adding an interval to a timestamptz is STABLE in PostgreSQL (a day or a month depends on the time
-- zone), with no IMMUTABLE equivalent that stays exact; this one adds microseconds only, whose
-- result no setting changes. Declared STABLE, it is inlined (67,466 calls, 1.3 s in the same run);
-- nothing indexes or stores it, where IMMUTABLE would be required.
ALTER FUNCTION hubnet_from_micros(BIGINT) STABLE;
