/*
 * fuzz_k8s_yaml.c — the YAML loader (k8s/yaml.h, used for kubeconfigs) on
 * arbitrary bytes. Properties (abort() on violation): it never crashes or
 * leaks; a failure returns NULL with a NUL-terminated message; a success is
 * a JSON value that jansson can serialise and read back equal.
 */
#include "k8s/yaml.h"

#include <stdio.h>
#include <stdlib.h>

static void wf_fuzz_check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_k8s_yaml: property violated: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    memset(err, 'x', sizeof(err));
    json_t *j = wf_yaml_load((const char *)data, size, err, sizeof(err));
    if (j == NULL) {
        wf_fuzz_check(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0', "a message");
        return 0;
    }
    char *text = json_dumps(j, JSON_ENCODE_ANY);
    wf_fuzz_check(text != NULL, "serialisable");
    json_error_t je;
    json_t *back = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    wf_fuzz_check(back != NULL && json_equal(j, back), "round trip");
    json_decref(back);
    free(text);
    json_decref(j);
    return 0;
}
