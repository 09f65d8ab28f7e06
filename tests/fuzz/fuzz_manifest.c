/*
 * fuzz_manifest.c — local mode's manifest reader (src/cli/local_yaml.c,
 * local_obj.c): YAML documents -> checked Kubernetes objects.
 *
 * Properties (abort() on violation):
 *  - never crashes, leaks or runs unbounded (alias expansion is capped);
 *  - every problem is reported with a non-empty location and message;
 *  - every object kept passes wf_lm_object_check again (checking is
 *    idempotent) and has a store key;
 *  - kept objects survive a JSON round trip unchanged (what the store writes).
 */
#include "../../src/cli/local_obj.c"
#include "../../src/cli/local_yaml.c"

#include <stdio.h>
#include <stdlib.h>

static void wf_fuzz_check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_manifest: property violated: %s\n", what);
        abort();
    }
}

static void wf_fuzz_report(void *ctx, const char *where, const char *msg)
{
    (*(int *)ctx)++;
    wf_fuzz_check(where != NULL && *where != '\0', "report names a place");
    wf_fuzz_check(msg != NULL && *msg != '\0', "report has a message");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *out = json_array();
    int reported = 0;
    int problems =
        wf_lm_load_buf("fuzz.yaml", (const char *)data, size, out, wf_fuzz_report, &reported);
    wf_fuzz_check(problems == reported, "problem count equals reports");
    size_t i;
    json_t *obj;
    json_array_foreach (out, i, obj) {
        char err[512], key[600];
        wf_fuzz_check(wf_lm_object_check(obj, err, sizeof(err)) == 0, "kept objects re-check");
        wf_lm_key(obj, key, sizeof(key));
        wf_fuzz_check(key[0] != '\0' && strstr(key, "//") == NULL, "key has every part");
        char *s = json_dumps(obj, JSON_COMPACT | JSON_ENCODE_ANY);
        wf_fuzz_check(s != NULL, "object encodes");
        json_t *back = json_loads(s, JSON_DECODE_ANY, NULL);
        wf_fuzz_check(back != NULL && json_equal(back, obj), "JSON round trip");
        json_decref(back);
        free(s);
    }
    json_decref(out);
    return 0;
}
