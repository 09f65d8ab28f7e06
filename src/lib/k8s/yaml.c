/*
 * yaml.c — YAML to jansson with libyaml's event parser (see yaml.h).
 */
#include "k8s/yaml.h"

#include <stdio.h>
#include <stdlib.h>
#include <yaml.h>

#define YAML_MAX_DEPTH 64
#define YAML_MAX_FILE (4u * 1024 * 1024)

typedef struct frame {
    json_t *node; /* borrowed from its parent (the root is owned by the caller) */
    char *key;    /* owned: a mapping's pending key */
} frame_t;

/* Adds v (reference stolen) to the container on top of the stack, or makes
 * it the root. Returns false on a structural error. */
static bool attach(frame_t *st, int depth, json_t **root, json_t *v, const char *scalar)
{
    if (depth == 0) {
        if (*root != NULL) {
            json_decref(v);
            return false;
        }
        *root = v;
        return true;
    }
    frame_t *f = &st[depth - 1];
    if (json_is_array(f->node))
        return json_array_append_new(f->node, v) == 0;
    if (f->key == NULL) { /* v is a key: only scalars may be keys */
        json_decref(v);
        if (scalar == NULL)
            return false;
        f->key = strdup(scalar);
        return f->key != NULL;
    }
    int rc = json_object_set_new(f->node, f->key, v);
    free(f->key);
    f->key = NULL;
    return rc == 0;
}

json_t *wf_yaml_load(const char *data, size_t len, char *err, size_t errlen)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
    frame_t st[YAML_MAX_DEPTH];
    int depth = 0;
    json_t *root = NULL;
    bool done = false, ok = true;
    while (!done && ok) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            snprintf(err, errlen, "YAML error at line %zu: %s", p.problem_mark.line + 1,
                     p.problem != NULL ? p.problem : "malformed");
            ok = false;
            break;
        }
        switch (ev.type) {
        case YAML_SCALAR_EVENT: {
            const char *s = (const char *)ev.data.scalar.value;
            json_t *v = json_stringn(s, ev.data.scalar.length);
            /* A plain "null"/"~" value (not a key) reads as absent. */
            bool is_null = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                           (strcmp(s, "null") == 0 || strcmp(s, "~") == 0 || s[0] == '\0');
            if (depth > 0 && json_is_object(st[depth - 1].node) && st[depth - 1].key != NULL &&
                is_null) {
                json_decref(v);
                v = json_null();
            }
            if (v == NULL || !attach(st, depth, &root, v, s)) {
                snprintf(err, errlen, "YAML structure error at line %zu",
                         ev.start_mark.line + 1);
                ok = false;
            }
            break;
        }
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
            json_t *v = ev.type == YAML_SEQUENCE_START_EVENT ? json_array() : json_object();
            if (depth == YAML_MAX_DEPTH) {
                json_decref(v);
                snprintf(err, errlen, "YAML nested deeper than %d levels", YAML_MAX_DEPTH);
                ok = false;
                break;
            }
            json_incref(v); /* one for the parent (or root), one for the stack */
            if (v == NULL || !attach(st, depth, &root, v, NULL)) {
                json_decref(v);
                snprintf(err, errlen, "YAML structure error at line %zu",
                         ev.start_mark.line + 1);
                ok = false;
                break;
            }
            st[depth].node = v;
            st[depth].key = NULL;
            depth++;
            break;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            free(st[depth].key);
            json_decref(st[depth].node);
            break;
        case YAML_ALIAS_EVENT:
            snprintf(err, errlen, "YAML aliases are not supported (line %zu)",
                     ev.start_mark.line + 1);
            ok = false;
            break;
        case YAML_DOCUMENT_END_EVENT:
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    while (depth > 0) {
        depth--;
        free(st[depth].key);
        json_decref(st[depth].node);
    }
    yaml_parser_delete(&p);
    if (!ok) {
        json_decref(root);
        return NULL;
    }
    if (root == NULL)
        snprintf(err, errlen, "empty YAML document");
    return root;
}

json_t *wf_yaml_load_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(YAML_MAX_FILE + 1);
    size_t n = buf != NULL ? fread(buf, 1, YAML_MAX_FILE + 1, f) : 0;
    fclose(f);
    if (buf == NULL || n > YAML_MAX_FILE) {
        free(buf);
        snprintf(err, errlen, "%s: %s", path, buf == NULL ? "out of memory" : "larger than 4 MiB");
        return NULL;
    }
    char e[200];
    json_t *j = wf_yaml_load(buf, n, e, sizeof(e));
    free(buf);
    if (j == NULL)
        snprintf(err, errlen, "%s: %s", path, e);
    return j;
}
