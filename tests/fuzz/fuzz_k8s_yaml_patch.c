/*
 * fuzz_k8s_yaml_patch.c — the YAML tree (k8s/ydoc) and the injection patch
 * path of `weft inject` on arbitrary bytes. Properties (abort() on
 * violation): no crash or leak; a parse failure has a message; emitting
 * what parsed either works or fails with a message, and what it writes
 * parses back to the same JSON view; for every document with a pod spec,
 * inject then uninject (both applied to the tree) gives back the same
 * JSON view (null, empty maps and empty lists count as absent, as they
 * do to the API server).
 */
#include "k8s/inject.h"
#include "k8s/ydoc.h"

#include <stdio.h>
#include <stdlib.h>

static void wf_fuzz_check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_k8s_yaml_patch: property violated: %s\n", what);
        abort();
    }
}

/* Drops null members, and members that are (or become) empty maps or
 * lists: to the API server those and an absent field are the same, and
 * inject/uninject may turn one into the other (an uninjected pod loses
 * the initContainers: [] it had before weft-init was added to it). */
static void normalise(json_t *j)
{
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        void *tmp;
        json_object_foreach_safe(j, tmp, k, v)
        {
            normalise(v);
            if (json_is_null(v) || (json_is_object(v) && json_object_size(v) == 0) ||
                (json_is_array(v) && json_array_size(v) == 0))
                json_object_del(j, k);
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
        {
            normalise(v);
        }
    }
}

static json_t *view(const wf_ydocs_t *d)
{
    json_t *a = json_array();
    for (size_t i = 0; i < d->n; i++)
        json_array_append_new(a, wf_ynode_to_json(d->docs[i]));
    return a;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wf_ydocs_t d;
    char err[300];
    memset(err, 'x', sizeof(err));
    if (wf_ydoc_parse((const char *)data, size, &d, err, sizeof(err)) != 0) {
        wf_fuzz_check(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0', "a message");
        return 0;
    }
    json_t *before = view(&d);
    wf_sbuf_t out = {0};
    if (wf_ydoc_emit(&d, &out, err, sizeof(err)) == 0) {
        wf_ydocs_t again;
        wf_fuzz_check(wf_ydoc_parse(out.ptr ? out.ptr : "", out.len, &again, err, sizeof(err)) == 0,
                      "emitted YAML parses");
        json_t *after = view(&again);
        wf_fuzz_check(json_equal(before, after), "emit/parse keeps the JSON view");
        json_decref(after);
        wf_ydocs_free(&again);
    }
    wf_sbuf_free(&out);
    wf_inject_cfg_t cfg;
    wf_inject_cfg_defaults(&cfg);
    cfg.force = true;
    for (size_t i = 0; i < d.n; i++) {
        json_t *orig = wf_ynode_to_json(d.docs[i]);
        wf_inject_result_t r;
        if (wf_inject_pod(&cfg, orig, "fuzz", NULL, "", &r) == 0) {
            if (r.outcome == WF_INJECT_INJECTED) {
                wf_fuzz_check(wf_ynode_patch(&d.docs[i], r.patch, err, sizeof(err)) == 0,
                              "the injection patch applies");
                json_t *inj = wf_ynode_to_json(d.docs[i]);
                wf_inject_result_t u;
                wf_fuzz_check(wf_uninject_pod(inj, "", &u) == 0 && u.outcome == WF_INJECT_INJECTED,
                              "an injected pod can be uninjected");
                wf_fuzz_check(wf_ynode_patch(&d.docs[i], u.patch, err, sizeof(err)) == 0,
                              "the uninjection patch applies");
                json_t *back = wf_ynode_to_json(d.docs[i]);
                json_t *o2 = json_deep_copy(orig);
                normalise(back);
                normalise(o2);
                wf_fuzz_check(json_equal(back, o2), "uninject(inject(x)) == x");
                json_decref(o2);
                json_decref(back);
                json_decref(inj);
                wf_inject_result_free(&u);
            }
            wf_inject_result_free(&r);
        }
        json_decref(orig);
    }
    json_decref(before);
    wf_ydocs_free(&d);
    return 0;
}
