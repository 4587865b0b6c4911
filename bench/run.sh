#!/usr/bin/env bash
# bench/run.sh: builds the benchmark programs (bench/*.c -> bench/out/) and runs the benchmarks
# against cloved, each beside a peer measured in the same run. See bench/README.md.
#
#   bash bench/run.sh [point|startup|bigjson|refresh|append|refreshload|flight|pgrefresh|pgpoint ...]
#   (default: all)
#
# Environment: CLOVE_BIN_DIR (default build/bin) holds cloved and clove-example-data;
# BENCH_ROUNDS (3), BENCH_POINT_ROWS (1000000), BENCH_POINT_N (5000 requests per round),
# BENCH_TPUT_SEC (4), BENCH_STARTUP_RUNS (10), BENCH_BIG_ROWS (10000000), BENCH_PIN_CPU (0),
# BENCH_REFRESH_ROWS (10000000), BENCH_REFRESH_ENGINES (arrow duckdb-memory duckdb-file),
# BENCH_APPEND_ENGINES (arrow duckdb-file), BENCH_FLIGHT_ROWS (10000000), BENCH_FLIGHT_N (2000),
# BENCH_S3_FILES (20 Parquet objects of BENCH_S3_FILE_ROWS = 1000000 rows, about 52 MB each),
# BENCH_PG_ROWS (5000000), BENCH_PG_POINT_N (3000).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BIN=${CLOVE_BIN_DIR:-build/bin}
[[ $BIN == /* ]] || BIN=$ROOT/$BIN
OUT=$ROOT/bench/out
LOGS=$OUT/logs
SUMMARY=$OUT/summary.txt
ALL=(point startup bigjson refresh append refreshload flight s3refresh pgrefresh pgpoint)

ROUNDS=${BENCH_ROUNDS:-3}
POINT_ROWS=${BENCH_POINT_ROWS:-1000000}
POINT_N=${BENCH_POINT_N:-5000}
TPUT_SEC=${BENCH_TPUT_SEC:-4}
STARTUP_RUNS=${BENCH_STARTUP_RUNS:-10}
BIG_ROWS=${BENCH_BIG_ROWS:-10000000}
PIN_CPU=${BENCH_PIN_CPU:-0}
REFRESH_ROWS=${BENCH_REFRESH_ROWS:-10000000}
REFRESH_ENGINES=${BENCH_REFRESH_ENGINES:-arrow duckdb-memory duckdb-file}
APPEND_ENGINES=${BENCH_APPEND_ENGINES:-arrow duckdb-file}
FLIGHT_ROWS=${BENCH_FLIGHT_ROWS:-10000000}
FLIGHT_N=${BENCH_FLIGHT_N:-2000}
S3_FILES=${BENCH_S3_FILES:-20}
S3_FILE_ROWS=${BENCH_S3_FILE_ROWS:-1000000}
PG_ROWS=${BENCH_PG_ROWS:-5000000}
PG_POINT_N=${BENCH_PG_POINT_N:-3000}
PG_BIN=${CLOVE_PG_BIN:-/usr/lib/postgresql/15/bin}
# the build tree of cloved: libclove_core.a and the protoc-c output (build/proto-gen)
CORE_DIR=$(dirname "$BIN")
# shellcheck disable=SC2016 # $1 is the SQL parameter, not a shell expansion
POINT_SQL='SELECT * FROM t WHERE id = $1'
BIG_SQL="SELECT i, i::DOUBLE * 1.5 AS x, 'row ' || i AS label, TIMESTAMP '2024-01-01' + to_seconds(i) AS ts FROM range($BIG_ROWS) t(i)"
FLIGHT_GEN="SELECT i, i::DOUBLE * 1.5 AS d, 'row ' || i AS s, TIMESTAMP '2024-01-01' + to_seconds(i) AS ts, i % 2 = 0 AS b FROM range($FLIGHT_ROWS) t(i)"
FLIGHT_SQL="SELECT * FROM t"

# ---- helpers ------------------------------------------------------------------------------

say() { printf '%s\n' "$*"; }
section() { printf '\n== %s\n' "$*"; }

# kv KEY LINE: the value of KEY=VALUE in a line of key=value pairs ("nan" when absent).
kv() {
    local key=$1 f
    for f in $2; do
        if [[ $f == "$key="* ]]; then
            printf '%s\n' "${f#*=}"
            return
        fi
    done
    printf 'nan\n'
}

# med NUMBERS...: the median.
med() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
        END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2];
              else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# calc EXPR: floating point arithmetic, 2 decimals.
calc() {
    if [[ $1 == *nan* || -z $1 ]]; then
        echo nan
        return
    fi
    awk "BEGIN { v = $1; printf (v > -0.1 && v < 0.1 && v != 0) ? \"%.2g\" : \"%.2f\", v }" \
        2>/dev/null || echo nan
}
mb() { calc "$1 / 1024"; }

# met OP VALUE TARGET: "yes" when VALUE OP TARGET holds (OP: le lt ge gt), "NO" otherwise.
met() {
    awk -v op="$1" -v v="$2" -v t="$3" 'BEGIN {
        if (v == "nan" || v == "") { print "n/a"; exit }
        ok = (op == "le" && v + 0 <= t + 0) || (op == "lt" && v + 0 < t + 0) ||
             (op == "ge" && v + 0 >= t + 0) || (op == "gt" && v + 0 > t + 0)
        print ok ? "yes" : "NO" }'
}

# row BENCH METRIC CLOVE PEER RATIO TARGET MET: one line of the final summary table.
row() { printf '%s|%s|%s|%s|%s|%s|%s\n' "$@" >>"$SUMMARY"; }

status_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || echo nan; }

# stop_pid PID: SIGTERM, up to 10 s to exit, then SIGKILL. Only for processes we started.
stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 200; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# forget_pid PID: drops a process that has been waited for from PIDS (its id may be reused).
forget_pid() {
    local p keep=()
    for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

PIDS=()
PG_RUNNING=
cleanup() {
    local p
    for p in "${PIDS[@]}"; do stop_pid "$p"; done
    PIDS=()
    rm -f "$OUT/csv.fifo"
    [[ -z $PG_RUNNING ]] || pg_stop
}

build_one() { # NAME [LIBS...]: bench/NAME.c -> bench/out/NAME when out of date (or older
    # than a file of BUILD_DEPS)
    local src=bench/$1.c bin=$OUT/$1 d stale=
    shift
    if [[ ! -f $src ]]; then
        say "run.sh: $src is missing: the benchmarks that need ${bin##*/} will fail" >&2
        return 0
    fi
    for d in ${BUILD_DEPS:-}; do [[ $d -nt $bin ]] && stale=1; done
    if [[ ! -x $bin || $src -nt $bin || bench/bench_util.h -nt $bin || -n $stale ]]; then
        gcc -std=c11 -O2 -g -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -pthread -o "$bin" "$src" "$@"
    fi
}

build_all() {
    mkdir -p "$OUT" "$LOGS"
    # -isystem, like CMake does for the imported duckdb target: duckdb.h has "f()" declarations
    local duck=(-isystem deps/duckdb/include -L deps/duckdb/lib "-Wl,-rpath,$ROOT/deps/duckdb/lib"
                -lduckdb)
    build_one httpc
    build_one echo_server
    build_one startup
    build_one duck_peer "${duck[@]}"
    # shellcheck disable=SC2046 # pkg-config output is a list of words
    build_one pg_peer $(pkg-config --cflags --libs libpq)
    # the flight benchmark's gRPC programs: the protoc-c output and libclove_core.a come from
    # cloved's build tree (cmake --build build --target clove_core cloved)
    local pg=$CORE_DIR/proto-gen grpc
    grpc=$(pkg-config --libs grpc libprotobuf-c)
    # shellcheck disable=SC2086 # pkg-config output is a list of words
    [[ ! -f bench/grpc_echo_server.c ]] || build_one grpc_echo_server $grpc
    if [[ -f $pg/Flight.pb-c.c && -f $CORE_DIR/libclove_core.a ]]; then
        # shellcheck disable=SC2086
        BUILD_DEPS="$pg/Flight.pb-c.c" build_one flightc -isystem "$pg" -Wno-strict-prototypes \
            "$pg/Flight.pb-c.c" "$pg/FlightSql.pb-c.c" "$pg/google/protobuf/any.pb-c.c" $grpc
        # shellcheck disable=SC2046,SC2086
        BUILD_DEPS="$CORE_DIR/libclove_core.a" build_one flight_lib -D_GNU_SOURCE -Isrc \
            "${duck[@]:0:2}" "$CORE_DIR/libclove_core.a" \
            $(pkg-config --libs grpc libprotobuf-c yaml-0.1 libmicrohttpd jansson openssl sqlite3) \
            "${duck[@]:2}" -lm
    else
        say "run.sh: $pg or $CORE_DIR/libclove_core.a missing: the flight benchmark needs cloved's build tree (cmake --build build --target clove_core cloved)" >&2
    fi
}

# start_cloved POD LOG [--metrics]: runs cloved on free ports and waits for /v1/ready;
# sets CLOVED_PID, CLOVED_PORT (HTTP), CLOVED_FPORT (Flight), CLOVED_READY_MS, and with
# --metrics CLOVED_MPORT (the Prometheus endpoint, --metrics 127.0.0.1:PORT).
start_cloved() {
    local pod=$1 log=$2 fport mport line extra=()
    read -r CLOVED_PORT fport mport < <("$OUT/httpc" freeport 3)
    CLOVED_FPORT=$fport
    CLOVED_MPORT=
    if [[ ${3:-} == --metrics ]]; then
        CLOVED_MPORT=$mport
        extra=(--metrics "127.0.0.1:$mport")
    fi
    "$BIN/cloved" --http "127.0.0.1:$CLOVED_PORT" --flight "127.0.0.1:$fport" "${extra[@]}" \
        "$pod" >"$log" 2>&1 &
    CLOVED_PID=$!
    PIDS+=("$CLOVED_PID")
    if ! line=$("$OUT/httpc" wait --port "$CLOVED_PORT" --path /v1/ready --timeout 120 \
                --pid "$CLOVED_PID" --interval-ms "${WAIT_INTERVAL_MS:-1}"); then
        say "cloved did not become ready; the end of $log:"
        tail -n 20 "$log" | sed 's/^/    /'
        return 1
    fi
    CLOVED_READY_MS=$(kv ready_ms "$line")
}

