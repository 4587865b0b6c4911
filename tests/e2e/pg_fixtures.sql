-- Fixtures for test_postgres.py: every type the PostgreSQL connector maps, with edge values.
-- Loaded by the superuser; tables are owned by the role clove reads with.
SET client_encoding = 'UTF8';
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'ünïcode');
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE TABLE types (
    id integer PRIMARY KEY,
    i2 smallint, i4 integer, i8 bigint,
    n102 numeric(10,2), n380 numeric(38,0), n3838 numeric(38,38), n184 numeric(18,4),
    r real, dp double precision,
    t text, vc varchar(20), ch char(5), nm name,
    b boolean,
    d date, tm time, ttz time with time zone, ts timestamp, tz timestamptz, iv interval,
    u uuid, j json, jb jsonb, by bytea, m mood, dom posint,
    a_i4 integer[], a_i8 bigint[], a_t text[], a_n numeric(10,2)[], a_tz timestamptz[],
    a_b boolean[], a_u uuid[], a_m mood[], a_d date[], a_by bytea[], a_jb jsonb[],
    a_f8 double precision[], a_iv interval[]
);
INSERT INTO types VALUES
(1, 1, 2, 3, 1.50, 12, 0.5, 3.1415,
 1.25, -2.5,
 'apple', 'vç', 'ab', 'nm',
 true,
 '2024-01-02', '13:14:15', '13:14:15+05:30', '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05+02',
 '1 year 2 mons 3 days 04:05:06.7',
 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2]}', '{"b": null, "a": 1}', '\xdeadbeef', 'happy', 7,
 '{1,NULL,3}', '{9223372036854775807}', '{"x","é",NULL,"NULL","a,b"}', '{1.25,NULL}',
 '{"2024-01-02 03:04:05+02","1999-12-31 23:59:59.5-08"}',
 '{true,false,NULL}', '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', '{sad,ünïcode}', '{2024-02-29}',
 '{"\\x00ff",NULL}', '{"{\"k\": 1}"}', '{1.5,NaN,-Infinity}', '{"1 day","-2 hours"}'),
(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
(3, -32768, 2147483647, -9223372036854775808, -99999999.99,
 99999999999999999999999999999999999999, 0.99999999999999999999999999999999999999,
 -99999999999999.9999,
 'NaN', '-Infinity',
 '', 'ünïcödé ✓', 'x', 'ß',
 false,
 'infinity', '24:00:00', '00:00:00-14:59', '-infinity', 'infinity',
 '-178000000 years',
 '00000000-0000-0000-0000-000000000000', 'null', '[]', '\x00ff00', 'ünïcode', 2147483647,
 '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}'),
(4, 32767, -2147483648, 9223372036854775807, 0.01,
 -99999999999999999999999999999999999999, -0.00000000000000000000000000000000000001, 0,
 '-0', 1e308,
 'it''s "quoted"', 'Zebra', 'abcde', 'zz',
 true,
 '0044-03-15 BC', '00:00:00', '23:59:59.999999+14', '1970-01-01 00:00:00', '2024-06-30 23:59:59.999999-07',
 '-1 mons +2 days -00:00:00.000001',
 'ffffffff-ffff-ffff-ffff-ffffffffffff', '{"nested": {"deep": [true, null]}}', '{"ü": "ñ"}', '\x', 'sad', 1,
 '{-2147483648,2147483647}', '{NULL}', '{""}', '{-0.01}', '{infinity}', '{NULL}', '{NULL}', '{NULL}',
 '{-infinity,infinity}', '{"\\x"}', '{null}', '{-0,1e-308}', '{"-178000000 years"}'),
(5, 0, 0, 0, 0, 0, 0, 0,
 'Infinity', 'NaN',
 'banana', 'apple', 'aaaaa', 'a',
 false,
 '2000-01-01', '12:00:00.000001', '12:00:00+00', '2000-01-01 00:00:00', '2000-01-01 00:00:00+00',
 '0',
 '11111111-2222-3333-4444-555555555555', '{}', '{}', '\x00', 'ok', 5,
 '{0}', '{0}', '{"banana"}', '{0}', '{"2000-01-01 00:00:00+00"}', '{true}',
 '{11111111-2222-3333-4444-555555555555}', '{ok}', '{2000-01-01}', '{"\\x00"}', '{"{}"}', '{0}', '{0}');
ALTER TABLE types OWNER TO clove_reader;
ALTER TYPE mood OWNER TO clove_reader;
-- a session time zone far from UTC: binary timestamptz does not depend on it
ALTER ROLE clove_reader SET timezone = 'Asia/Kathmandu';