# start_echo: runs echo_server; sets ECHO_PID and ECHO_PORT.
start_echo() {
    local i
    rm -f "$OUT/echo.port"
    "$OUT/echo_server" >"$OUT/echo.port" 2>"$LOGS/echo_server.log" &
    ECHO_PID=$!
    PIDS+=("$ECHO_PID")
    for ((i = 0; i < 200; i++)); do
        [[ -s $OUT/echo.port ]] && break
        sleep 0.02
    done
    ECHO_PORT=$(cat "$OUT/echo.port")
}

pin() { taskset -a -p -c "$1" "$2" >/dev/null; } # CPU PID: every thread of PID

# errs LINE: "" when the run had no errors, else a warning text.
errs() {
    local e b f
    e=$(kv errors "$1")
    b=$(kv bad "$1")
    f=$(kv failures "$1")
    if [[ $e != 0 && $e != nan ]] || [[ $b != 0 && $b != nan ]] ||
       [[ $f != 0 && $f != nan ]]; then
        printf '(errors=%s bad=%s failures=%s)' "$e" "$b" "$f"
    fi
}

# The quickstart, copied under bench/out so that cloved's working files (<pod>/.clove/) stay
# out of examples/.
prepare_quickstart() {
    local qs=examples/quickstart dst=$OUT/quickstart
    if [[ ! -f $qs/data/taxi_trips.parquet ]]; then
        "$BIN/clove-example-data" "$qs/data" >/dev/null
    fi
    mkdir -p "$dst/data"
    cp "$qs/spicepod.yaml" "$dst/spicepod.yaml"
    cp "$qs"/data/* "$dst/data/"
    QUICKSTART=$dst
}

# ---- point --------------------------------------------------------------------------------

# point_rounds LABEL CPU_PREFIX...: ROUNDS interleaved rounds of cloved, DuckDB in-process and
# echo, one client each; sets P_C50 P_C99 P_D50 P_D99 P_E50 P_E99 (medians over rounds).
point_rounds() {
    local label=$1 r c d e
    shift
    local c50=() c99=() d50=() d99=() e50=() e99=()
    local req=(--sql "$POINT_SQL" --param-range "$POINT_ROWS")
    for ((r = 1; r <= ROUNDS; r++)); do
        c=$("$@" "$OUT/httpc" lat --port "$CLOVED_PORT" "${req[@]}" --check-id --n "$POINT_N" \
            --max-sec 20 --seed "$r")
        d=$("$@" "$OUT/duck_peer" point --parquet "$OUT/point/data/t.parquet" \
            --rows "$POINT_ROWS" --n "$POINT_N" --max-sec 20 --seed "$r")
        e=$("$@" "$OUT/httpc" lat --port "$ECHO_PORT" "${req[@]}" --n "$POINT_N" --max-sec 20 \
            --seed "$r")
        printf '  %s round %d: cloved p50 %s p99 %s us %s| duckdb p50 %s p99 %s us | echo p50 %s p99 %s us %s\n' \
            "$label" "$r" "$(kv p50_us "$c")" "$(kv p99_us "$c")" "$(errs "$c")" \
            "$(kv p50_us "$d")" "$(kv p99_us "$d")" "$(kv p50_us "$e")" "$(kv p99_us "$e")" \
            "$(errs "$e")"
        printf '    duckdb, for reference: streaming result p50 %s us, prepare per query p50 %s us, id as literal p50 %s us\n' \
            "$(kv stream_p50_us "$d")" "$(kv prep_p50_us "$d")" "$(kv lit_p50_us "$d")"
        [[ -z $(errs "$c") ]] || POINT_ERRORS=yes
        c50+=("$(kv p50_us "$c")") c99+=("$(kv p99_us "$c")")
        d50+=("$(kv p50_us "$d")") d99+=("$(kv p99_us "$d")")
        e50+=("$(kv p50_us "$e")") e99+=("$(kv p99_us "$e")")
        DUCK_HWM=$(kv hwm_kb "$d")
    done
    P_C50=$(med "${c50[@]}") P_C99=$(med "${c99[@]}")
    P_D50=$(med "${d50[@]}") P_D99=$(med "${d99[@]}")
    P_E50=$(med "${e50[@]}") P_E99=$(med "${e99[@]}")
}

point_row() { # LABEL Q CLOVE_US DUCKDB_US ECHO_US: the figure of merit, printed and tabled
    local label=$1 q=$2 c=$3 d=$4 e=$5 o
    o=$(calc "($c - $d) / $e")
    say "  => $label p$q: cloved $c us, duckdb $d us, echo $e us: (cloved - duckdb) / echo = $o (target <= 1.2)"
    row point "p$q 1 client, $label" "$c us" "duck $d / echo $e us" "$o" "<= 1.2" \
        "$(met le "$o" 1.2)${POINT_ERRORS:+ (errors)}"
}

point_rows() { # LABEL: summary rows from the medians of point_rounds
    point_row "$1" 50 "$P_C50" "$P_D50" "$P_E50"
    point_row "$1" 99 "$P_C99" "$P_D99" "$P_E99"
}

# The point table, $OUT/point/data/t.parquet ($POINT_ROWS rows), written once.
prepare_point_data() {
    local dir=$OUT/point
    mkdir -p "$dir/data"
    if [[ ! -s $dir/data/t.parquet || $(cat "$dir/rows" 2>/dev/null || true) != "$POINT_ROWS" ]]
    then
        say "  writing $dir/data/t.parquet ($POINT_ROWS rows)"
        "$OUT/duck_peer" exec "COPY (SELECT i AS id, 'name ' || i AS name,
            (i * 0.25)::DOUBLE AS amount, (i % 100)::INTEGER AS category,
            TIMESTAMP '2024-01-01' + to_seconds(i) AS created
            FROM range($POINT_ROWS) t(i) ORDER BY i) TO '$dir/data/t.parquet' (FORMAT parquet)"
        echo "$POINT_ROWS" >"$dir/rows"
    fi
}

bench_point() {
    section "point: $POINT_SQL on $POINT_ROWS accelerated rows (arrow engine)"
    local dir=$OUT/point line k c e
    prepare_point_data
    cat >"$dir/spicepod.yaml" <<'EOF'
version: v1
kind: Spicepod
name: bench_point
datasets:
  - from: file:data/t.parquet
    name: t
    acceleration:
      enabled: true
      engine: arrow
EOF
    start_cloved "$dir" "$LOGS/point-cloved.log"
    say "  cloved pid $CLOVED_PID on 127.0.0.1:$CLOVED_PORT, ready after $CLOVED_READY_MS ms"
    if ! line=$("$OUT/httpc" once --port "$CLOVED_PORT" --sql "$POINT_SQL" \
                --param-range "$POINT_ROWS" --check-id); then
        say "  the point query failed: $line"
        row point "point query" "FAILED" "-" "-" "-" "NO"
        return 1
    fi
    say "  sample answer: ${line#*body=}"
    start_echo
    say "  echo_server pid $ECHO_PID on 127.0.0.1:$ECHO_PORT"
    POINT_ERRORS=

    say "  latency, 1 client, $ROUNDS interleaved rounds of $POINT_N requests (OS places threads):"
    point_rounds "os-placed"
    point_rows "OS-placed"

    say "  throughput, ${TPUT_SEC}s per run:"
    local req=(--sql "$POINT_SQL" --param-range "$POINT_ROWS")
    for k in 2 8; do
        c=$("$OUT/httpc" tput --port "$CLOVED_PORT" "${req[@]}" --check-id --clients "$k" \
            --sec "$TPUT_SEC")
        e=$("$OUT/httpc" tput --port "$ECHO_PORT" "${req[@]}" --clients "$k" --sec "$TPUT_SEC")
        say "  $k clients: cloved $(kv rps "$c") req/s (p50 $(kv p50_us "$c") p99 $(kv p99_us "$c") us) $(errs "$c")| echo $(kv rps "$e") req/s (p50 $(kv p50_us "$e") p99 $(kv p99_us "$e") us)"
        row point "req/s, $k clients" "$(kv rps "$c") (p99 $(kv p99_us "$c") us)" \
            "echo $(kv rps "$e")" "$(calc "$(kv rps "$c") / $(kv rps "$e")")" "-" \
            "$( [[ -z $(errs "$c") ]] && echo - || echo errors)"
    done

    say "  latency, 1 client, client and servers pinned to CPU $PIN_CPU:"
    pin "$PIN_CPU" "$CLOVED_PID"
    pin "$PIN_CPU" "$ECHO_PID"
    point_rounds "pinned" taskset -c "$PIN_CPU"
    point_rows "pinned CPU $PIN_CPU"

    local hwm rss ehwm
    hwm=$(status_kb "$CLOVED_PID" VmHWM)
    rss=$(status_kb "$CLOVED_PID" VmRSS)
    ehwm=$(status_kb "$ECHO_PID" VmHWM)
    say "  memory: cloved VmHWM $(mb "$hwm") MB (VmRSS now $(mb "$rss") MB); duckdb in-process VmHWM $(mb "$DUCK_HWM") MB; echo_server VmHWM $(mb "$ehwm") MB"
    row point "peak RSS (VmHWM)" "$(mb "$hwm") MB" "duck $(mb "$DUCK_HWM") MB" \
        "$(calc "$hwm / $DUCK_HWM")" "-" "-"
    cleanup
}

# ---- startup ------------------------------------------------------------------------------

bench_startup() {
    section "startup: exec of cloved on the quickstart to /v1/ready = 200 (median of $STARTUP_RUNS)"
    prepare_quickstart
    local c p log=$LOGS/startup-cloved.log
    : >"$log"
    say "  cloved (log: $log):"
    c=$("$OUT/startup" --mode ready --runs "$STARTUP_RUNS" --path /v1/ready --idle-ms 1000 \
        --log "$log" -- "$BIN/cloved" --http '127.0.0.1:{PORT}' --flight '127.0.0.1:{PORT2}' \
        "$QUICKSTART")
    say "  duckdb in-process (duck_peer load: open, load taxi_trips.parquet, view over zones.csv):"
    p=$("$OUT/startup" --mode exit --runs "$STARTUP_RUNS" -- "$OUT/duck_peer" load \
        --dir "$QUICKSTART/data" --idle-ms 1000)
    local cr cm pr pm pi crss prss
    cr=$(kv ready_ms "$c") cm=$(kv ready_max_ms "$c") crss=$(kv rss_kb "$c")
    pr=$(kv ready_ms "$p") pm=$(kv ready_max_ms "$p") pi=$(kv inproc_ms "$p") prss=$(kv rss_kb "$p")
    say "  => cloved exec->ready: median $cr ms (min $(kv ready_min_ms "$c"), max $cm); stop after SIGTERM $(kv stop_ms "$c") ms"
    say "  => duckdb exec->loaded: median $pr ms (max $pm), of which in-process $pi ms"
    say "  => idle RSS 1 s after ready: cloved $(mb "$crss") MB (VmHWM $(mb "$(kv hwm_kb "$c")") MB), duckdb $(mb "$prss") MB"
    row startup "exec -> /v1/ready, median" "$cr ms" "duck $pr ms (in-proc $pi)" \
        "$(calc "$cr / $pr")" "< 100 ms" "$(met lt "$cr" 100)"
    row startup "idle RSS 1 s after ready" "$(mb "$crss") MB" "duck $(mb "$prss") MB" \
        "$(calc "$crss / $prss")" "< 40 MB" "$(met lt "$(mb "$crss")" 40)"
}

# ---- bigjson ------------------------------------------------------------------------------

bench_bigjson() {
    section "bigjson: $BIG_ROWS rows as JSON from POST /v1/sql"
    say "  query: $BIG_SQL"
    prepare_quickstart
    start_cloved "$QUICKSTART" "$LOGS/bigjson-cloved.log"
    local b p bytes rows hwm cmbs pmbs
    say "  cloved pid $CLOVED_PID on 127.0.0.1:$CLOVED_PORT, VmRSS before $(mb "$(status_kb "$CLOVED_PID" VmRSS)") MB"
    if ! b=$("$OUT/httpc" big --port "$CLOVED_PORT" --sql "$BIG_SQL" --pid "$CLOVED_PID"); then
        say "  the query failed: $b"
        row bigjson "JSON MB/s" "FAILED" "-" "-" ">= 100" "NO"
        cleanup
        return 1
    fi
    hwm=$(status_kb "$CLOVED_PID" VmHWM)
    cleanup
    bytes=$(kv bytes "$b") rows=$(kv rows "$b") cmbs=$(kv mb_s "$b")
    say "  cloved: $bytes bytes, $rows rows ('{' counted), $(kv sec "$b") s, first byte after $(kv ttfb_ms "$b") ms: $cmbs MB/s, $(calc "$rows / $(kv sec "$b") / 1e6") Mrows/s; VmHWM $(mb "$hwm") MB"
    local warn=
    [[ $rows == "$BIG_ROWS" ]] || { warn=" (rows $rows != $BIG_ROWS)"; say "  WARNING: expected $BIG_ROWS rows"; }
    say "  duckdb in-process: COPY (query) TO '/dev/null' (FORMAT csv), then into a FIFO to count bytes"
    p=$("$OUT/duck_peer" csv --sql "$BIG_SQL" --fifo "$OUT/csv.fifo")
    pmbs=$(kv null_mb_s "$p")
    say "  duckdb: $(kv bytes "$p") CSV bytes; /dev/null $(kv null_sec "$p") s = $pmbs MB/s, $(calc "$BIG_ROWS / $(kv null_sec "$p") / 1e6") Mrows/s; FIFO $(kv fifo_mb_s "$p") MB/s; VmHWM $(mb "$(kv hwm_kb "$p")") MB"
    row bigjson "JSON MB/s (MB = 1e6 bytes)" "$cmbs MB/s" "duck csv $pmbs MB/s" \
        "$(calc "$cmbs / $pmbs")" ">= 100" "$(met ge "$cmbs" 100)$warn"
    row bigjson "rows/s" "$(calc "$rows / $(kv sec "$b") / 1e6") M" \
        "duck csv $(calc "$BIG_ROWS / $(kv null_sec "$p") / 1e6") M" \
        "$(calc "($rows / $(kv sec "$b")) / ($BIG_ROWS / $(kv null_sec "$p"))")" "-" "-"
    row bigjson "cloved peak RSS (VmHWM)" "$(mb "$hwm") MB" "duck $(mb "$(kv hwm_kb "$p")") MB" \
        "$(calc "$hwm / $(kv hwm_kb "$p")")" "< 200 MB" "$(met lt "$(mb "$hwm")" 200)"
}

# ---- helpers of the acceleration benchmarks -------------------------------------------------

# engine_yaml ENGINE: the acceleration keys of arrow, duckdb-memory, duckdb-file, sqlite-memory
# or sqlite-file.
engine_yaml() {
    case $1 in
    arrow) printf '      engine: arrow\n' ;;
    duckdb-memory) printf '      engine: duckdb\n      mode: memory\n' ;;
    duckdb-file) printf '      engine: duckdb\n      mode: file\n' ;;
    sqlite-memory) printf '      engine: sqlite\n      mode: memory\n' ;;
    sqlite-file) printf '      engine: sqlite\n      mode: file\n' ;;
    *) say "unknown engine \"$1\" (arrow, duckdb-memory, duckdb-file, sqlite-memory, sqlite-file)" >&2
       return 1 ;;
    esac
}

# log_ms LOG WORD: T of the last "dataset t WORD: ... in T ms" line of a cloved log.
log_ms() { sed -n "s/.*dataset t $2: .* in \([0-9.]*\) ms.*/\1/p" "$1" | tail -n 1; }

# csv_med "a,b,c": the median of a comma-separated list.
csv_med() {
    local IFS=,
    # shellcheck disable=SC2086 # split on commas on purpose
    med $1
}

# peer_start LOG CMD...: runs an interactive duck_peer (ctas --stdin, repl) as a coprocess;
# peer_cmd LINE sends a line and reads the answer into PEER_LINE; peer_read only reads;
# peer_stop ends it.
peer_start() {
    local log=$1
    shift
    coproc PEER { exec "$@" 2>>"$log"; }
    PEER_IN=${PEER[1]} PEER_OUT=${PEER[0]} PEER_PROC=$PEER_PID
    PIDS+=("$PEER_PROC")
}
peer_read() {
    if ! read -r -t 600 PEER_LINE <&"$PEER_OUT"; then
        say "  the DuckDB peer did not answer; see $LOGS/"
        return 1
    fi
}
peer_cmd() {
    printf '%s\n' "$1" >&"$PEER_IN"
    peer_read
}
peer_stop() {
    local i
    # not in a subshell: bash closes a coprocess's descriptors there
    # shellcheck disable=SC2261 # >&"$fd" duplicates a descriptor; stderr is not redirected twice
    printf 'quit\n' >&"$PEER_IN" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$PEER_PROC" 2>/dev/null || break
        sleep 0.05
    done
    stop_pid "$PEER_PROC"
    forget_pid "$PEER_PROC"
}

# refresh_now ARGS...: one refresh of dataset t through httpc refresh (ARGS: --body ...);
# the answer in RF (key=value pairs); a failed refresh ends the benchmark.
refresh_now() {
    if ! RF=$("$OUT/httpc" refresh --port "$CLOVED_PORT" --metrics-port "$CLOVED_MPORT" \
              --dataset t --pid "$CLOVED_PID" "$@"); then
        say "  the refresh failed: $RF"
        return 1
    fi
}

# ---- refresh ------------------------------------------------------------------------------

# The refresh table: one Parquet file of $REFRESH_ROWS rows, written once.
prepare_refresh_data() {
    local dir=$OUT/refresh/data
    mkdir -p "$dir"
    if [[ ! -s $dir/t.parquet || $(cat "$dir/rows" 2>/dev/null || true) != "$REFRESH_ROWS" ]]
    then
        say "  writing $dir/t.parquet ($REFRESH_ROWS rows, once)"
        "$OUT/duck_peer" exec "COPY ($(append_select 0 "$REFRESH_ROWS")) TO '$dir/t.parquet'
            (FORMAT parquet)"
        echo "$REFRESH_ROWS" >"$dir/rows"
    fi
}

# append_select FROM TO: the rows FROM..TO-1 of the refresh and append tables.
append_select() {
    printf "SELECT i AS id, (i * 0.25)::DOUBLE AS amount, 'name ' || i AS name, TIMESTAMP '2024-01-01' + to_seconds(i) AS ts, (i %% 100)::INTEGER AS category FROM range(%s, %s) t(i) ORDER BY i" "$1" "$2"
}

refresh_engine() { # ENGINE
    local eng=$1 dir=$OUT/refresh/$1 log=$LOGS/refresh-$1-cloved.log r p what warn=
    local cms=() pms=() walls=()
    mkdir -p "$dir"
    rm -rf "$dir/.clove" "$dir"/peer.db*
    {
        printf 'version: v1\nkind: Spicepod\nname: bench_refresh\ndatasets:\n'
        printf '  - from: file:%s\n    name: t\n    acceleration:\n      enabled: true\n' \
            "$OUT/refresh/data/t.parquet"
        engine_yaml "$eng"
    } >"$dir/spicepod.yaml"
    start_cloved "$dir" "$log" --metrics
    say "  $eng: cloved pid $CLOVED_PID, initial load $(log_ms "$log" loaded) ms"
    local peer=("$OUT/duck_peer" ctas --parquet "$OUT/refresh/data/t.parquet" --stdin)
    what="CREATE OR REPLACE TABLE t AS SELECT * FROM read_parquet(...), in memory"
    if [[ $eng == *-file ]]; then
        peer+=(--db "$dir/peer.db")
        what="the same into a DuckDB file (ATTACH)"
    fi
    peer_start "$LOGS/refresh-$eng-peer.log" "${peer[@]}"
    peer_read
    say "  $eng: duckdb peer: $what; initial load $(kv load_ms "$PEER_LINE") ms"
    for ((r = 1; r <= ROUNDS; r++)); do
        refresh_now
        peer_cmd run
        p=$PEER_LINE
        say "  $eng round $r: cloved refresh $(kv refresh_ms "$RF") ms (POST to done seen $(kv wall_ms "$RF") ms; $(kv loaded "$RF") rows loaded, $(kv held "$RF") held) | duckdb $(kv ms "$p") ms"
        [[ $(kv loaded "$RF") == "$REFRESH_ROWS" && $(kv held "$RF") == "$REFRESH_ROWS" ]] ||
            warn=" (rows!)"
        cms+=("$(kv refresh_ms "$RF")") walls+=("$(kv wall_ms "$RF")") pms+=("$(kv ms "$p")")
    done
    local hwm phwm cm pm crs prs ratio
    hwm=$(status_kb "$CLOVED_PID" VmHWM)
    phwm=$(kv hwm_kb "$p")
    peer_stop
    cleanup
    rm -rf "$dir/.clove" "$dir"/peer.db*
    cm=$(med "${cms[@]}") pm=$(med "${pms[@]}")
    crs=$(calc "$REFRESH_ROWS / ($cm / 1000) / 1e6") prs=$(calc "$REFRESH_ROWS / ($pm / 1000) / 1e6")
    ratio=$(calc "$pm / $cm")
    say "  => $eng: cloved $cm ms = $crs Mrows/s (POST to done seen $(med "${walls[@]}") ms), duckdb $pm ms = $prs Mrows/s: ratio $ratio (target >= 0.9); VmHWM cloved $(mb "$hwm") MB, duckdb $(mb "$phwm") MB"
    [[ -z $warn ]] || say "  WARNING: a refresh did not load and hold $REFRESH_ROWS rows"
    # the target is for the DuckDB-backed engines; sqlite is shown for information
    local tgt=">= 0.9" ok
    ok=$(met ge "$ratio" 0.9)
    [[ $eng != sqlite-* ]] || tgt=- ok=-
    row refresh "full refresh rows/s, $eng" "$crs M/s ($cm ms)" "duck CTAS $prs M/s ($pm ms)" \
        "$ratio" "$tgt" "$ok$warn"
    row refresh "peak RSS (VmHWM), $eng" "$(mb "$hwm") MB" "duck $(mb "$phwm") MB" \
        "$(calc "$hwm / $phwm")" "-" "-"
}

bench_refresh() {
    section "refresh: full refresh of a $REFRESH_ROWS-row Parquet file vs DuckDB CTAS (median of $ROUNDS)"
    prepare_refresh_data
    local eng
    for eng in $REFRESH_ENGINES; do
        engine_yaml "$eng" >/dev/null
        refresh_engine "$eng"
    done
}

# ---- append -------------------------------------------------------------------------------

# The append table: $REFRESH_ROWS rows in 10 Parquet files, written once.
prepare_append_data() {
    local dir=$OUT/append/base k per end stmts=()
    if [[ -s $dir/part-009.parquet && $(cat "$dir/rows" 2>/dev/null || true) == "$REFRESH_ROWS" ]]
    then
        return 0
    fi
    say "  writing $dir/part-000..009.parquet ($REFRESH_ROWS rows, once)"
    rm -rf "$dir"
    mkdir -p "$dir"
    per=$((REFRESH_ROWS / 10))
    for ((k = 0; k < 10; k++)); do
        end=$(((k + 1) * per))
        ((k < 9)) || end=$REFRESH_ROWS
        stmts+=("COPY ($(append_select $((k * per)) "$end")) TO '$dir/part-$(printf %03d "$k").parquet' (FORMAT parquet)")
    done
    "$OUT/duck_peer" exec "${stmts[@]}"
    echo "$REFRESH_ROWS" >"$dir/rows"
}

append_case() { # VARIANT (time|files) ENGINE
    local variant=$1 eng=$2 dir=$OUT/append/$1-$2 log=$LOGS/append-$1-$2-cloved.log
    local new=$((REFRESH_ROWS / 100)) r s f a fu p held warn='' label pt=t hwm phwm
    local ams=() fms=() pms=()
    label=$([[ $variant == time ]] && echo "time_column" || echo "new files")
    rm -rf "$dir"
    mkdir -p "$dir/data"
    cp -l "$OUT/append/base/"*.parquet "$dir/data/" 2>/dev/null ||
        cp "$OUT/append/base/"*.parquet "$dir/data/"
    {
        printf 'version: v1\nkind: Spicepod\nname: bench_append\ndatasets:\n'
        printf '  - from: file:data\n    name: t\n'
        [[ $variant != time ]] || printf '    time_column: ts\n'
        printf '    acceleration:\n      enabled: true\n      refresh_mode: append\n'
        engine_yaml "$eng"
    } >"$dir/spicepod.yaml"
    start_cloved "$dir" "$log" --metrics
    say "  $variant/$eng: cloved pid $CLOVED_PID, initial load of $REFRESH_ROWS rows $(log_ms "$log" loaded) ms"
    local peer=("$OUT/duck_peer" repl)
    if [[ $eng == *-file ]]; then
        peer+=(--db "$dir/peer.db")
        pt=f.main.t
    fi
    peer_start "$LOGS/append-$variant-$eng-peer.log" "${peer[@]}"
    peer_cmd "CREATE TABLE $pt AS SELECT * FROM read_parquet('$OUT/append/base/*.parquet')"
    for ((r = 1; r <= ROUNDS; r++)); do
        s=$((REFRESH_ROWS + (r - 1) * new))
        f=$dir/data/new-$(printf %03d "$r").parquet
        "$OUT/duck_peer" exec "COPY ($(append_select "$s" $((s + new)))) TO '$f' (FORMAT parquet)"
        refresh_now
        a=$RF
        # peak RSS after the initial load and one append, before any full refresh
        ((r > 1)) || hwm=$(status_kb "$CLOVED_PID" VmHWM)
        refresh_now --body '{"refresh_mode":"full"}'
        fu=$RF
        peer_cmd "INSERT INTO $pt SELECT * FROM read_parquet('$f')"
        p=$PEER_LINE
        ((r > 1)) || phwm=$(kv hwm_kb "$p")
        held=$((REFRESH_ROWS + r * new))
        say "  $variant/$eng round $r: +$new rows: append $(kv refresh_ms "$a") ms ($(kv loaded "$a") loaded, $(kv held "$a") held) | full refresh $(kv refresh_ms "$fu") ms ($(kv held "$fu") held) | duckdb INSERT $(kv ms "$p") ms"
        [[ $(kv loaded "$a") == "$new" && $(kv held "$a") == "$held" &&
           $(kv held "$fu") == "$held" ]] || warn=" (rows!)"
        ams+=("$(kv refresh_ms "$a")") fms+=("$(kv refresh_ms "$fu")") pms+=("$(kv ms "$p")")
    done
    local am fm pm ratio
    peer_stop
    cleanup
    rm -rf "$dir"
    am=$(med "${ams[@]}") fm=$(med "${fms[@]}") pm=$(med "${pms[@]}")
    ratio=$(calc "$am / $fm")
    say "  => $variant/$eng: append of 1% $am ms, full refresh $fm ms: append / full = $ratio (target <= 0.05); duckdb INSERT of the new file $pm ms (cloved / duckdb $(calc "$am / $pm")); VmHWM after the load and one append: cloved $(mb "$hwm") MB, duckdb $(mb "$phwm") MB"
    [[ -z $warn ]] || say "  WARNING: an append did not load $new rows or the table does not hold what it should"
    row append "append +1% ($label), $eng" "$am ms" "full $fm ms; duck INSERT $pm ms" "$ratio" \
        "<= 0.05" "$(met le "$ratio" 0.05)$warn"
    row append "VmHWM after load+append, $label, $eng" "$(mb "$hwm") MB" "duck $(mb "$phwm") MB" \
        "$(calc "$hwm / $phwm")" "-" "-"
}

bench_append() {
    section "append: refresh_mode append bringing 1% new rows into a $REFRESH_ROWS-row table (median of $ROUNDS)"
    prepare_append_data
    local v eng
    for v in time files; do
        for eng in $APPEND_ENGINES; do
            engine_yaml "$eng" >/dev/null
            append_case "$v" "$eng"
        done
    done
}

# ---- s3refresh ----------------------------------------------------------------------------

# s3rver (tests/s3, installed by scripts/setup.sh) on a free port with a temporary directory;
# sets S3_PORT. Objects go in and out with curl, signed with SigV4 like cloved signs.
S3CURL=(curl -sS --fail --aws-sigv4 "aws:amz:us-east-1:s3" --user S3RVER:S3RVER
        -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
start_s3rver() {
    local js=tests/s3/node_modules/s3rver/bin/s3rver.js i
    if [[ ! -f $js ]]; then
        say "run.sh: $js missing: run scripts/setup.sh" >&2
        return 1
    fi
    read -r S3_PORT < <("$OUT/httpc" freeport 1)
    rm -rf "$OUT/s3/server"
    mkdir -p "$OUT/s3/server"
    # s3rver's continuation tokens need OpenSSL 3's legacy provider
    node --openssl-legacy-provider "$js" -d "$OUT/s3/server" -a 127.0.0.1 -p "$S3_PORT" -s \
        --no-vhost-buckets >"$LOGS/s3rver.log" 2>&1 &
    S3_PID=$!
    PIDS+=("$S3_PID")
    for ((i = 0; i < 200; i++)); do
        "${S3CURL[@]}" -o /dev/null "http://127.0.0.1:$S3_PORT/" 2>/dev/null && return 0
        sleep 0.05
    done
    say "s3rver did not start; see $LOGS/s3rver.log"
    return 1
}

# The objects: $S3_FILES Parquet files of $S3_FILE_ROWS rows (random values: they do not
# compress away), written once under bench/out/s3/data.
prepare_s3_data() {
    local dir=$OUT/s3/data k stmts=() want="$S3_FILES x $S3_FILE_ROWS"
    if [[ $(cat "$dir/spec" 2>/dev/null || true) == "$want" ]]; then return 0; fi
    say "  writing $S3_FILES Parquet files of $S3_FILE_ROWS rows into $dir (once)"
    rm -rf "$dir"
    mkdir -p "$dir"
    for ((k = 0; k < S3_FILES; k++)); do
        stmts+=("COPY (SELECT $k * $S3_FILE_ROWS + i AS id, random() AS a, (random() * 1000)::INTEGER AS b, md5((i * $((k + 7)))::VARCHAR) AS h, TIMESTAMP '2024-01-01' + to_seconds(i) AS ts FROM range($S3_FILE_ROWS) t(i)) TO '$dir/part-$(printf %03d "$k").parquet' (FORMAT parquet)")
    done
    "$OUT/duck_peer" exec "${stmts[@]}"
    echo "$want" >"$dir/spec"
}

# cpu_ms PID: user + system CPU time of a process so far, in ms.
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%d\n", ($14 + $15) * 1000 / hz }' "/proc/$1/stat"; }

bench_s3refresh() {
    section "s3refresh: full refresh of $S3_FILES Parquet objects from s3rver (accelerated, arrow engine) vs a sequential curl download of the same objects (median of $ROUNDS)"
    prepare_s3_data
    start_s3rver
    local base=http://127.0.0.1:$S3_PORT/bench f bytes=0 r dir=$OUT/s3/pod log ms t0 t1 c0 line
    local cms=() pms=() fms=() rps=() hwms=() again=() ccpu=() scpu=() pcpu=() dms=() dcpu=()
    local dhwm=() floors=() kcpu=() rows=$((S3_FILES * S3_FILE_ROWS)) warn=
    "${S3CURL[@]}" -X PUT "$base" -o /dev/null
    for f in "$OUT"/s3/data/*.parquet; do
        "${S3CURL[@]}" -T "$f" "$base/data/$(basename "$f")" -o /dev/null
        bytes=$((bytes + $(stat -c %s "$f")))
    done
    say "  uploaded $S3_FILES objects, $(calc "$bytes / 1048576") MiB, to s3rver pid $S3_PID"
    mkdir -p "$dir"
    {
        printf 'version: v1\nkind: Spicepod\nname: bench_s3\ndatasets:\n'
        printf '  - from: s3://bench/data/\n    name: t\n    params:\n'
        printf '      s3_endpoint: http://127.0.0.1:%s\n      allow_http: true\n' "$S3_PORT"
        printf '      s3_key: S3RVER\n      s3_secret: S3RVER\n'
        printf '    acceleration:\n      enabled: true\n'
    } >"$dir/spicepod.yaml"
    for ((r = 1; r <= ROUNDS; r++)); do
        # the peer: one object after the other, into files like cloved's cache
        rm -rf "$OUT/s3/curl" && mkdir -p "$OUT/s3/curl"
        c0=$(cpu_ms "$S3_PID")
        t0=$(date +%s%N)
        # `times` in the subshell: the CPU its children (the curls) used
        line=$(for f in "$OUT"/s3/data/*.parquet; do
                   "${S3CURL[@]}" -o "$OUT/s3/curl/$(basename "$f")" "$base/data/$(basename "$f")"
               done
               times)
        t1=$(date +%s%N)
        pms+=("$(calc "($t1 - $t0) / 1000000")")
        pcpu+=("$(($(cpu_ms "$S3_PID") - c0))")
        kcpu+=("$(printf '%s\n' "$line" | tail -n 1 | tr 'ms' '  ' |
                  awk '{ printf "%d\n", ($1 * 60 + $2 + $3 * 60 + $4) * 1000 }')")
        rm -rf "$OUT/s3/curl"
        # cloved with an empty cache: list, download in parallel, load the objects as they
        # land. The time is cloved's own (its log); ready is polled every 20 ms so that the
        # poll does not take CPU from the load it waits for (1 ms polls cost ~0.4 CPU-s here)
        rm -rf "$dir/.clove"
        log=$LOGS/s3refresh-$r-cloved.log
        c0=$(cpu_ms "$S3_PID")
        WAIT_INTERVAL_MS=20 start_cloved "$dir" "$log" --metrics
        scpu+=("$(($(cpu_ms "$S3_PID") - c0))")
        ccpu+=("$(cpu_ms "$CLOVED_PID")")
        ms=$(log_ms "$log" loaded)
        cms+=("$ms")
        # list + download, from the connector's log line (the downloads overlap the load)
        fms+=("$(sed -n 's/.* s3: dataset t: .* fetched .* in \([0-9.]*\) ms$/\1/p' "$log" | head -n 1)")
        rps+=("$(calc "$rows / ($ms / 1000)")")
        hwms+=("$(status_kb "$CLOVED_PID" VmHWM)")
        # a second refresh finds every object unchanged (ETag): nothing is downloaded
        refresh_now
        again+=("$(kv refresh_ms "$RF")")
        [[ $(kv held "$RF") == "$rows" ]] || warn=" (rows!)"
        stop_pid "$CLOVED_PID"
        forget_pid "$CLOVED_PID"
        # DuckDB alone: CREATE TABLE AS over the files cloved cached, in a fresh process
        line=$("$OUT/duck_peer" ctas --parquet "$dir/.clove/cache/s3/t/objects/**/*.parquet" \
               --runs 0)
        [[ $(kv rows "$line") == "$rows" ]] || warn=" (rows!)"
        dms+=("$(kv load_ms "$line")")
        dcpu+=("$(kv load_cpu_ms "$line")")
        dhwm+=("$(kv hwm_kb "$line")")
        # what two CPUs need at least for download + load: s3rver's serving, receiving the
        # bytes into files (curl's CPU) and DuckDB's own load
        floors+=("$(calc "(${scpu[-1]} + ${kcpu[-1]} + ${dcpu[-1]}) / 2")")
        say "  round $r: cloved initial load (list + download + load) $ms ms ($(calc "$rows / ($ms / 1000)") rows/s; list + download ${fms[-1]} ms, $(sed -n 's/.*handed to the load in \([0-9]*\) batch.*/\1/p' "$log" | head -n 1) batches; CPU cloved ${ccpu[-1]} ms, s3rver ${scpu[-1]} ms) | unchanged refresh $(kv refresh_ms "$RF") ms | curl sequential download ${pms[-1]} ms (CPU curl ${kcpu[-1]} ms, s3rver ${pcpu[-1]} ms) | DuckDB CTAS of the cached files ${dms[-1]} ms (CPU ${dcpu[-1]} ms) | floor on 2 CPUs ${floors[-1]} ms | VmHWM cloved $(mb "${hwms[-1]}") MB, DuckDB $(mb "${dhwm[-1]}") MB"
    done
    local cm pm fm dm fl ratio fratio flratio
    cm=$(med "${cms[@]}") pm=$(med "${pms[@]}") fm=$(med "${fms[@]}") dm=$(med "${dms[@]}")
    fl=$(med "${floors[@]}")
    ratio=$(calc "$cm / $pm")
    fratio=$(calc "$fm / $pm")
    flratio=$(calc "$fl / $pm")
    say "  => cloved refresh $cm ms (p50; $(med "${rps[@]}") rows/s, $(calc "$bytes / 1048576 / ($cm / 1000)") MiB/s) vs sequential curl $pm ms: cloved / curl = $ratio (target < 1); unchanged refresh $(med "${again[@]}") ms; VmHWM $(mb "$(med "${hwms[@]}")") MB (DuckDB CTAS alone $(mb "$(med "${dhwm[@]}")") MB)"
    say "  => CPU floor of download + load: (s3rver serving cloved $(med "${scpu[@]}") ms + curl receiving $(med "${kcpu[@]}") ms + DuckDB CTAS $(med "${dcpu[@]}") ms of CPU) / 2 CPUs = $fl ms = $flratio x curl; cloved refresh / floor = $(calc "$cm / $fl"); cloved's own CPU $(med "${ccpu[@]}") ms"
    row s3refresh "refresh of $(calc "$bytes / 1048576") MiB Parquet (p50)" "$cm ms" "curl $pm ms" \
        "$ratio" "< 1" "$(met lt "$ratio" 1)$warn"
    say "  => list + download (overlapping the load) $fm ms: / curl = $fratio"
    row s3refresh "list + download, overlapping the load (p50)" "$fm ms" "curl $pm ms" "$fratio" \
        "-" "-"
    row s3refresh "load alone: DuckDB CTAS of the cache (p50)" "-" "$dm ms" "-" "-" "-"
    row s3refresh "CPU floor of download + load on 2 CPUs" "$fl ms" "curl $pm ms" "$flratio" \
        "-" "-"
    row s3refresh "unchanged refresh (ETag cache)" "$(med "${again[@]}") ms" "-" "-" "-" "-"
    rm -rf "$dir/.clove"
}

# ---- refreshload --------------------------------------------------------------------------

bench_refreshload() {
    section "refreshload: $POINT_SQL p99 while the same $POINT_ROWS-row dataset refreshes back to back (arrow engine)"
    prepare_point_data
    local dir=$OUT/refreshload log=$LOGS/refreshload-cloved.log r i l lp loop pi pl n
    local ci50=() ci99=() cl50=() cl99=() di99=() dl99=() nref=0 refms=() dn=0 dms=()
    local req=(--sql "$POINT_SQL" --param-range "$POINT_ROWS" --n "$POINT_N" --max-sec 30)
    local preq=(--parquet "$OUT/point/data/t.parquet" --rows "$POINT_ROWS" --n "$POINT_N" --max-sec 30)
    mkdir -p "$dir"
    cat >"$dir/spicepod.yaml" <<EOF_POD
version: v1
kind: Spicepod
name: bench_refreshload
datasets:
  - from: file:$OUT/point/data/t.parquet
    name: t
    acceleration:
      enabled: true
      engine: arrow
EOF_POD
    start_cloved "$dir" "$log" --metrics
    say "  cloved pid $CLOVED_PID; one refresh of the dataset: $(log_ms "$log" loaded) ms (initial load)"
    REFRESHLOAD_ERRORS=
    for ((r = 1; r <= ROUNDS; r++)); do
        i=$("$OUT/httpc" lat --port "$CLOVED_PORT" "${req[@]}" --check-id --seed "$r")
        "$OUT/httpc" refreshloop --port "$CLOVED_PORT" --metrics-port "$CLOVED_MPORT" \
            --dataset t >"$dir/loop.out" 2>>"$LOGS/refreshload-loop.log" &
        lp=$!
        PIDS+=("$lp")
        l=$("$OUT/httpc" lat --port "$CLOVED_PORT" "${req[@]}" --check-id --seed "$r")
        kill -TERM "$lp" 2>/dev/null || true
        wait "$lp" || true
        forget_pid "$lp"
        loop=$(cat "$dir/loop.out")
        pi=$("$OUT/duck_peer" pointload "${preq[@]}" --seed "$r")
        pl=$("$OUT/duck_peer" pointload "${preq[@]}" --seed "$r" --reload)
        say "  round $r: cloved idle p50 $(kv p50_us "$i") p99 $(kv p99_us "$i") us $(errs "$i")| refreshing p50 $(kv p50_us "$l") p99 $(kv p99_us "$l") us $(errs "$l")($(kv refreshes "$loop") refreshes, mean $(kv refresh_mean_ms "$loop") ms, busy $(kv busy_pct "$loop")%, errors $(kv errors "$loop"))"
        say "           duckdb idle p50 $(kv p50_us "$pi") p99 $(kv p99_us "$pi") us | reloading p50 $(kv p50_us "$pl") p99 $(kv p99_us "$pl") us ($(kv reloads "$pl") CTAS, mean $(kv reload_mean_ms "$pl") ms)"
        [[ -z $(errs "$i") && -z $(errs "$l") && $(kv errors "$loop") == 0 ]] ||
            REFRESHLOAD_ERRORS=yes
        n=$(kv refreshes "$loop")
        [[ $n =~ ^[0-9]+$ ]] || n=0
        ((n > 0)) || { say "  WARNING: no refresh ran during round $r"; REFRESHLOAD_ERRORS=yes; }
        ci50+=("$(kv p50_us "$i")") ci99+=("$(kv p99_us "$i")")
        cl50+=("$(kv p50_us "$l")") cl99+=("$(kv p99_us "$l")")
        di99+=("$(kv p99_us "$pi")") dl99+=("$(kv p99_us "$pl")")
        nref=$((nref + n)) refms+=("$(kv refresh_mean_ms "$loop")")
        n=$(kv reloads "$pl")
        [[ $n =~ ^[0-9]+$ ]] || n=0
        dn=$((dn + n)) dms+=("$(kv reload_mean_ms "$pl")")
    done
    local hwm ci cl di dl ratio
    hwm=$(status_kb "$CLOVED_PID" VmHWM)
    cleanup
    ci=$(med "${ci99[@]}") cl=$(med "${cl99[@]}") di=$(med "${di99[@]}") dl=$(med "${dl99[@]}")
    ratio=$(calc "$cl / $ci")
    say "  => p99: cloved $cl us while refreshing vs $ci us idle = $ratio (target <= 2); duckdb in-process $dl us while reloading vs $di us idle = $(calc "$dl / $di")"
    say "  => p50: cloved $(med "${cl50[@]}") us while refreshing vs $(med "${ci50[@]}") us idle; $nref refreshes (mean $(med "${refms[@]}") ms), duckdb $dn reloads (mean $(med "${dms[@]}") ms); cloved VmHWM $(mb "$hwm") MB"
    row refreshload "p99 refreshing / idle" "$cl us (idle $ci)" "duck $dl us (idle $di) = $(calc "$dl / $di")" \
        "$ratio" "<= 2" "$(met le "$ratio" 2)${REFRESHLOAD_ERRORS:+ (errors)}"
    row refreshload "p50 refreshing / idle" "$(med "${cl50[@]}") us (idle $(med "${ci50[@]}"))" \
        "-" "$(calc "$(med "${cl50[@]}") / $(med "${ci50[@]}")")" "-" "-"
    row refreshload "refreshes meanwhile" "$nref (mean $(med "${refms[@]}") ms)" \
        "duck $dn (mean $(med "${dms[@]}") ms)" "-" "-" "-"
    row refreshload "peak RSS (VmHWM)" "$(mb "$hwm") MB" "duck $(mb "$(kv hwm_kb "$pl")") MB" \
        "$(calc "$hwm / $(kv hwm_kb "$pl")")" "-" "-"
}

# ---- flight -------------------------------------------------------------------------------

# start_grpc_echo: runs grpc_echo_server; sets GECHO_PID and GECHO_PORT.
start_grpc_echo() {
    local i
    rm -f "$OUT/grpc_echo.port"
    "$OUT/grpc_echo_server" >"$OUT/grpc_echo.port" 2>"$LOGS/grpc_echo_server.log" &
    GECHO_PID=$!
    PIDS+=("$GECHO_PID")
    for ((i = 0; i < 250; i++)); do
        [[ -s $OUT/grpc_echo.port ]] && break
        sleep 0.02
    done
    GECHO_PORT=$(cat "$OUT/grpc_echo.port")
    [[ -n $GECHO_PORT ]] || { say "  grpc_echo_server did not start; see $LOGS/grpc_echo_server.log"; return 1; }
}

# The flight answer: $FLIGHT_ROWS rows x 5 columns (BIGINT, DOUBLE, VARCHAR, TIMESTAMP,
# BOOLEAN) written once to $OUT/flight/data/t.parquet and served as an accelerated dataset
# (in memory), so DoGet measures moving an answer, not computing it.
prepare_flight() {
    local dir=$OUT/flight
    mkdir -p "$dir/data"
    if [[ ! -s $dir/data/t.parquet || $(cat "$dir/rows" 2>/dev/null || true) != "$FLIGHT_ROWS" ]]
    then
        say "  writing $dir/data/t.parquet ($FLIGHT_ROWS rows, once)"
        "$OUT/duck_peer" exec "COPY ($FLIGHT_GEN) TO '$dir/data/t.parquet' (FORMAT parquet)"
        echo "$FLIGHT_ROWS" >"$dir/rows"
    fi
    printf '%s\n' 'version: v1' 'kind: Spicepod' 'name: flight_bench' 'datasets:' \
        '  - from: file:data/t.parquet' '    name: t' '    acceleration:' '      enabled: true' \
        >"$dir/spicepod.yaml"
    FLIGHT_POD=$dir
}

bench_flight() {
    section "flight: Arrow Flight SQL DoGet throughput ($FLIGHT_ROWS rows x 5 columns) and SELECT 1 latency"
    if [[ ! -x $OUT/flightc || ! -x $OUT/flight_lib ]]; then
        say "  flightc / flight_lib were not built: cloved's build tree ($CORE_DIR) lacks proto-gen or libclove_core.a"
        row flight "DoGet GB/s" "NOT BUILT" "-" "-" ">= 1 GB/s" "NO"
        return 1
    fi
    prepare_flight
    say "  answer: $FLIGHT_SQL over an accelerated dataset of ($FLIGHT_GEN)"
    start_cloved "$FLIGHT_POD" "$LOGS/flight-cloved.log"
    say "  cloved pid $CLOVED_PID, HTTP 127.0.0.1:$CLOVED_PORT, Flight 127.0.0.1:$CLOVED_FPORT; VmRSS before $(mb "$(status_kb "$CLOVED_PID" VmRSS)") MB"

    # -- throughput: flightc counts FlightData data_header + data_body bytes without decoding
    local r f gbs=() secs=() fbytes frows fwarn="" bad
    say "  DoGet throughput, flightc (gRPC core, counts bytes, reads row counts from the Message headers), $ROUNDS runs:"
    for ((r = 1; r <= ROUNDS; r++)); do
        if ! f=$("$OUT/flightc" big --port "$CLOVED_FPORT" --sql "$FLIGHT_SQL" --pid "$CLOVED_PID"); then
            say "  the Flight query failed: $f"
            row flight "DoGet GB/s" "FAILED" "-" "-" ">= 1 GB/s" "NO"
            return 1
        fi
        fbytes=$(kv bytes "$f") frows=$(kv rows "$f") bad=$(kv bad "$f")
        say "    run $r: $fbytes bytes (header $(kv header_bytes "$f") + body $(kv body_bytes "$f"); gRPC messages $(kv wire_bytes "$f")), $(kv messages "$f") FlightData, $(kv batches "$f") record batches, $frows rows, $(kv sec "$f") s (GetFlightInfo $(kv gfi_ms "$f") ms): $(kv gb_s "$f") GB/s, $(kv mrows_s "$f") Mrows/s; cloved VmHWM $(mb "$(kv hwm_kb "$f")") MB, flightc VmHWM $(mb "$(kv self_hwm_kb "$f")") MB"
        [[ $frows == "$FLIGHT_ROWS" && $bad == 0 ]] || fwarn=" (rows $frows, bad $bad)"
        gbs+=("$(kv gb_s "$f")") secs+=("$(kv sec "$f")")
    done
    local fhwm fgbs fsec
    fhwm=$(status_kb "$CLOVED_PID" VmHWM)
    fgbs=$(med "${gbs[@]}") fsec=$(med "${secs[@]}")
    [[ -z $fwarn ]] || say "  WARNING: expected $FLIGHT_ROWS rows and no body/bodyLength mismatch$fwarn"

    local l lrows lmrs
    say "  the same query through clove's C client library (clove_flight_query: decodes into DuckDB chunks):"
    l=$("$OUT/flight_lib" big --port "$CLOVED_FPORT" --sql "$FLIGHT_SQL")
    lrows=$(kv rows "$l") lmrs=$(kv mrows_s "$l")
    say "    $lrows rows in $(kv sec "$l") s: $lmrs Mrows/s ($(calc "$fbytes / $(kv sec "$l") / 1e9") GB/s of IPC); client VmHWM $(mb "$(kv self_hwm_kb "$l")") MB"
    [[ $lrows == "$FLIGHT_ROWS" ]] || { fwarn+=" (lib rows $lrows)"; say "  WARNING: the library got $lrows rows"; }

    # -- latency: SELECT 1 as one DoGet of a raw SQL ticket (one RPC) beside a gRPC core unary
    # echo, and the Flight SQL way (GetFlightInfo + DoGet) beside two echoes; DuckDB's own cost
    # of the query in-process alongside
    start_grpc_echo
    say "  grpc_echo_server pid $GECHO_PID on 127.0.0.1:$GECHO_PORT"
    say "  SELECT 1 latency, $ROUNDS interleaved rounds of $FLIGHT_N queries (200 warm-up), one channel each:"
    local q t e1 e2 es lb dk c50=() c99=() t50=() t99=() g50=() d50=() e50=() e99=() x50=() x99=()
    local b50=() b99=() k50=() s50=() lerr=
    for ((r = 1; r <= ROUNDS; r++)); do
        t=$("$OUT/flightc" lat --port "$CLOVED_FPORT" --sql "SELECT 1" --n "$FLIGHT_N" --ticket 1)
        e1=$("$OUT/flightc" echo --port "$GECHO_PORT" --n "$FLIGHT_N" --rpcs 1)
        es=$("$OUT/flightc" echo --port "$GECHO_PORT" --n "$FLIGHT_N" --stream2 1)
        q=$("$OUT/flightc" lat --port "$CLOVED_FPORT" --sql "SELECT 1" --n "$FLIGHT_N")
        e2=$("$OUT/flightc" echo --port "$GECHO_PORT" --n "$FLIGHT_N" --rpcs 2)
        lb=$("$OUT/flight_lib" lat --port "$CLOVED_FPORT" --sql "SELECT 1" --n "$FLIGHT_N")
        dk=$("$OUT/duck_peer" select1 --n "$FLIGHT_N")
        printf '    round %d: DoGet(ticket) p50 %s p99 %s us %s| echo p50 %s p99 %s us %s| echo, DoGet shape p50 %s us %s| GetFlightInfo+DoGet p50 %s p99 %s us (%s + %s) %s| echo x2 p50 %s p99 %s us | client library p50 %s us %s| duckdb in-process p50 %s us\n' \
            "$r" "$(kv p50_us "$t")" "$(kv p99_us "$t")" "$(errs "$t")" "$(kv p50_us "$e1")" \
            "$(kv p99_us "$e1")" "$(errs "$e1")" "$(kv p50_us "$es")" "$(errs "$es")" \
            "$(kv p50_us "$q")" "$(kv p99_us "$q")" \
            "$(kv gfi_p50_us "$q")" "$(kv doget_p50_us "$q")" "$(errs "$q")" "$(kv p50_us "$e2")" \
            "$(kv p99_us "$e2")" "$(kv p50_us "$lb")" "$(errs "$lb")" "$(kv p50_us "$dk")"
        [[ -z $(errs "$t")$(errs "$q")$(errs "$e1")$(errs "$e2")$(errs "$es")$(errs "$lb") ]] ||
            lerr=yes
        t50+=("$(kv p50_us "$t")") t99+=("$(kv p99_us "$t")")
        c50+=("$(kv p50_us "$q")") c99+=("$(kv p99_us "$q")")
        g50+=("$(kv gfi_p50_us "$q")") d50+=("$(kv doget_p50_us "$q")")
        e50+=("$(kv p50_us "$e1")") e99+=("$(kv p99_us "$e1")")
        x50+=("$(kv p50_us "$e2")") x99+=("$(kv p99_us "$e2")")
        b50+=("$(kv p50_us "$lb")") b99+=("$(kv p99_us "$lb")")
        k50+=("$(kv p50_us "$dk")") s50+=("$(kv p50_us "$es")")
    done
    local hwm_after ehwm
    hwm_after=$(status_kb "$CLOVED_PID" VmHWM)
    ehwm=$(status_kb "$GECHO_PID" VmHWM)
    cleanup

    # -- DuckDB's own cost of the answer in-process: the streaming scan alone, and with
    # duckdb_data_chunk_to_arrow per chunk (what Flight sent before it gathered batches)
    local pk
    say "  DuckDB in-process (duck_peer scan: the same Parquet loaded into a table; $ROUNDS runs each, medians):"
    pk=$("$OUT/duck_peer" scan --parquet "$FLIGHT_POD/data/t.parquet" --runs "$ROUNDS")
    say "    streaming scan $(kv scan_sec "$pk") s ($(kv scan_mrows_s "$pk") Mrows/s); scan + Arrow conversion $(kv arrow_sec "$pk") s ($(kv arrow_mrows_s "$pk") Mrows/s); VmHWM $(mb "$(kv hwm_kb "$pk")") MB"

    # -- the same answer as HTTP JSON, in a fresh cloved so that its VmHWM is its own
    local b jbytes jrows jmbs jsec jhwm
    start_cloved "$FLIGHT_POD" "$LOGS/flight-json-cloved.log"
    say "  the same answer over HTTP JSON (httpc big, fresh cloved pid $CLOVED_PID):"
    if ! b=$("$OUT/httpc" big --port "$CLOVED_PORT" --sql "$FLIGHT_SQL" --pid "$CLOVED_PID"); then
        say "  the JSON query failed: $b"
        jbytes=nan jrows=nan jmbs=nan jsec=nan jhwm=nan
    else
        jbytes=$(kv bytes "$b") jrows=$(kv rows "$b") jmbs=$(kv mb_s "$b") jsec=$(kv sec "$b")
        jhwm=$(status_kb "$CLOVED_PID" VmHWM)
        say "    $jbytes bytes, $jrows rows, $jsec s (first byte after $(kv ttfb_ms "$b") ms): $jmbs MB/s, $(calc "$jrows / $jsec / 1e6") Mrows/s; cloved VmHWM $(mb "$jhwm") MB"
    fi
    cleanup

    local fmbs c50m c99m e50m e99m x50m x99m t50m t99m k50m o50 o99
    fmbs=$(calc "$fgbs * 1000")
    say "  => DoGet: $fbytes bytes of Arrow IPC ($(calc "$fbytes / $jbytes") x the JSON's size), median $fgbs GB/s = $fmbs MB/s vs JSON $jmbs MB/s: $(calc "$fmbs / $jmbs") x (target >= 1 GB/s)"
    say "  => cloved VmHWM: $(mb "$fhwm") MB after the DoGet runs ($(mb "$hwm_after") MB after the latency rounds), $(mb "$jhwm") MB serving the JSON; grpc_echo_server $(mb "$ehwm") MB"
    row flight "DoGet GB/s (IPC header+body, 1e9 B)" "$fgbs GB/s ($(calc "$fbytes / 1e6") MB, $fsec s)" \
        "http json $jmbs MB/s ($(calc "$jbytes / 1e6") MB)" "$(calc "$fmbs / $jmbs")" ">= 1 GB/s" \
        "$(met ge "$fgbs" 1)$fwarn"
    row flight "rows/s" "$(calc "$FLIGHT_ROWS / $fsec / 1e6") M" "http json $(calc "$jrows / $jsec / 1e6") M" \
        "$(calc "($FLIGHT_ROWS / $fsec) / ($jrows / $jsec)")" "-" "-"
    row flight "rows/s, C client library (decodes)" "$lmrs M" "flightc $(calc "$FLIGHT_ROWS / $fsec / 1e6") M" \
        "$(calc "$lmrs / ($FLIGHT_ROWS / $fsec / 1e6)")" "-" "-"
    row flight "rows/s, DuckDB in-process scan" "$(calc "$FLIGHT_ROWS / $fsec / 1e6") M" \
        "scan $(kv scan_mrows_s "$pk") M; +Arrow $(kv arrow_mrows_s "$pk") M" \
        "$(calc "($FLIGHT_ROWS / $fsec / 1e6) / $(kv scan_mrows_s "$pk")")" "-" "-"
    row flight "cloved peak RSS (VmHWM)" "$(mb "$fhwm") MB" "http json $(mb "$jhwm") MB" \
        "$(calc "$fhwm / $jhwm")" "-" "-"
    t50m=$(med "${t50[@]}") t99m=$(med "${t99[@]}") k50m=$(med "${k50[@]}")
    c50m=$(med "${c50[@]}") c99m=$(med "${c99[@]}") e50m=$(med "${e50[@]}") e99m=$(med "${e99[@]}")
    x50m=$(med "${x50[@]}") x99m=$(med "${x99[@]}")
    o50=$(calc "$t50m / $e50m") o99=$(calc "$t99m / $e99m")
    local s50m
    s50m=$(med "${s50[@]}")
    say "  => SELECT 1 as one DoGet: p50 $t50m us, echo $e50m us: $o50 x (target <= 1.3); DuckDB alone (in-process, no network) p50 $k50m us, so the floor is (echo + DuckDB) / echo = $(calc "($e50m + $k50m) / $e50m"); a DoGet answers two messages (Schema, batch), which gRPC core writes in two writes: the echo of that shape takes $s50m us, floor (shape echo + DuckDB) / echo = $(calc "($s50m + $k50m) / $e50m")"
    say "  => SELECT 1 the Flight SQL way: p50 $c50m us (GetFlightInfo $(med "${g50[@]}") + DoGet $(med "${d50[@]}")), 2 echoes $x50m us: $(calc "$c50m / $x50m") x; p99 $c99m us vs $x99m us"
    say "  => through the client library (GetFlightInfo + DoGet, decoding): p50 $(med "${b50[@]}") us, p99 $(med "${b99[@]}") us"
    row flight "SELECT 1 p50, one DoGet (ticket)" "$t50m us" "grpc echo $e50m us; duckdb $k50m us" "$o50" \
        "<= 1.3" "$(met le "$o50" 1.3)${lerr:+ (errors)}"
    row flight "SELECT 1 p99, one DoGet (ticket)" "$t99m us" "grpc echo $e99m us" "$o99" "-" "-"
    row flight "SELECT 1 p50 floor: echo of DoGet shape + DuckDB" "$t50m us" \
        "echo shape $s50m + duckdb $k50m us" "$(calc "$t50m / ($s50m + $k50m)")" "-" "-"
    row flight "SELECT 1 p50, GetFlightInfo+DoGet" "$c50m us" "grpc echo x2 $x50m us" \
        "$(calc "$c50m / $x50m")" "-" "-"
    row flight "SELECT 1 p50, C client library" "$(med "${b50[@]}") us (p99 $(med "${b99[@]}"))" \
        "grpc echo x2 $x50m us" "$(calc "$(med "${b50[@]}") / $x50m")" "-" "-"
}

# ---- PostgreSQL ---------------------------------------------------------------------------

# A private PostgreSQL 15 cluster in $OUT/pg (kept between runs with its table; its logs are
# there too), run as the
# postgres user when we are root, on a free loopback port; stopped by cleanup.
PG_DIR=$OUT/pg
PG_PASS_VALUE=bench-pg-password
as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

pg_start() {
    mkdir -p "$PG_DIR/sock"
    if [[ $(id -u) == 0 ]]; then chown postgres: "$PG_DIR" "$PG_DIR/sock"; fi
    if [[ ! -s $PG_DIR/data/PG_VERSION ]]; then
        as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth-local=trust \
            --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1
        printf "listen_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\nfsync = off\nsynchronous_commit = off\nshared_buffers = 256MB\n" \
            "$PG_DIR/sock" >>"$PG_DIR/data/postgresql.conf"
    fi
    PG_PORT=$("$OUT/httpc" freeport 1)
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t 60 \
        -o "-p $PG_PORT" start >/dev/null
    PG_RUNNING=1
    pg_sql postgres "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench')
        THEN CREATE ROLE bench LOGIN PASSWORD '$PG_PASS_VALUE'; END IF; END \$\$;" >/dev/null
    if [[ -z $(pg_sql postgres "SELECT 1 FROM pg_database WHERE datname = 'bench'") ]]; then
        pg_sql postgres "CREATE DATABASE bench OWNER bench" >/dev/null
    fi
}

pg_stop() {
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
    PG_RUNNING=
}

pg_sql() { # DB SQL: runs SQL as the superuser over the private socket
    as_pg psql -X -q -A -t -v ON_ERROR_STOP=1 -h "$PG_DIR/sock" -p "$PG_PORT" -U postgres \
        -d "$1" -c "$2"
}

# The benchmark table t: $PG_ROWS rows like the refresh table, with a primary key.
pg_prepare_table() {
    if [[ $(pg_sql bench "SELECT count(*) FROM t" 2>/dev/null || true) != "$PG_ROWS" ]]; then
        say "  writing table t ($PG_ROWS rows, once)"
        pg_sql bench "SET client_min_messages = warning; DROP TABLE IF EXISTS t; CREATE TABLE t AS SELECT i::bigint AS id,
            (i * 0.25)::float8 AS amount, 'name ' || i AS name,
            timestamp '2024-01-01' + i * interval '1 second' AS ts, (i % 100)::int AS category
            FROM generate_series(0, $PG_ROWS - 1) i; ALTER TABLE t ADD PRIMARY KEY (id);
            ALTER TABLE t OWNER TO bench" >/dev/null
        pg_sql bench "VACUUM ANALYZE t" >/dev/null
    fi
}

pg_pod() { # NAME EXTRA-YAML: a spicepod reading postgres:t
    printf 'version: v1\nkind: Spicepod\nname: %s\ndatasets:\n  - from: postgres:t\n    name: t\n    params:\n      pg_host: 127.0.0.1\n      pg_port: "%s"\n      pg_db: bench\n      pg_user: bench\n      pg_pass: ${secrets:PG_PASS}\n      pg_sslmode: disable\n%s' \
        "$1" "$PG_PORT" "$2"
}

bench_pgrefresh() {
    section "pgrefresh: full refresh of a $PG_ROWS-row PostgreSQL table vs psql \\copy to /dev/null (median of $ROUNDS)"
    local dir=$OUT/pgrefresh log=$LOGS/pgrefresh-cloved.log r t0 t1 cms=() pms=() warn=
    pg_start
    pg_prepare_table
    mkdir -p "$dir"
    rm -rf "$dir/.clove"
    pg_pod bench_pgrefresh "    acceleration:\n      enabled: true\n" | sed 's/\\n/\n/g' \
        >"$dir/spicepod.yaml"
    export PG_PASS=$PG_PASS_VALUE
    start_cloved "$dir" "$log" --metrics
    say "  cloved pid $CLOVED_PID, initial load $(log_ms "$log" loaded) ms"
    for ((r = 1; r <= ROUNDS; r++)); do
        refresh_now
        t0=$(date +%s%N)
        PGPASSWORD=$PG_PASS_VALUE psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U bench -d bench \
            -c "\\copy (SELECT * FROM t) TO '/dev/null'"
        t1=$(date +%s%N)
        local pm
        pm=$(calc "($t1 - $t0) / 1e6")
        say "  round $r: cloved refresh $(kv refresh_ms "$RF") ms ($(kv loaded "$RF") rows loaded, $(kv held "$RF") held) | psql \\copy $pm ms"
        [[ $(kv loaded "$RF") == "$PG_ROWS" ]] || warn=" (rows!)"
        cms+=("$(kv refresh_ms "$RF")") pms+=("$pm")
    done
    local hwm cm pm crs prs ratio
    hwm=$(status_kb "$CLOVED_PID" VmHWM)
    cleanup
    cm=$(med "${cms[@]}") pm=$(med "${pms[@]}")
    crs=$(calc "$PG_ROWS / ($cm / 1000) / 1e6") prs=$(calc "$PG_ROWS / ($pm / 1000) / 1e6")
    ratio=$(calc "$pm / $cm")
    say "  => cloved $cm ms = $crs Mrows/s, psql \\copy $pm ms = $prs Mrows/s: ratio $ratio (target >= 0.7); cloved VmHWM $(mb "$hwm") MB"
    row pgrefresh "full refresh rows/s, postgres -> arrow" "$crs M/s ($cm ms)" \
        "psql \\copy $prs M/s ($pm ms)" "$ratio" ">= 0.7" "$(met ge "$ratio" 0.7)$warn"
    row pgrefresh "peak RSS (VmHWM)" "$(mb "$hwm") MB" "-" "-" "-" "-"
}

bench_pgpoint() {
    section "pgpoint: federated point query on a $PG_ROWS-row PostgreSQL table vs the prepared query through libpq (median of $ROUNDS)"
    local dir=$OUT/pgpoint log=$LOGS/pgpoint-cloved.log r c p o e err=
    local cs=() ps=() os=() es=() c99=() p99=() o99=() e99=()
    local sql='SELECT * FROM t WHERE id = $1'
    pg_start
    pg_prepare_table
    mkdir -p "$dir"
    pg_pod bench_pgpoint "" >"$dir/spicepod.yaml"
    export PG_PASS=$PG_PASS_VALUE
    start_cloved "$dir" "$log"
    if ! c=$("$OUT/httpc" once --port "$CLOVED_PORT" --sql "$sql" --param-range "$PG_ROWS" \
             --check-id); then
        say "  the point query failed: $c"
        return 1
    fi
    start_echo
    say "  cloved pid $CLOVED_PID on 127.0.0.1:$CLOVED_PORT; echo_server pid $ECHO_PID on 127.0.0.1:$ECHO_PORT"
    # the floor, in the same rounds: SELECT 1 over HTTP to the same cloved (HTTP, the engine's
    # least work) and the bare HTTP echo with the point query's request
    export PG_PEER_CONNINFO="host=127.0.0.1 port=$PG_PORT dbname=bench user=bench password=$PG_PASS_VALUE sslmode=disable"
    for ((r = 1; r <= ROUNDS; r++)); do
        c=$("$OUT/httpc" lat --port "$CLOVED_PORT" --sql "$sql" --param-range "$PG_ROWS" \
            --check-id --n "$PG_POINT_N" --warmup 200 --max-sec 60 --seed "$r")
        p=$("$OUT/pg_peer" point --conninfo - --sql "$sql" --range "$PG_ROWS" --n "$PG_POINT_N" \
            --seed "$r")
        o=$("$OUT/httpc" lat --port "$CLOVED_PORT" --sql "SELECT 1" --n "$PG_POINT_N" \
            --warmup 200 --max-sec 60 --seed "$r")
        e=$("$OUT/httpc" lat --port "$ECHO_PORT" --sql "$sql" --param-range "$PG_ROWS" \
            --n "$PG_POINT_N" --warmup 200 --max-sec 60 --seed "$r")
        say "  round $r: cloved (HTTP) p50 $(kv p50_us "$c") p99 $(kv p99_us "$c") us $(errs "$c")| libpq prepared p50 $(kv p50_us "$p") p99 $(kv p99_us "$p") us | cloved SELECT 1 p50 $(kv p50_us "$o") p99 $(kv p99_us "$o") us $(errs "$o")| echo p50 $(kv p50_us "$e") p99 $(kv p99_us "$e") us"
        [[ -z $(errs "$c")$(errs "$o") ]] || err=" (errors)"
        cs+=("$(kv p50_us "$c")") c99+=("$(kv p99_us "$c")")
        ps+=("$(kv p50_us "$p")") p99+=("$(kv p99_us "$p")")
        os+=("$(kv p50_us "$o")") o99+=("$(kv p99_us "$o")")
        es+=("$(kv p50_us "$e")") e99+=("$(kv p99_us "$e")")
    done
    local hwm cm pm c9 p9 om o9 em e9 own
    hwm=$(status_kb "$CLOVED_PID" VmHWM)
    cleanup
    cm=$(med "${cs[@]}") pm=$(med "${ps[@]}") c9=$(med "${c99[@]}") p9=$(med "${p99[@]}")
    om=$(med "${os[@]}") o9=$(med "${o99[@]}") em=$(med "${es[@]}") e9=$(med "${e99[@]}")
    own=$(calc "$cm - $om - $pm")
    say "  => p50 cloved $cm us vs libpq $pm us: ratio $(calc "$cm / $pm") (target <= 1.5); p99 $c9 vs $p9 us: $(calc "$c9 / $p9"); cloved VmHWM $(mb "$hwm") MB"
    say "  => floor: cloved SELECT 1 p50 $om us (echo $em us: the engine's least work costs $(calc "$om - $em") us), so HTTP + libpq = $(calc "$om + $pm") us = $(calc "($om + $pm) / $pm") x libpq; what the point query adds on top: cloved - SELECT 1 - libpq = $own us"
    row pgpoint "point query p50 (HTTP)" "$cm us" "libpq prepared $pm us" \
        "$(calc "$cm / $pm")" "<= 1.5" "$(met le "$(calc "$cm / $pm")" 1.5)$err"
    row pgpoint "point query p99 (HTTP)" "$c9 us" "libpq prepared $p9 us" \
        "$(calc "$c9 / $p9")" "-" "-"
    row pgpoint "floor: SELECT 1 p50 (HTTP)" "$om us (p99 $o9)" "echo $em us (p99 $e9)" \
        "$(calc "$om / $em")" "-" "-"
    row pgpoint "clove's own: point - SELECT 1 - libpq" "$own us" "floor (SELECT 1 + libpq) $(calc "$om + $pm") us" \
        "$(calc "$cm / ($om + $pm)")" "-" "-"
}

# ---- main ---------------------------------------------------------------------------------

print_summary() {
    section "summary ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), cloved from $BIN)"
    {
        echo "BENCH|METRIC|CLOVE|PEER (same run)|RATIO|TARGET|MET"
        cat "$SUMMARY"
    } | awk -F'|' '
        { for (i = 1; i <= NF; i++) { cell[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) }
          if (NF > nf) nf = NF }
        END { for (r = 1; r <= NR; r++) {
                line = ""
                for (i = 1; i <= nf; i++) line = line sprintf("%-" w[i] "s  ", cell[r, i])
                sub(/ +$/, "", line); print line } }'
    say "ratios: point p50/p99 = (cloved - duckdb) / echo; req/s = cloved / echo; refresh = cloved rows/s / duckdb rows/s;"
    say "        append = append ms / full refresh ms (same cloved); refreshload = p99 refreshing / p99 idle; others = cloved / peer"
}

main() {
    local names=("$@") n failed=()
    [[ ${#names[@]} -gt 0 ]] || names=("${ALL[@]}")
    for n in "${names[@]}"; do
        case $n in
        point | startup | bigjson | refresh | append | refreshload | flight | s3refresh | \
            pgrefresh | pgpoint) ;;
        *) say "run.sh: unknown benchmark \"$n\" (known: ${ALL[*]})" >&2; exit 2 ;;
        esac
    done
    for f in cloved clove-example-data; do
        if [[ ! -x $BIN/$f ]]; then
            say "run.sh: $BIN/$f not found: build first (make build) or set CLOVE_BIN_DIR" >&2
            exit 2
        fi
    done
    build_all
    : >"$SUMMARY"
    # Ctrl-C reaches the whole process group: the benchmark's subshell stops its servers and
    # exits, then this shell sees the flag and stops too.
    INTERRUPTED=
    trap 'INTERRUPTED=1' INT TERM
    for n in "${names[@]}"; do
        # each benchmark in its own subshell with errexit on: a failure ends that benchmark
        # (its EXIT trap stops the servers it started) and the next one still runs
        set +e
        local t0=$SECONDS
        (
            set -e
            trap cleanup EXIT
            trap 'exit 130' INT TERM
            "bench_$n"
        )
        local rc=$?
        set -e
        say "  ($n took $((SECONDS - t0)) s)"
        if [[ -n $INTERRUPTED || $rc -eq 130 ]]; then
            say "run.sh: interrupted" >&2
            exit 130
        fi
        [[ $rc -eq 0 ]] || failed+=("$n")
    done
    print_summary
    if [[ ${#failed[@]} -gt 0 ]]; then
        say "failed: ${failed[*]} (see the output above and $LOGS/)"
        exit 1
    fi
}

main "$@"
